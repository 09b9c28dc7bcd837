// LLaMA-Factory's own example files through the CLI, unchanged (read from ../shared, never copied
// into the repo): every train config resolves with `whet train --dry-run --json` to a RunSpec that
// holds the values the file gave; refused stages and non-train files exit 2 saying what to use.
// Overrides point the hub model ids at a tiny local model and dataset_dir at the shared demo data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO, SHARED, TOKENIZER, tempDir, tinyModel, whet } from "./helpers.ts";
import { loadConfig } from "../../src/config/load.ts";

const LF = join(SHARED, "llamafactory");
const EXAMPLES = join(LF, "examples");
const dir = tempDir("whet-lf-");
const env = { WHET_CACHE_DIR: join(dir, "cache") };
const chatml = tinyModel(dir);
const llama3 = tinyLlama3(join(dir, "llama3"));

/** The tiny model with Llama 3's header tokens added to the SmolLM2 tokenizer, so template: llama3 fits. */
function tinyLlama3(at: string): string {
  const model = tinyModel(at);
  const tj = JSON.parse(readFileSync(join(TOKENIZER, "tokenizer.json"), "utf8"));
  ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"].forEach((content, i) =>
    tj.added_tokens.push({ id: 49152 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }),
  );
  writeFileSync(join(model, "tokenizer.json"), JSON.stringify(tj));
  return model;
}

function configFiles(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? configFiles(join(d, e.name)) : /\.(ya?ml|json)$/.test(e.name) ? [join(d, e.name)] : []));
}

const TRAIN = ["train_lora/qwen3_lora_sft.yaml", "train_lora/qwen3_lora_pretrain.yaml", "train_lora/qwen3_preprocess.yaml", "train_lora/llama3_lora_sft.yaml", "train_lora/llama3_lora_pretrain.yaml", "train_full/llama3_full_sft.yaml"];
const REFUSED: Record<string, string> = {
  "train_lora/qwen3_lora_dpo.yaml": "dpo",
  "train_lora/llama3_lora_dpo.yaml": "dpo",
  "train_lora/qwen3_lora_kto.yaml": "kto",
  "train_lora/qwen3_lora_reward.yaml": "rm",
};
const NOT_TRAIN: Record<string, RegExp> = {
  "merge_lora/qwen3_lora_sft.yaml": /export_dir: .*whet export .*not available yet.*llamafactory-cli export/,
  "inference/qwen3_lora_sft.yaml": /infer_backend: .*inference.*whet chat is not available yet/,
  "accelerate/fsdp_config.yaml": /compute_environment: .*Accelerate launcher.*torchrun/,
};

/** DeepSpeed JSONs: named from a training config with deepspeed:, never trained on their own. */
const DEEPSPEED = ["ds_z0_config.json", "ds_z2_autotp_config.json", "ds_z2_config.json", "ds_z3_config.json", "ds_z3_fp8_config.json", "ds_z3_offload_config.json"].map((f) => `deepspeed/${f}`);

test("every YAML and JSON under examples/ is covered by this test", () => {
  const all = configFiles(EXAMPLES).map((f) => f.slice(EXAMPLES.length + 1)).sort();
  assert.deepEqual(all, [...TRAIN, ...Object.keys(REFUSED), ...Object.keys(NOT_TRAIN), ...DEEPSPEED].sort());
});

interface DryRun {
  spec: {
    model: { attn_implementation: string };
    method: { stage: string; finetuning_type: string; lora: { rank: number; targets: string[] } | null };
    data: { shard_dir: string; seq_len: number; packing: boolean; num_rows: number };
    train: { micro_batch_size: number; gradient_accumulation_steps: number; global_batch_rows: number; max_steps: number; steps_per_epoch: number; learning_rate: number; lr_scheduler_type: string; warmup_steps: number; logging_steps: number };
    precision: { compute_dtype: string };
    distributed: { strategy: string };
    checkpoint: { save_steps: number };
    eval: { shard_dir: string; num_rows: number; every_steps: number; micro_batch_size: number } | null;
  };
}

function dryRun(file: string, model: string) {
  return whet(["train", file, "--dry-run", "--json", `model_name_or_path=${model}`, "random_init=true", `dataset_dir=${LF}`, "device=cpu"], { cwd: dir, env });
}

function records(name: string): number {
  const file = join(LF, (JSON.parse(readFileSync(join(LF, "dataset_info.json"), "utf8")) as Record<string, { file_name: string }>)[name]!.file_name);
  const text = readFileSync(file, "utf8");
  return file.endsWith(".jsonl") ? text.split("\n").filter((l) => l.trim()).length : (JSON.parse(text) as unknown[]).length;
}

