// The dataset keys LLaMA-Factory configs use for mixing and held-out data, and config files that
// are not training configs (DeepSpeed JSON, accelerate, merge, inference) named for what they are.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "./load.ts";
import { validateConfig } from "./validate.ts";
import { datasetOptions } from "../data/options.ts";
import { WhetError } from "../errors.ts";

const dir = mkdtempSync(join(tmpdir(), "whet-dataset-keys-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function write(text: string, ext = "yaml"): string {
  const file = join(dir, `run${n++}.${ext}`);
  writeFileSync(file, text);
  return file;
}

function errorLines(file: string): string[] {
  try {
    loadConfig(file);
  } catch (e) {
    assert.ok(e instanceof WhetError, String(e));
    return e.message.split("\n");
  }
  assert.fail("the config loaded");
}

const BASE = "model_name_or_path: org/model\ndataset: identity,alpaca_en_demo\nmax_steps: 10\n";

test("mix_strategy, interleave_probs and val_size load as LLaMA-Factory writes them and reach the data options", () => {
  const { config, warnings } = loadConfig(write(`${BASE}mix_strategy: interleave_over\ninterleave_probs: 0.7,0.3\nval_size: 0.1\nseed: 3\n`));
  assert.deepEqual(warnings, []);
  const o = datasetOptions(config);
  assert.deepEqual([o.mixStrategy, o.interleaveProbs, o.valSize, o.seed], ["interleave_over", [0.7, 0.3], 0.1, 3]);
  assert.deepEqual(o.datasets, ["identity", "alpaca_en_demo"]);
  const spaced = loadConfig(write(`${BASE}mix_strategy: interleave_under\ninterleave_probs: 1, 3\nval_size: 100\n`)).config;
  assert.deepEqual([datasetOptions(spaced).interleaveProbs, spaced.val_size], [[1, 3], 100]);
  const one = loadConfig(write("model_name_or_path: m\ndataset: identity\nmax_steps: 1\nmix_strategy: interleave_under\ninterleave_probs: 1\n")).config;
  assert.deepEqual(datasetOptions(one).interleaveProbs, [1]);
  const defaults = datasetOptions(loadConfig(write(BASE)).config);
  assert.deepEqual([defaults.mixStrategy, defaults.interleaveProbs, defaults.valSize, defaults.seed], ["concat", null, 0, 42]);
});

test("mixing keys that LLaMA-Factory would reject are errors with the line", () => {
  const concat = write(`${BASE}interleave_probs: 0.5,0.5\n`);
  assert.deepEqual(errorLines(concat), [`${concat}:4 interleave_probs: is only used when mixing by interleaving. Set mix_strategy: interleave_under (or interleave_over), or remove interleave_probs.`]);
  const count = write(`${BASE}mix_strategy: interleave_under\ninterleave_probs: 0.2,0.3,0.5\n`);
  assert.deepEqual(errorLines(count), [`${count}:5 interleave_probs: has 3 value(s) for 2 dataset(s). Give one probability per dataset in dataset, comma separated.`]);
  const zero = write(`${BASE}mix_strategy: interleave_under\ninterleave_probs: 0,0\n`);
  assert.match(errorLines(zero)[0]!, /interleave_probs: are all 0/);
  const text = write(`${BASE}mix_strategy: interleave_under\ninterleave_probs: half,half\n`);
  assert.deepEqual(errorLines(text), [`${text}:5 interleave_probs: is "half,half". Write one probability (a number, 0 or more) per dataset, comma separated, like 0.7,0.3.`]);
  const strategy = write(`${BASE}mix_strategy: interleave\n`);
  assert.match(errorLines(strategy)[0]!, /:4 mix_strategy: .*concat.*interleave_under.*interleave_over/);
  const val = write(`${BASE}val_size: 2.5\n`);
  assert.deepEqual(errorLines(val), [`${val}:4 val_size: is 2.5. Use a fraction below 1 (0.1 holds out 10%) or a whole number of samples (100).`]);
  assert.match(errorLines(write(`${BASE}val_size: -0.1\n`))[0]!, /val_size: /);
});

test("a file that is not a training config says what it is, in one line with its key", () => {
  const ds = write(JSON.stringify({ train_batch_size: "auto", zero_optimization: { stage: 3 } }, null, 2), "json");
  const lines = errorLines(ds);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, new RegExp(`^${ds.replace(/[.]/g, "\\.")}:3 zero_optimization: this is a DeepSpeed JSON config, not a training config\\. Name it from the training config with deepspeed: <this file>`));
  const acc = errorLines(write("compute_environment: LOCAL_MACHINE\ndistributed_type: FSDP\nnum_processes: 2\n"));
  assert.equal(acc.length, 1);
  assert.match(acc[0]!, /:1 compute_environment: this is an Accelerate launcher config .* num_processes is nproc/);
  const merge = errorLines(write("model_name_or_path: m\nadapter_name_or_path: a\ntemplate: qwen3\nexport_dir: out\n"));
  assert.deepEqual(merge.length, 1);
  assert.match(merge[0]!, /:4 export_dir: this is a LLaMA-Factory merge\/export config/);
  assert.match(errorLines(write("model_name_or_path: m\ninfer_backend: vllm\n"))[0]!, /:2 infer_backend: this is a LLaMA-Factory inference config/);
  // A training config with a LLaMA-Factory key of another command keeps the per-key messages.
  const mixed = validateConfig({ model_name_or_path: "m", dataset: "d", export_dir: "out" });
  assert.match(mixed.errors[0]!.message, /is a LLaMA-Factory export key/);
});
