// Model states against DeepSpeed's published ZeRO figures (Ψ = 7.5B parameters, N = 64 GPUs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEEPSPEED_MIXED, frozenWorkerLayout, modelStates, placeStates, trainableLayout, type Offload, type Stage } from "./states.ts";

const total = (psi: number, stage: Stage, n: number, layout = DEEPSPEED_MIXED) => {
  const s = modelStates(psi, layout, stage, n);
  return s.weights + s.gradients + s.optimizer;
};
const GB = 1e9;

test("DeepSpeed mixed-precision Adam: 16Ψ, 4Ψ + 12Ψ/N, 2Ψ + 14Ψ/N, 16Ψ/N", () => {
  const psi = 7.5e9;
  assert.equal(total(psi, "none", 64) / GB, 120);
  assert.equal((total(psi, "zero1", 64) / GB).toFixed(1), "31.4");
  assert.equal((total(psi, "zero2", 64) / GB).toFixed(1), "16.6");
  assert.equal((total(psi, "zero3", 64) / GB).toFixed(1), "1.9");
});

test("DeepSpeed breakdown: what each stage shards", () => {
  const s = modelStates(1000, DEEPSPEED_MIXED, "zero2", 4);
  assert.deepEqual(s, { weights: 2000, gradients: 500, optimizer: 3000 });
});

// What the worker keeps (worker/whet_worker/parallel.py), bf16 compute, 1000 parameters.
const place = (stage: Stage, world: number, offload: Offload = "none") => placeStates(1000, trainableLayout(2, stage, offload), stage, world);
const device = (s: ReturnType<typeof place>) => s.weights + s.gradients + s.optimizer;

test("worker, full fine-tuning: fp32 weights, gradients and AdamW (16 bytes), sharded as each stage does", () => {
  assert.deepEqual(place("none", 8), { weights: 4000, gradients: 4000, optimizer: 8000, host: 0, computeCopy: 2000 });
  assert.deepEqual(place("zero1", 8), { weights: 4000, gradients: 4000, optimizer: 1000, host: 0, computeCopy: 2000 });
  // FSDP2 shards the parameters from zero2 on; zero2 keeps them gathered (16-bit) through forward and backward.
  assert.deepEqual(place("zero2", 8), { weights: 500, gradients: 500, optimizer: 1000, host: 0, computeCopy: 2000 });
  assert.deepEqual(place("zero3", 8), { weights: 500, gradients: 500, optimizer: 1000, host: 0, computeCopy: 0 });
  assert.equal(device(place("zero3", 8)), (16 * 1000) / 8);
});

test("worker, optimizer offload: 16-bit shards under FSDP2, fp32 weights and gradients under DDP; masters and moments on the host", () => {
  assert.deepEqual(place("zero3", 4, "optimizer"), { weights: 500, gradients: 500, optimizer: 0, host: 3000, computeCopy: 0 });
  assert.deepEqual(place("none", 1, "optimizer"), { weights: 4000, gradients: 4000, optimizer: 0, host: 12000, computeCopy: 2000 });
  assert.deepEqual(place("zero3", 4, "params+optimizer"), { weights: 0, gradients: 0, optimizer: 0, host: 4000, computeCopy: 0 });
});

test("worker, frozen base: its own bytes, sharded under zero3, host-side with parameter offload", () => {
  assert.deepEqual(placeStates(1000, frozenWorkerLayout(2, "none", "none"), "none", 4), { weights: 2000, gradients: 0, optimizer: 0, host: 0, computeCopy: 0 });
  assert.deepEqual(placeStates(1000, frozenWorkerLayout(2, "zero3", "none"), "zero3", 4), { weights: 500, gradients: 0, optimizer: 0, host: 0, computeCopy: 0 });
  assert.equal(placeStates(1000, frozenWorkerLayout(2, "zero3", "params+optimizer"), "zero3", 4).host, 500);
});

test("one GPU: every stage holds the same bytes as DDP", () => {
  for (const stage of ["zero1", "zero2", "zero3"] as Stage[]) assert.equal(total(1000, stage, 1), total(1000, "none", 1));
});
