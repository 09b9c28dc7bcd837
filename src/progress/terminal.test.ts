import { test } from "node:test";
import assert from "node:assert/strict";
import { initialProgress, reduceProgress, renderProgress } from "./terminal.ts";
import { duration } from "./format.ts";

const step = (n: number, time: number) => ({
  type: "step" as const, time, rank: 0, step: n, total_steps: 10, epoch: 0, loss: 3 - n * 0.1, lr: 1e-4, grad_norm: 1,
  trained_tokens: 100, tokens: 200, tokens_per_s: 1234.4, step_time_s: 1, data_time_s: 0, mem_allocated_gib: 1, mem_reserved_gib: 2, mem_peak_gib: 2.5,
});

test("progress line shows step, loss, lr, tokens/s, elapsed, ETA and peak memory", () => {
  let s = initialProgress();
  s = reduceProgress(s, { type: "hello", time: 100, rank: 0, protocol: 1, world_size: 1, hostname: "h", device: "cpu", versions: {}, trainable_params: 1, total_params: 1, start_step: 0 });
  s = reduceProgress(s, step(1, 101));
  s = reduceProgress(s, step(2, 102));
  const line = renderProgress(s, 102);
  assert.match(line, /step 2\/10/);
  assert.match(line, /loss 2\.8000/);
  assert.match(line, /lr 1\.00e-4/);
  assert.match(line, /1,234 tok\/s/);
  assert.match(line, /elapsed 0:02/);
  assert.match(line, /ETA 0:08/);
  assert.match(line, /peak 2\.50 GiB/);
  assert.equal(s.firstLoss, 2.9);
  assert.doesNotMatch(line, /MFU/, "no MFU unless the worker reports it");
  s = reduceProgress(s, { ...step(3, 103), mfu: 0.412 });
  assert.match(renderProgress(s, 103), /1,234 tok\/s \| MFU 41\.2% \| elapsed/);
});

test("durations", () => {
  assert.equal(duration(5), "0:05");
  assert.equal(duration(3725), "1:02:05");
  assert.equal(duration(NaN), "--:--");
});
