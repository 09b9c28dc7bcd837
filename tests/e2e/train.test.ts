// `whet train` end to end on the CPU: two gloo processes fine-tune a tiny Llama-shaped model on
// alpaca_en_demo, full and LoRA; the run directory is complete and the export loads and generates.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ALPACA, python, tempDir, tinyModel, whet } from "./helpers.ts";
import { parseEventLine, type WhetEvent } from "../../src/events/schema.ts";

function config(dir: string, method: "full" | "lora"): string {
  const file = join(dir, `${method}.yaml`);
  writeFileSync(
    file,
    [
      // With the default 0.02 init, a frozen random head caps the logits near zero, so adapters
      // alone could not move the loss; a wider init gives LoRA a head it can steer.
      `model_name_or_path: ${tinyModel(dir, method === "lora" ? { initializer_range: 0.3 } : {})}`,
      "random_init: true",
      `finetuning_type: ${method}`,
      "lora_rank: 8",
      `dataset: ${ALPACA}`,
      "cutoff_len: 256",
      "packing: true",
      "per_device_train_batch_size: 4",
      "gradient_accumulation_steps: 2",
      `learning_rate: ${method === "full" ? "3.0e-3" : "1.0e-2"}`,
      "max_steps: 32",
      "lr_scheduler_type: cosine",
      "warmup_steps: 2",
      "logging_steps: 1",
      "save_steps: 16",
      `output_dir: ${join(dir, `run-${method}`)}`,
      "device: cpu",
      "nproc: 2",
    ].join("\n") + "\n",
  );
  return file;
}

for (const method of ["full", "lora"] as const) {
  test(`two gloo processes fine-tune a tiny model (${method})`, { timeout: 600_000 }, async () => {
    const dir = tempDir();
    const env = { WHET_CACHE_DIR: join(dir, "cache") };
    const r = await whet(["train", config(dir, method), "--json"], { env });
    assert.equal(r.code, 0, r.stderr);

    // stdout carries only events, ending with done
    const events = r.stdout.trim().split("\n").map((l) => {
      const p = parseEventLine(l);
      assert.ok(p.ok, `not an event: ${l}`);
      return (p as { event: WhetEvent }).event;
    });
    const done = events.at(-1);
    assert.equal(done?.type, "done");
    const steps = events.filter((e) => e.type === "step");
    assert.equal(steps.at(-1)?.type === "step" && steps.at(-1)!.step, 32);
    assert.equal(events.filter((e) => e.type === "hello").length, 2, "one hello per rank");
    if (done?.type !== "done" || steps[0]?.type !== "step") throw new Error("unreachable");
    // A random base learns slowly through rank-8 adapters alone; full fine-tuning falls fast.
    const mean = (xs: WhetEvent[]) => xs.reduce((a, e) => a + (e.type === "step" ? e.loss : 0), 0) / xs.length;
    const [head, tail] = [mean(steps.slice(0, 4)), mean(steps.slice(-4))];
    assert.ok(tail < head * (method === "full" ? 0.8 : 0.99), `loss ${head} -> ${tail} (means of 4 steps) did not fall`);

    // the run directory is complete
    const runDir = join(dir, `run-${method}`);
    for (const f of ["config.yaml", "spec.json", "plan.json", "events.jsonl", "logs", "export"]) {
      assert.ok(existsSync(join(runDir, f)), `missing ${f}`);
    }
    assert.deepEqual(readdirSync(join(runDir, "checkpoints")).sort(), ["step-16", "step-32"]);
    const logs = readdirSync(join(runDir, "logs"));
    assert.ok(logs.includes("rank-0.log") && logs.includes("rank-1.log"), `logs: ${logs}`);
    const exported = readdirSync(join(runDir, "export"));
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) assert.ok(exported.includes(f), `export lacks ${f}`);
    assert.ok(statSync(join(runDir, "export", "model.safetensors")).size > 1_000_000);
    assert.equal(done.export_dir, join(runDir, "export"));

    // plain transformers loads the export and generates text
    const gen = spawnSync(python(), ["-c", `
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d = sys.argv[1]
tok = AutoTokenizer.from_pretrained(d)
model = AutoModelForCausalLM.from_pretrained(d)
ids = tok.apply_chat_template([{"role": "user", "content": "Give three tips for staying healthy."}], add_generation_prompt=True, return_tensors="pt")
ids = ids["input_ids"] if hasattr(ids, "keys") else ids
out = model.generate(ids, max_new_tokens=12, do_sample=False)
text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
assert out.shape[1] > ids.shape[1]
print(repr(text))
`, join(runDir, "export")], { encoding: "utf8" });
    assert.equal(gen.status, 0, gen.stderr);
    assert.ok(gen.stdout.trim().length > 2);
    const spec = JSON.parse(readFileSync(join(runDir, "spec.json"), "utf8"));
    assert.equal(spec.distributed.world_size, 2);
  });
}