for (const name of TRAIN) {
  test(`whet train ${name} --dry-run resolves to the file's values`, { timeout: 120_000 }, async () => {
    const file = join(EXAMPLES, name);
    const lf = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    const r = await dryRun(file, String(lf.template ?? "").startsWith("llama3") ? llama3 : chatml);
    assert.equal(r.code, 0, r.stderr);
    const { spec } = JSON.parse(r.stdout) as DryRun;
    const t = spec.train;
    assert.equal(spec.method.stage, lf.stage);
    assert.equal(spec.method.finetuning_type, lf.finetuning_type);
    if (lf.finetuning_type === "lora") {
      assert.equal(spec.method.lora?.rank, lf.lora_rank);
      assert.deepEqual(spec.method.lora?.targets, lf.lora_target === "all" ? ["all-linear"] : String(lf.lora_target).split(","));
    } else assert.equal(spec.method.lora, null);
    assert.equal(spec.data.seq_len, lf.cutoff_len);
    assert.equal(spec.data.packing, lf.stage === "pt");
    // The preprocessing example gives no train section: whet's defaults (LLaMA-Factory's / HF's) apply.
    const given = (key: string, fallback: unknown) => lf[key] ?? fallback;
    assert.equal(t.learning_rate, Number(given("learning_rate", 5e-5)));
    assert.equal(t.lr_scheduler_type, given("lr_scheduler_type", "linear"));
    assert.equal(t.micro_batch_size, given("per_device_train_batch_size", 8));
    assert.equal(t.gradient_accumulation_steps, given("gradient_accumulation_steps", 1));
    assert.equal(t.global_batch_rows, t.micro_batch_size * t.gradient_accumulation_steps);
    assert.equal(t.steps_per_epoch, Math.floor(spec.data.num_rows / t.global_batch_rows));
    assert.equal(t.max_steps, Math.ceil(Number(lf.num_train_epochs ?? 3) * t.steps_per_epoch));
    if (lf.warmup_ratio !== undefined) assert.equal(t.warmup_steps, Math.ceil(Number(lf.warmup_ratio) * t.max_steps));
    if (lf.logging_steps !== undefined) assert.equal(t.logging_steps, lf.logging_steps);
    if (lf.save_steps !== undefined) assert.equal(spec.checkpoint.save_steps, lf.save_steps);
    // bf16 on the CPU: float32 compute, said in a warning.
    assert.equal(spec.precision.compute_dtype, "float32");
    if (lf.bf16 === true) assert.match(r.stderr, /warning: bf16: is ignored on the CPU; the run computes in float32\./);

    // The data: each named dataset, capped by max_samples, rendered with the named template.
    const meta = JSON.parse(readFileSync(join(spec.data.shard_dir, "meta.json"), "utf8")) as { template: string; datasets: { name: string; records: number }[] };
    const names = String(lf.dataset).split(",");
    assert.deepEqual(meta.datasets.map((d) => [d.name, d.records]), names.map((n) => [n, Math.min(records(n), Number(lf.max_samples ?? Infinity))]));
    assert.equal(meta.template, lf.stage === "pt" ? "none" : lf.template);
    if (lf.stage === "sft") assert.equal(spec.data.num_rows, meta.datasets.reduce((a, d) => a + d.records, 0));

    // Keys whet lacks are named in warnings; deepspeed maps to sharding once the engine has it.
    if (lf.tokenized_path !== undefined) assert.match(r.stderr, new RegExp(`${name.replace(/[./]/g, "\\$&")}:\\d+ tokenized_path: is not supported yet`));
    if (lf.deepspeed !== undefined) {
      const mapped = spec.distributed.strategy === "zero3" || (spec as unknown as { distributed: { sharding?: string } }).distributed.sharding === "zero3";
      assert.ok(mapped || /:9 deepspeed: is not supported yet/.test(r.stderr), r.stderr);
    }
    for (const line of r.stderr.trim().split("\n").filter(Boolean)) assert.match(line, /^warning: /, `unexpected stderr: ${line}`);
  });
}

