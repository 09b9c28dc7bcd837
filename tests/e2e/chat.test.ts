// `whet chat` on the command line: clear errors without stack traces, and the conversation read
// from stdin one turn per line. The model here is tiny and random, so only the mechanics are
// checked; tests/correctness/real-model.test.ts checks what a trained model answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, python, tempDir, tinyModel, whet, type CliResult } from "./helpers.ts";

function fakeRun(dir: string, model: string, extra: { randomInit?: boolean; exportDir?: string } = {}): string {
  const run = join(dir, "run");
  mkdirSync(run, { recursive: true });
  const spec = {
    model: { path: model, tokenizer_path: model, random_init: extra.randomInit ?? false },
    data: { shard_dir: join(dir, "no-shard") },
    export: { dir: extra.exportDir ?? join(run, "export") },
  };
  writeFileSync(join(run, "spec.json"), JSON.stringify(spec));
  return run;
}

function chatWithStdin(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, "bin", "whet.js"), "chat", ...args], {
      cwd: REPO,
      env: { ...process.env, OMP_NUM_THREADS: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

test("whet chat explains a missing run, a run without export and an adapter on a random base", async () => {
  const dir = tempDir();
  const noStack = (r: CliResult) => assert.ok(!/\n\s+at /.test(r.stderr) && !r.stderr.includes("internal error"), r.stderr);

  let r = await whet(["chat", join(dir, "nope"), "--prompt", "hi"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: .*nope: is not a directory\. Name a run directory/);
  noStack(r);

  r = await whet(["chat", dir]);
  assert.match(r.stderr, /holds no spec\.json, so it is not a whet run directory/);

  const run = fakeRun(dir, tinyModel(dir));
  r = await whet(["chat", run, "--prompt", "hi"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /has no export: the run has not finished, or failed before exporting\. Chat with its base model: whet chat .* --base\./);
  noStack(r);

  mkdirSync(join(run, "export"));
  writeFileSync(join(run, "export", "adapter_config.json"), "{}");
  writeFileSync(join(run, "spec.json"), JSON.stringify({ model: { path: dir, tokenizer_path: tinyModel(dir), random_init: true }, export: { dir: join(run, "export") } }));
  r = await whet(["chat", run, "--prompt", "hi"]);
  assert.match(r.stderr, /is a LoRA adapter on a base model built from random weights/);
  r = await whet(["chat", run, "--base"]);
  assert.match(r.stderr, /started from random weights \(random_init\), so there is no base model to chat with/);

  r = await whet(["chat", run, "extra", "--prompt", "x"]);
  assert.match(r.stderr, /expected one RUN_DIR/);
});

test("whet chat answers one turn per stdin line, /reset forgets, end of input quits", { timeout: 300_000 }, async () => {
  const dir = tempDir();
  // A wide init, so that the answers depend on the question even without training.
  const model = tinyModel(dir, { initializer_range: 0.7 });
  // Random weights saved beside the tokenizer: a model the worker can load.
  const save = spawnSync(python(), ["-c", "import sys, torch; from transformers import AutoConfig, AutoModelForCausalLM; torch.manual_seed(0); AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(sys.argv[1])).save_pretrained(sys.argv[1])", model], { encoding: "utf8" });
  assert.equal(save.status, 0, save.stderr);
  const run = fakeRun(dir, model, { exportDir: model });

  const r = await chatWithStdin([run, "--max-new-tokens", "3"], "Hi\n\n/reset\nHello there\n");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /model: .*tiny-model \(cpu, float32\), template jinja/);
  assert.equal(r.stderr.match(/reached --max-new-tokens 3/g)?.length, 2, r.stderr);
  // Greedy, and /reset forgot the first turn: the piped session answers as two one-shot runs do.
  const one = await whet(["chat", run, "--prompt", "Hi", "--max-new-tokens", "3"], { env: { OMP_NUM_THREADS: "1" } });
  const two = await whet(["chat", run, "--prompt", "Hello there", "--max-new-tokens", "3"], { env: { OMP_NUM_THREADS: "1" } });
  assert.equal(one.code, 0, one.stderr);
  assert.equal(r.stdout, one.stdout + two.stdout);
  assert.notEqual(one.stdout, two.stdout, "the two questions must get different answers for this to show anything");
});

test("whet chat loads a LoRA-only export onto the run's base model", { timeout: 300_000 }, async () => {
  const dir = tempDir();
  const model = tinyModel(dir, { initializer_range: 0.7 });
  const run = fakeRun(dir, model);
  // A fresh adapter (B = 0) changes nothing, so the run must answer exactly as its base does.
  const script = [
    "import sys, torch",
    "from transformers import AutoConfig, AutoModelForCausalLM",
    "from peft import LoraConfig, get_peft_model",
    "torch.manual_seed(0)",
    "m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(sys.argv[1]))",
    "m.save_pretrained(sys.argv[1])",
    "get_peft_model(m, LoraConfig(r=4, target_modules=['q_proj', 'v_proj'], task_type='CAUSAL_LM')).save_pretrained(sys.argv[2])",
  ].join("\n");
  const made = spawnSync(python(), ["-c", script, model, join(run, "export")], { encoding: "utf8" });
  assert.equal(made.status, 0, made.stderr);
  const env = { OMP_NUM_THREADS: "1" };
  const adapter = await whet(["chat", run, "--prompt", "Hi", "--max-new-tokens", "4"], { env });
  assert.equal(adapter.code, 0, adapter.stderr);
  assert.match(adapter.stderr, /model: .*export on .*tiny-model/);
  const base = await whet(["chat", run, "--base", "--prompt", "Hi", "--max-new-tokens", "4"], { env });
  assert.equal(base.code, 0, base.stderr);
  assert.equal(adapter.stdout, base.stdout);
});
