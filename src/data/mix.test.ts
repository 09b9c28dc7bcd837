// Mixing datasets (mix_strategy, interleave_probs) and holding out val_size, on the real demo data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { heldOutCount, holdOut, loadDatasets, mixSamples } from "./dataset.ts";
import { resolveDatasets } from "./registry.ts";
import { WhetError } from "../errors.ts";
import { LF_DIR } from "./fixtures/helpers.ts";

const a = ["a0", "a1", "a2", "a3", "a4", "a5"];
const b = ["b0", "b1"];

test("concat keeps order; interleave without probs alternates; under stops at the first end, over at the last", () => {
  assert.deepEqual(mixSamples([a, b], { strategy: "concat", seed: 1 }), [...a, ...b]);
  assert.deepEqual(mixSamples([a, b], { strategy: "interleave_under", seed: 1 }), ["a0", "b0", "a1", "b1"]);
  assert.deepEqual(mixSamples([a, b], { strategy: "interleave_over", seed: 1 }), ["a0", "b0", "a1", "b1", "a2", "b0", "a3", "b1", "a4", "b0", "a5", "b1"]);
});

test("interleave with probs is deterministic per seed and follows the probabilities", () => {
  const big = Array.from({ length: 3000 }, (_, i) => `x${i}`);
  const small = Array.from({ length: 3000 }, (_, i) => `y${i}`);
  const m1 = mixSamples([big, small], { strategy: "interleave_under", probs: [0.8, 0.2], seed: 7 });
  assert.deepEqual(mixSamples([big, small], { strategy: "interleave_under", probs: [0.8, 0.2], seed: 7 }), m1);
  assert.notDeepEqual(mixSamples([big, small], { strategy: "interleave_under", probs: [0.8, 0.2], seed: 8 }), m1);
  assert.equal(m1.filter((s) => s.startsWith("x")).length, 3000, "stops when the likelier dataset ends");
  const share = m1.filter((s) => s.startsWith("y")).length / m1.length;
  assert.ok(share > 0.17 && share < 0.23, `share ${share}`);
  const over = mixSamples([a, b], { strategy: "interleave_over", probs: [1, 0], seed: 3 });
  assert.deepEqual(over, a, "a dataset with probability 0 is never drawn and does not block the end");
  assert.throws(() => mixSamples([a, b], { strategy: "interleave_under", probs: [1], seed: 1 }), /has 1 values for 2 datasets/);
  assert.throws(() => mixSamples([a, b], { strategy: "concat", probs: [0.5, 0.5], seed: 1 }), /only used with mix_strategy: interleave/);
});

test("val_size holds out a seeded fraction or count and keeps the training order", () => {
  const xs = Array.from({ length: 100 }, (_, i) => i);
  const { train, heldOut } = holdOut(xs, 0.1, 42);
  assert.equal(heldOut.length, 10);
  assert.equal(train.length, 90);
  assert.deepEqual([...train, ...heldOut].sort((p, q) => p - q), xs);
  assert.deepEqual(train, [...train].sort((p, q) => p - q));
  assert.deepEqual(holdOut(xs, 0.1, 42), { train, heldOut });
  assert.notDeepEqual(holdOut(xs, 0.1, 43).heldOut, heldOut);
  assert.equal(heldOutCount(0.05, 999), 50);
  assert.equal(heldOutCount(7, 999), 7);
  assert.throws(() => heldOutCount(1.5, 10), (e: unknown) => e instanceof WhetError && /val_size: must be a fraction/.test(e.message));
  assert.throws(() => heldOutCount(10, 10), /leaves none to train on/);
});

test("loadDatasets: identity + alpaca_en_demo capped, interleaved and split", () => {
  const specs = resolveDatasets(["identity", "alpaca_en_demo"], { datasetDir: LF_DIR, configDir: "/nonexistent" });
  const r = loadDatasets(specs, { stage: "sft", maxSamples: 500, mix: { strategy: "interleave_under" }, valSize: 0.1, seed: 42 });
  assert.deepEqual(r.counts.map((c) => [c.name, c.samples]), [["identity", 91], ["alpaca_en_demo", 500]]);
  assert.equal(r.train.length + r.heldOut.length, 182, "alternating until identity's 91 run out");
  assert.equal(r.heldOut.length, 19);
});
