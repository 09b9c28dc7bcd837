// fitRun on fixtures: the global batch is kept, a fitting setting is found when one exists, and
// "none fits" is reported otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitRun } from "./fit.ts";
import { planRun, type PlanInput } from "./planner.ts";
import { KNOWN_SHAPES } from "./shape.ts";

const GiB = 1024 ** 3;
const base: PlanInput = {
  shape: KNOWN_SHAPES["Llama-3-8B"]!,
  method: { kind: "full" },
  computeBytes: 2,
  stage: "none",
  offload: "none",
  world: 8,
  microBatch: 4,
  seqLen: 4096,
  gradientAccumulation: 2,
  checkpointing: { mode: "none" },
  attention: "sdpa",
  loss: "plain",
};

test("every candidate keeps micro × accumulation × GPUs", () => {
  const r = fitRun(base, { gpuMemoryBytes: 80 * GiB, margin: 0.1 });
  assert.equal(r.globalRows, 64);
  for (const c of [...r.fitting, r.smallest]) assert.equal(c.microBatch * c.gradientAccumulation * c.plan.input.world, 64);
});

test("Llama-3-8B full on 8 × 80 GiB: the given setting does not fit, the search finds one that does", () => {
  assert.ok(planRun(base).peak.total > 72 * GiB);
  const r = fitRun(base, { gpuMemoryBytes: 80 * GiB, margin: 0.1 });
  assert.ok(r.best);
  assert.ok(r.best.plan.peak.total <= 72 * GiB);
  assert.equal(r.best, r.fitting[0]);
  for (let n = 1; n < r.fitting.length; n++) assert.ok(r.fitting[n]!.speed.stepSeconds >= r.fitting[n - 1]!.speed.stepSeconds);
});

test("a small model that fits anyway gets the fastest plain setting: no checkpointing, no sharding, no offload", () => {
  const r = fitRun({ ...base, shape: KNOWN_SHAPES["SmolLM2-135M"]!, world: 1, microBatch: 2, seqLen: 1024, gradientAccumulation: 4 }, { gpuMemoryBytes: 80 * GiB, margin: 0.1 });
  assert.ok(r.best);
  assert.deepEqual([r.best.microBatch, r.best.checkpointing.mode, r.best.stage, r.best.offload], [8, "none", "none", "none"]);
});

test("Llama-3-70B full on one 24 GiB GPU: none fits, and the smallest candidate says by how much", () => {
  const r = fitRun({ ...base, shape: KNOWN_SHAPES["Llama-3-70B"]!, world: 1 }, { gpuMemoryBytes: 24 * GiB, margin: 0.1 });
  assert.equal(r.best, null);
  assert.equal(r.fitting.length, 0);
  assert.ok(r.smallest.plan.peak.total > r.usableBytes);
  assert.equal(r.smallest.offload, "params+optimizer");
});

test("a larger margin never admits more settings", () => {
  const loose = fitRun(base, { gpuMemoryBytes: 80 * GiB, margin: 0.05 }).fitting.length;
  const tight = fitRun(base, { gpuMemoryBytes: 80 * GiB, margin: 0.3 }).fitting.length;
  assert.ok(tight <= loose);
});
