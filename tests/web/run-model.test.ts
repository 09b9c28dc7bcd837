// The run page's pure parts (web/src/run/): GPU series over time, the step breakdown, MFU.
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyGpu, emptyGpu, trackLabel, GAP_S } from "../../web/src/run/gpu.ts";
import { stepBreakdown } from "../../web/src/run/breakdown.ts";
import { applyEvent, emptyModel, latest } from "../../web/src/run/model.ts";
import type { GpuRecord } from "../../src/gpu-sampler/samples.ts";
import type { WhetEvent } from "../../src/events/schema.ts";

const sample = (time: number, host: string, util: number[]): GpuRecord => ({
  time,
  host,
  gpus: util.map((u, index) => ({ index, util_pct: u, mem_used_gib: u / 10, mem_total_gib: 80, power_w: null })),
});

test("GPU samples become one aligned series per GPU; repeats are dropped", () => {
  const g = emptyGpu();
  applyGpu(g, sample(100, "a", [90, 80]));
  applyGpu(g, sample(103, "a", [95, 85]));
  applyGpu(g, sample(103, "a", [1, 1])); // the same sample again (a repeated poll)
  assert.deepEqual(g.time, [100, 103]);
  assert.deepEqual(g.tracks.map((t) => t.util), [[90, 95], [80, 85]]);
  assert.deepEqual(g.tracks.map((t) => trackLabel(g, t)), ["GPU 0", "GPU 1"]);
  assert.equal(g.tracks[0]!.latest.util_pct, 95);
  assert.equal(g.capacityGib, 80);
});

test("a long pause (stop, then resume) breaks the lines; a second host interleaves by time", () => {
  const g = emptyGpu();
  applyGpu(g, sample(100, "a", [50]));
  applyGpu(g, sample(100 + GAP_S + 60, "a", [60]));
  assert.deepEqual(g.tracks[0]!.util, [50, null, 60]);
  applyGpu(g, sample(101, "b", [70])); // older than a's newest: inserted in time order
  assert.deepEqual(g.time, [100, 101, 100 + GAP_S / 2, 100 + GAP_S + 60]);
  assert.deepEqual(g.tracks.map((t) => trackLabel(g, t)), ["a GPU 0", "b GPU 0"]);
  assert.deepEqual(g.tracks[1]!.util, [null, 70, null, null]);
  assert.deepEqual(g.tracks[0]!.util, [50, null, null, 60]);
});

const step = (n: number, extra: Record<string, number> = {}): WhetEvent => ({
  type: "step", time: n, rank: 0, step: n, total_steps: 3, epoch: 0, loss: 1, lr: 1e-4, grad_norm: 1, trained_tokens: 1, tokens: 1,
  tokens_per_s: 1, step_time_s: 1, data_time_s: 0.1, mem_allocated_gib: 1, mem_reserved_gib: 1, mem_peak_gib: 1, ...extra,
});

test("the step breakdown stacks the reported parts and the rest of the step; absent parts hide it", () => {
  const plain = emptyModel();
  applyEvent(plain, step(1));
  assert.equal(stepBreakdown(plain), null);
  assert.equal(latest(plain.series.mfu), null);

  const m = emptyModel();
  applyEvent(m, step(1, { fwd_bwd_time_s: 0.6, optimizer_time_s: 0.1, comm_wait_time_s: 0.05, mfu: 0.4 }));
  applyEvent(m, step(2, { fwd_bwd_time_s: 0.7, optimizer_time_s: 0.1, mfu: 0.42 }));
  const layers = stepBreakdown(m)!;
  assert.deepEqual(layers.map((l) => l.label), ["data", "forward + backward", "optimizer", "communication wait", "other"]);
  const top = layers.map((l) => l.top.map((v) => Math.round(v! * 1000) / 1000));
  assert.deepEqual(top, [[0.1, 0.1], [0.7, 0.8], [0.8, 0.9], [0.85, 0.9], [1, 1]], "the top layer reaches step_time_s");
  assert.deepEqual(layers[3]!.raw, [0.05, null]);
  assert.equal(latest(m.series.mfu), 0.42);
});