test("the eval keys of the examples, uncommented, set up evaluation; keys without an equivalent are warnings", { timeout: 120_000 }, async () => {
  const text = readFileSync(join(EXAMPLES, "train_lora/qwen3_lora_sft.yaml"), "utf8").replace(/^# (val_size|per_device_eval_batch_size|eval_strategy|eval_steps):/gm, "$1:");
  const file = join(dir, "qwen3_lora_sft_eval.yaml");
  writeFileSync(file, text + "flash_attn: fa2\nenable_liger_kernel: true\n");
  const r = await dryRun(file, chatml);
  assert.equal(r.code, 0, r.stderr);
  const { spec } = JSON.parse(r.stdout) as DryRun;
  const given = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, "m").exec(text)![1]);
  assert.equal(spec.eval?.every_steps, given("eval_steps"));
  assert.equal(spec.eval?.micro_batch_size, given("per_device_eval_batch_size"));
  for (const key of ["per_device_eval_batch_size", "eval_strategy", "eval_steps"]) assert.doesNotMatch(r.stderr, new RegExp(`${key}: is not supported`), key);
  // flash_attn: fa2 is honoured as varlen attention; liger has no equivalent and is a warning.
  assert.equal(spec.model.attn_implementation, "varlen");
  assert.doesNotMatch(r.stderr, /flash_attn: is not supported/);
  assert.match(r.stderr, /warning: qwen3_lora_sft_eval\.yaml:\d+ enable_liger_kernel: is not supported yet; /);
});

