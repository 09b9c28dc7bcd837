import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, loadConfigObject } from "./load.ts";
import { configPaths } from "./paths.ts";
import { WhetError } from "../errors.ts";

const dirs: string[] = [];
process.on("exit", () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Writes `text` as run.yaml in a fresh temp folder and returns its path. */
function write(text: string, name = "run.yaml"): string {
  const dir = mkdtempSync(join(tmpdir(), "whet-config-"));
  dirs.push(dir);
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

/** The rendered problems of the WhetError that loading throws. */
function problems(file: string, overrides: string[] = []): { code: string; lines: string[] } {
  try {
    loadConfig(file, overrides);
  } catch (e) {
    assert.ok(e instanceof WhetError, `not a WhetError: ${String(e)}`);
    return { code: e.code, lines: e.message.split("\n") };
  }
  assert.fail("the config loaded");
}

const BASE = "model_name_or_path: org/model\ndataset: alpaca\nmax_steps: 10\n";

test("a LoRA sft config loads with defaults filled in", () => {
  const file = write(`${BASE}stage: sft\nfinetuning_type: lora\nlora_rank: 16\nlearning_rate: 1.0e-4\nbf16: true\n`);
  const { config, warnings, source, configDir, given } = loadConfig(file);
  assert.deepEqual(warnings, []);
  assert.equal(config.stage, "sft");
  assert.equal(config.finetuning_type, "lora");
  assert.equal(config.lora_rank, 16);
  assert.equal(config.lora_alpha, 32, "alpha defaults to 2 × rank");
  assert.equal(config.lora_target, "all");
  assert.equal(config.learning_rate, 1e-4);
  assert.equal(config.packing, false, "sft does not pack by default");
  assert.equal(config.cutoff_len, 2048);
  assert.equal(config.per_device_train_batch_size, 8);
  assert.equal(config.lr_scheduler_type, "linear");
  assert.equal(config.logging_steps, 500);
  assert.equal(config.gradient_checkpointing, "auto");
  assert.equal(config.nproc, "auto");
  assert.equal(config.device, "auto");
  assert.equal(config.export_merge_lora, true);
  assert.equal(source.lines.get("lora_rank"), 6);
  assert.equal(configDir, join(file, ".."));
  assert.ok(given.has("bf16") && !given.has("fp16"));
});

test("a full config and a pt config load; pt packs by default", () => {
  const full = loadConfig(write(`${BASE}finetuning_type: full\nper_device_train_batch_size: 2\ndisable_gradient_checkpointing: true\n`));
  assert.equal(full.config.finetuning_type, "full");
  assert.equal(full.config.gradient_checkpointing, false, "LLaMA-Factory's disable_gradient_checkpointing maps over");
  assert.equal("disable_gradient_checkpointing" in full.config, false);
  const pt = loadConfig(write(`${BASE}stage: pt\ncutoff_len: 1024\n`));
  assert.equal(pt.config.stage, "pt");
  assert.equal(pt.config.packing, true);
  assert.equal(loadConfig(write(`${BASE}stage: pt\npacking: false\n`)).config.packing, false);
});

test("numbers written as text (PyYAML style) are accepted where numbers are expected", () => {
  const { config } = loadConfig(write(`${BASE}learning_rate: "1e-4"\nper_device_train_batch_size: "4"\nweight_decay: "0.01"\n`));
  assert.equal(config.learning_rate, 1e-4);
  assert.equal(config.per_device_train_batch_size, 4);
  assert.equal(config.weight_decay, 0.01);
});

test("null means the default; keys LLaMA-Factory has and whetstone ignores pass silently", () => {
  const { config, warnings } = loadConfig(write(`${BASE}template:\nreport_to: none\nplot_loss: true\nresume_from_checkpoint: null\nddp_timeout: 180000000\n`));
  assert.equal(config.template, undefined);
  assert.deepEqual(warnings, []);
});

test("unsupported keys are warnings with the line; off values are silent", () => {
  const file = write(`${BASE}fsdp: full_shard\neval_on_start: true\nflash_attn: auto\ndo_eval: false\n`);
  const { warnings } = loadConfig(file);
  assert.deepEqual(warnings.map((w) => `${w.where}: ${w.message}`), [
    `${file}:4 fsdp: is not supported yet; write sharding: zero2 or zero3 instead (FSDP2). Remove the key to silence this.`,
    `${file}:5 eval_on_start: is not supported yet; evaluation reports only the loss on the val_size split. Remove the key to silence this.`,
  ]);
});

test("broken YAML names the line", () => {
  const file = write("model_name_or_path: m\ndataset: d\nmax_steps: 3\ntemplate: \"llama3\nlearning_rate: 1\n");
  const p = problems(file);
  assert.equal(p.code, "CONFIG_PARSE");
  assert.deepEqual(p.lines, [`${file}:6: is not valid YAML (Missing closing "quote). Fix the indentation or quoting.`]);
  const indent = write("model_name_or_path: m\ndataset: d\n\tcutoff_len: 128\n");
  assert.deepEqual(problems(indent).lines, [`${indent}:3: is not valid YAML (Tabs are not allowed as indentation). Fix the indentation or quoting.`]);
});

test("an unknown key suggests the closest known key; only unknown keys give CONFIG_UNKNOWN_KEY", () => {
  const file = write(`${BASE}lerning_rate: 1.0e-4\nbanana_split: 3\n`);
  const p = problems(file);
  assert.equal(p.code, "CONFIG_UNKNOWN_KEY");
  assert.deepEqual(p.lines, [
    `${file}:4 lerning_rate: is not a known key. Did you mean learning_rate?`,
    `${file}:5 banana_split: is not a known key. Run 'whet train --help' for the list of keys.`,
  ]);
  assert.equal(problems(write(`${BASE}lerning_rate: 1\ncutoff_len: 0\n`)).code, "CONFIG_INVALID");
});

test("a wrong type, a bad enum and a bad number say what to write", () => {
  const file = write(`${BASE}per_device_train_batch_size: eight\nlr_scheduler_type: cosin\nlearning_rate: fast\nbf16: yes please\nmax_steps: 2.5\n`.replace("max_steps: 10\n", ""));
  const p = problems(file);
  assert.equal(p.code, "CONFIG_INVALID");
  assert.deepEqual(p.lines, [
    `${file}:3 per_device_train_batch_size: expected an integer, got "eight". Use a whole number like 8.`,
    `${file}:4 lr_scheduler_type: is "cosin", not one of linear, cosine, constant, constant_with_warmup. Did you mean cosine?`,
    `${file}:5 learning_rate: expected a number, got "fast". Use a number like 5e-5.`,
    `${file}:6 bf16: expected true or false, got "yes please". Use true or false.`,
    `${file}:7 max_steps: expected an integer, got 2.5. Use a whole number like 100.`,
  ]);
});

test("a missing required key says what to add", () => {
  const file = write("dataset: alpaca\nmax_steps: 10\n");
  assert.deepEqual(problems(file).lines, [`${file} model_name_or_path: is required. Add model_name_or_path: <local folder or hub id>.`]);
  const empty = write("# nothing yet\n");
  assert.deepEqual(problems(empty).lines, [
    `${empty} model_name_or_path: is required. Add model_name_or_path: <local folder or hub id>.`,
    `${empty} dataset: is required. Add dataset: <dataset name or data file>.`,
  ]);
});

test("bf16 with fp16, cutoff_len 0 and a bad enum are all reported at once", () => {
  const file = write(`${BASE}bf16: true\nfp16: true\ncutoff_len: 0\nstage: dpo\n`);
  assert.deepEqual(problems(file).lines, [
    `${file}:5 fp16: is true together with bf16. Keep bf16: true on GPUs that have bfloat16 (Ampere or newer), else fp16: true, not both.`,
    `${file}:6 cutoff_len: must be at least 1, got 0. Use a whole number like 2048.`,
    `${file}:7 stage: is dpo, which is not supported: whetstone trains pt and sft only. Use stage: sft with supervised data, or LLaMA-Factory for DPO.`,
  ]);
});

test("the top level must be a mapping", () => {
  const file = write("- model_name_or_path: m\n- dataset: d\n");
  const p = problems(file);
  assert.equal(p.code, "CONFIG_PARSE");
  assert.deepEqual(p.lines, [`${file}:1: is a list, not a mapping of keys to values. Write one key: value per line, like learning_rate: 1.0e-4.`]);
});

test("a missing file is FILE_NOT_FOUND naming the path", () => {
  const file = join(tmpdir(), "whet-no-such-dir", "run.yaml");
  const p = problems(file);
  assert.equal(p.code, "FILE_NOT_FOUND");
  assert.deepEqual(p.lines, [`${file}: does not exist. Check the path of the config file.`]);
});

test("command-line overrides win, are read as YAML scalars, and their errors name the command line", () => {
  const file = write(`${BASE}learning_rate: 1.0e-4\n`);
  const { config, given } = loadConfig(file, ["learning_rate=3e-4", "max_steps=20", "bf16=true", "template=llama3", "save_steps="]);
  assert.equal(config.learning_rate, 3e-4);
  assert.equal(config.max_steps, 20);
  assert.equal(config.bf16, true);
  assert.equal(config.template, "llama3");
  assert.equal(config.save_steps, 500, "an empty value means the default");
  assert.ok(given.has("bf16"));
  assert.deepEqual(problems(file, ["max_steps=ten", "lerning_rate=1", "bf16"]).lines, [
    `<command line> lerning_rate: is not a known key. Did you mean learning_rate?`,
    `<command line> max_steps: expected an integer, got "ten". Use a whole number like 100.`,
    `<command line> bf16: is not key=value. Write overrides as key=value, like max_steps=10.`,
  ]);
});

test("paths stay as written; configPaths resolves inputs against the config's folder, output_dir against the working folder", () => {
  const file = write(`${BASE.replace("org/model", "model")}dataset_dir: data\noutput_dir: ../out\n`);
  const dir = join(file, "..");
  mkdirSync(join(dir, "model"));
  const loaded = loadConfig(file);
  assert.equal(loaded.config.dataset_dir, "data");
  assert.deepEqual(configPaths(loaded.config, loaded.configDir), { datasetDir: join(dir, "data"), outputDir: join(process.cwd(), "..", "out"), model: join(dir, "model") });
  const hub = loadConfig(write(BASE));
  assert.deepEqual(configPaths(hub.config, hub.configDir), { datasetDir: join(hub.configDir, "data"), model: "org/model" });
});

test("an in-memory config loads under a label, with overrides", () => {
  const { config, source, configDir } = loadConfigObject({ model_name_or_path: "m", dataset: "d", max_steps: 5 }, "<quickstart>", { configDir: "/q", overrides: ["max_steps=7"] });
  assert.equal(config.max_steps, 7);
  assert.equal(source.file, "<quickstart>");
  assert.equal(configDir, "/q");
  assert.throws(
    () => loadConfigObject({ dataset: "d", max_steps: 5, cutoff_len: -3 }, "<quickstart>"),
    (e: unknown) =>
      e instanceof WhetError &&
      e.message === "<quickstart> model_name_or_path: is required. Add model_name_or_path: <local folder or hub id>.\n<quickstart> cutoff_len: must be at least 1, got -3. Use a whole number like 2048.",
  );
});
