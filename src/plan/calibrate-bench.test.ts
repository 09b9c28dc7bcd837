// The CPU-testable parts of bench/calibrate-memory.ts: the run matrix, the config it writes,
// reading the worker's events, and the fit + held-out comparison over recorded runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { BASE_CONFIG, buildMatrix, configYaml, fitAndCompare, measurements, planInputFor, summarizeEvents } from "../../bench/calibrate-memory.ts";
import { predictReservedGiB } from "./calibrate.ts";
import { DEFAULT_CONSTANTS } from "./constants.ts";
import { countParams } from "./shape.ts";

test("the matrix: methods × checkpointing × tokens per shape, unique ids", () => {
  const runs = buildMatrix(["135m", "8b"]);
  assert.equal(runs.length, 2 * 12 + 1);
  assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
  assert.ok(runs.some((r) => r.overrides.attn_implementation === "eager"));
});

test("configYaml writes what the loader reads; planInputFor follows the overrides", () => {
  assert.deepEqual(parse(configYaml(BASE_CONFIG)), BASE_CONFIG);
  const run = buildMatrix(["135m"]).find((r) => r.id === "135m-lora-gc1-4x2048")!;
  const input = planInputFor(run);
  assert.equal(input.method.kind, "lora");
  assert.equal(input.checkpointing.mode, "full");
  assert.equal(input.microBatch * input.seqLen, 8192);
  assert.equal(countParams(input.shape).total, 134_515_008);
});

const hello = { type: "hello", time: 1, rank: 0, protocol: 1, world_size: 1, hostname: "h", device: "NVIDIA H200", versions: { torch: "2.5.1" }, trainable_params: 1, total_params: 2, start_step: 0 };
const step = (n: number, reserved: number) => ({
  type: "step", time: 1 + n, rank: 0, step: n, total_steps: 3, epoch: 0, loss: 3, lr: 1e-5, grad_norm: 1, trained_tokens: 10, tokens: 10,
  tokens_per_s: 100, step_time_s: 0.1, data_time_s: 0, mem_allocated_gib: reserved - 2, mem_reserved_gib: reserved, mem_peak_gib: reserved - 1,
});

test("summarizeEvents: largest memory figures over the steps; OOM is its own status", () => {
  const ok = summarizeEvents([hello, step(1, 10), step(2, 12.5), step(3, 12)].map((e) => JSON.stringify(e)).join("\n") + "\nnot json\n");
  assert.deepEqual([ok.status, ok.reservedGiB, ok.peakGiB, ok.hello?.device], ["ok", 12.5, 11.5, "NVIDIA H200"]);
  const oom = { type: "error", time: 2, rank: 0, code: "OOM", message: "CUDA out of memory", phase: "backward", step: 1, traceback: null };
  assert.equal(summarizeEvents([hello, oom].map((e) => JSON.stringify(e)).join("\n")).status, "oom");
  assert.equal(summarizeEvents("").status, "failed");
});

test("fitAndCompare over recorded runs: only completed runs count; held-out error shrinks", () => {
  const truth = { ...DEFAULT_CONSTANTS, blockActivation: { hidden: 26, kv: 5.2, mlp: 10.4 }, checkpointedBlockBytesPerHidden: 3 };
  const runs = buildMatrix(["135m", "360m", "1b"]).map((r) => {
    const plan_input = planInputFor(r);
    return { id: r.id, status: "ok", plan_input, measured: { reserved_gib: predictReservedGiB(plan_input, truth) } };
  });
  runs.push({ ...runs[0]!, id: "oom-run", status: "oom", measured: { reserved_gib: null as unknown as number } });
  const ms = measurements(runs);
  assert.equal(ms.length, runs.length - 1);
  const r = fitAndCompare(ms);
  assert.equal(r.fit.train_ids.length + r.fit.held_out_ids.length, ms.length);
  assert.ok(r.compare.after.medianAbsErrorGiB <= r.compare.before.medianAbsErrorGiB);
  assert.ok(r.compare.after.worstAbsErrorGiB < 0.05, `${r.compare.after.worstAbsErrorGiB}`);
});
