// `whet plan --json` run in-process on a temp config and model folder: the output's shape.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// The config loader is written alongside; until it exists there is nothing to run.
const loaderReady = existsSync(fileURLToPath(new URL("../config/load.ts", import.meta.url)));

function fixture(extra = ""): string {
  const dir = mkdtempSync(join(tmpdir(), "whet-plan-"));
  mkdirSync(join(dir, "model"));
  writeFileSync(
    join(dir, "model", "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9,
      num_key_value_heads: 3, intermediate_size: 1536, vocab_size: 49152, tie_word_embeddings: true,
    }),
  );
  writeFileSync(join(dir, "data.jsonl"), JSON.stringify({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] }) + "\n");
  writeFileSync(
    join(dir, "whet.yaml"),
    ["model_name_or_path: model", "random_init: true", "stage: sft", "finetuning_type: lora", "lora_rank: 8", "dataset: data.jsonl",
      "cutoff_len: 1024", "packing: true", "per_device_train_batch_size: 2", "gradient_accumulation_steps: 4", "bf16: true", extra].join("\n"),
  );
  return dir;
}

async function runJson(argv: string[]): Promise<{ code: number; out: Record<string, any> }> {
  const { planCommand } = await import("../cli/commands/plan.ts");
  let text = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stdout.write;
  try {
    const code = await planCommand.run(argv);
    return { code, out: JSON.parse(text) };
  } finally {
    process.stdout.write = write;
  }
}

test("whet plan --json: per_gpu breakdown, phase, host RAM, fits, GPU memory", { skip: !loaderReady && "src/config/load.ts is not there yet" }, async () => {
  const dir = fixture();
  try {
    const { code, out } = await runJson([join(dir, "whet.yaml"), "--json", "--gpus", "2", "--gpu-memory", "24"]);
    assert.equal(code, 0);
    assert.deepEqual(Object.keys(out.per_gpu).sort(), ["activations_gib", "buffers_gib", "gradients_gib", "logits_gib", "optimizer_gib", "overhead_gib", "peak_gib", "weights_gib"]);
    const parts = Object.entries(out.per_gpu).filter(([k]) => k !== "peak_gib").reduce((s, [, v]) => s + (v as number), 0);
    assert.ok(Math.abs(parts - out.per_gpu.peak_gib) < 0.05);
    assert.ok(["forward_end", "backward", "optimizer_step"].includes(out.phase));
    assert.equal(out.gpu_memory_gib, 24);
    assert.equal(out.fits, true);
    assert.equal(out.host_ram_gib, 0);
    assert.equal(out.params.total, 134_515_008);
    assert.equal(out.settings.tokens_per_micro_batch, 2048);
    assert.equal(out.settings.world_size, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("whet plan --fit --json: keeps the global batch; overrides apply", { skip: !loaderReady && "src/config/load.ts is not there yet" }, async () => {
  const dir = fixture();
  try {
    const { out } = await runJson([join(dir, "whet.yaml"), "finetuning_type=full", "--json", "--fit", "--gpus", "2", "--gpu-memory", "3", "--margin", "0.1"]);
    assert.equal(out.settings.method, "full");
    assert.equal(out.fit.global_batch_rows, 16);
    assert.ok(out.fit.best, "a 135M model fits in 3 GiB with some setting");
    assert.equal(out.fit.best.micro_batch_size * out.fit.best.gradient_accumulation_steps * 2, 16);
    assert.ok(out.fit.best.peak_gib <= 2.7);
    const none = await runJson([join(dir, "whet.yaml"), "finetuning_type=full", "--json", "--fit", "--gpus", "1", "--gpu-memory", "1"]);
    assert.equal(none.out.fit.best, null);
    assert.equal(none.out.fits, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
