// Two "nodes" on the loopback: two `whet train` invocations with --nnodes 2 (c10d rendezvous on
// 127.0.0.1), one CPU process each, full fine-tuning under zero3 across the two, into one run
// directory. Both finish; ranks 0 and 1 said hello with world size 2; the export exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ALPACA, tempDir, tinyModel, whet } from "./helpers.ts";
import { parseEventLine, type WhetEvent } from "../../src/events/schema.ts";

test("two nodes on the loopback (--nnodes 2) train one run together", { timeout: 600_000 }, async () => {
  const dir = tempDir("whet-2node-");
  const runDir = join(dir, "run");
  const cfg = join(dir, "two-nodes.yaml");
  writeFileSync(
    cfg,
    [
      `model_name_or_path: ${tinyModel(dir)}`,
      "random_init: true",
      "finetuning_type: full",
      `dataset: ${ALPACA}`,
      "cutoff_len: 128",
      "packing: true",
      "per_device_train_batch_size: 2",
      "learning_rate: 3.0e-3",
      "max_steps: 4",
      "logging_steps: 1",
      "save_steps: 2",
      `output_dir: ${runDir}`,
      "device: cpu",
      "nproc: 1",
    ].join("\n") + "\n",
  );
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const env = { WHET_CACHE_DIR: join(dir, "cache") };
  const node = (rank: number) => whet(["train", cfg, "--nnodes", "2", "--node-rank", String(rank), "--master-addr", "127.0.0.1", "--master-port", port], { env, timeoutMs: 540_000 });
  const [n0, n1] = await Promise.all([node(0), node(1)]);
  assert.equal(n0.code, 0, `node 0: ${n0.stderr}`);
  assert.equal(n1.code, 0, `node 1: ${n1.stderr}`);

  const events = readFileSync(join(runDir, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => parseEventLine(l))
    .filter((p): p is { ok: true; event: WhetEvent } => p.ok)
    .map((p) => p.event);
  const hellos = events.filter((e) => e.type === "hello");
  assert.deepEqual(hellos.map((h) => h.rank).sort(), [0, 1]);
  for (const h of hellos) assert.equal(h.type === "hello" && h.world_size, 2);
  assert.equal((hellos[0] as Record<string, unknown>).strategy, "zero3");
  const steps = events.filter((e) => e.type === "step" && e.rank === 0);
  assert.deepEqual(steps.map((s) => s.type === "step" && s.step), [1, 2, 3, 4]);
  assert.ok(events.some((e) => e.type === "done"));
  assert.ok(existsSync(join(runDir, "checkpoints", "step-4", "trainer_state.json")));
  assert.ok(existsSync(join(runDir, "export", "model.safetensors")));
  const spec = JSON.parse(readFileSync(join(runDir, "spec.json"), "utf8"));
  assert.equal(spec.distributed.nnodes, 2);
  assert.equal(spec.distributed.world_size, 2);
});