// prepareData holds out val_size and mixes datasets (src/data/prepare.test.ts); this needs
// src/runs/prepare.ts to pass the dataset section through, as `...datasetOptions(config)` does.
test("val_size and mix_strategy of an example, uncommented, reach the shards through whet train", { timeout: 120_000 }, async () => {
  const text = readFileSync(join(EXAMPLES, "train_lora/qwen3_lora_sft.yaml"), "utf8").replace(/^# val_size:/m, "val_size:");
  assert.match(text, /^val_size: 0\.1$/m);
  const file = join(dir, "qwen3_lora_sft_val.yaml");
  writeFileSync(file, text + "mix_strategy: interleave_under\n");
  const r = await dryRun(file, chatml);
  assert.equal(r.code, 0, r.stderr);
  const { spec } = JSON.parse(r.stdout) as DryRun;
  const meta = JSON.parse(readFileSync(join(spec.data.shard_dir, "meta.json"), "utf8")) as { mix_strategy: string; held_out_samples: number; num_rows: number };
  // identity (91) and alpaca_en_demo (capped at 1000) in turn until identity runs out: 182 samples.
  assert.equal(meta.mix_strategy, "interleave_under");
  assert.equal(meta.held_out_samples, Math.ceil(0.1 * 182));
  assert.equal(spec.data.num_rows, 182 - meta.held_out_samples);
  const evalMeta = JSON.parse(readFileSync(join(spec.data.shard_dir, "eval", "meta.json"), "utf8")) as { num_docs: number };
  assert.equal(evalMeta.num_docs, meta.held_out_samples);
  assert.equal(spec.eval?.shard_dir, join(spec.data.shard_dir, "eval"));
  assert.equal(spec.eval?.num_rows, 19);
  assert.equal(spec.eval?.every_steps, 500, "eval_steps follows save_steps (500 in the example) when not given");
});

for (const name of DEEPSPEED) {
  test(`deepspeed: ${name} in a LLaMA-Factory config resolves`, { timeout: 120_000 }, async () => {
    const r = await whet(
      ["train", join(EXAMPLES, "train_lora/qwen3_lora_sft.yaml"), "--dry-run", "--json", `model_name_or_path=${chatml}`, "random_init=true", `dataset_dir=${LF}`, "device=cpu", `deepspeed=${join(EXAMPLES, name)}`],
      { cwd: dir, env },
    );
    assert.equal(r.code, 0, r.stderr);
    for (const line of r.stderr.trim().split("\n").filter(Boolean)) assert.match(line, /^warning: /, `unexpected stderr: ${line}`);
  });

  test(`whet train ${name} is recognised as a DeepSpeed config, not a training config`, async () => {
    const r = await whet(["train", join(EXAMPLES, name), "--dry-run", "--json"], { cwd: dir, env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: \S+\.json:\d+ zero_optimization: this is a DeepSpeed JSON config, not a training config\. Name it from the training config with deepspeed: <this file>/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
}

test("whet data inspect warns when the config's template renders unlike the tokenizer's chat_template", { timeout: 60_000 }, async () => {
  const file = join(EXAMPLES, "train_lora/qwen3_lora_sft.yaml");
  const args = ["data", "inspect", file, `model_name_or_path=${chatml}`, `dataset_dir=${LF}`, "--no-color", "--max-tokens", "5"];
  const named = await whet(args, { cwd: dir, env });
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stdout, /identity\.json:\d+ template qwen3_nothink\n/);
  assert.match(named.stderr, /^warning: template: qwen3_nothink renders a conversation without a system message differently from the tokenizer's chat_template in \S+, from character 12: qwen3_nothink gives "user\\n.*", the tokenizer gives "system\\nYou are a helpful AI/);
  const own = await whet([...args, "template=tokenizer"], { cwd: dir, env });
  assert.equal(own.code, 0, own.stderr);
  assert.equal(own.stderr, "");
});

for (const [name, stage] of Object.entries(REFUSED)) {
  test(`whet train ${name} is refused: stage ${stage}`, async () => {
    const r = await dryRun(join(EXAMPLES, name), chatml);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: .*${name.replace(/[./]/g, "\\$&")}:\\d+ stage: is ${stage}, which is not supported: whetstone trains pt and sft only\\. Use stage: sft`));
    assert.equal(r.stdout, "");
  });
}

for (const [name, message] of Object.entries(NOT_TRAIN)) {
  test(`whet train ${name} is recognised as not a training config`, async () => {
    const r = await whet(["train", join(EXAMPLES, name), "--dry-run", "--json"], { cwd: dir, env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
  });
}

/** `whet import` through its command module and the CLI's error rendering (main.ts), as the CLI runs it. */
function whetImport(args: string[]) {
  const script = join(dir, "import.mjs");
  writeFileSync(
    script,
    `const { importCommand } = await import(${JSON.stringify(new URL("../../src/cli/commands/import.ts", import.meta.url).pathname)});
const { reportError } = await import(${JSON.stringify(new URL("../../src/cli/main.ts", import.meta.url).pathname)});
let code; try { code = await importCommand.run(process.argv.slice(2)); } catch (e) { code = reportError(e); }
process.exit(code);`,
  );
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    import("node:child_process").then(({ execFile }) =>
      execFile(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  });
}

for (const name of TRAIN) {
  test(`whet import llamafactory ${name} prints a config that loads`, async () => {
    const r = await whetImport(["llamafactory", join(EXAMPLES, name), `dataset_dir=${LF}`]);
    assert.equal(r.code, 0, r.stderr);
    const out = join(dir, "imported", name);
    mkdirSync(join(out, ".."), { recursive: true });
    writeFileSync(out, r.stdout);
    const native = loadConfig(out);
    const original = loadConfig(join(EXAMPLES, name), [`dataset_dir=${LF}`]);
    const { dataset_dir: _a, ...a } = native.config;
    // deepspeed becomes the native sharding/offload it maps to (the JSON itself is a comment).
    const { dataset_dir: _b, deepspeed: _c, deepspeed_json: _d, ...b } = original.config;
    assert.deepEqual(a, b);
    assert.equal(native.config.dataset_dir, LF);
    assert.deepEqual(native.warnings.filter((w) => !w.where?.endsWith(" num_train_epochs")), [], "the native file has no LLaMA-Factory-only keys left");
    assert.match(r.stdout, /# .* is a Hugging Face hub id/);
    assert.match(r.stdout, /### LLaMA-Factory keys dropped: they change nothing here\n#   trust_remote_code: true   \(models load with transformers' own code\)\n/);
    for (const n of String(original.config.dataset).split(",")) assert.match(r.stdout, new RegExp(`# ${n} -> ${LF}/\\S+ \\(`));
    if (name.includes("full_sft")) {
      assert.match(r.stdout, /\n# from deepspeed: examples\/deepspeed\/ds_z3_config\.json \(\S+\): its ZeRO stage\nsharding: zero3\n/);
      assert.match(r.stdout, /# with distributed_backend: deepspeed, also keep the JSON: deepspeed: \/\S+\/ds_z3_config\.json\n/);
    }
  });
}

test("whet import llamafactory refuses what whet train refuses, with the same message", async () => {
  for (const [name, stage] of Object.entries(REFUSED)) {
    const r = await whetImport(["llamafactory", join(EXAMPLES, name)]);
    assert.equal(r.code, 2, name);
    assert.match(r.stderr, new RegExp(`stage: is ${stage}, which is not supported`), name);
  }
  for (const [name, message] of Object.entries(NOT_TRAIN)) {
    const r = await whetImport(["llamafactory", join(EXAMPLES, name)]);
    assert.equal(r.code, 2, name);
    assert.match(r.stderr, message, name);
    assert.match(r.stderr, /^error: [^\n]+\n$/, "one clear line, not a list of unknown keys");
  }
  const ds = await whetImport(["llamafactory", join(EXAMPLES, "deepspeed", "ds_z3_config.json")]);
  assert.equal(ds.code, 2);
  assert.match(ds.stderr, /zero_optimization: this is a DeepSpeed JSON config, not a training config\. Name it from the training config with deepspeed:/);
});
