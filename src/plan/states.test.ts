// Model states against DeepSpeed's published ZeRO figures (Ψ = 7.5B parameters, N = 64 GPUs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEEPSPEED_MIXED, WHET_ADAPTER, WHET_FULL, modelStates, type Stage } from "./states.ts";

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

test("Whetstone full fine-tuning: fp32 grads, and zero3 keeps only fp32 shards (16Ψ/N)", () => {
  assert.equal(total(1000, "none", 8, WHET_FULL), 18_000);
  assert.equal(total(1000, "zero3", 8, WHET_FULL), 2_000);
  assert.equal(modelStates(1000, WHET_FULL, "zero3", 8).weights, 0);
});

test("LoRA adapters are fp32 and their own masters: 16 bytes per parameter", () => {
  assert.equal(total(1000, "none", 1, WHET_ADAPTER), 16_000);
  assert.equal(total(1000, "zero3", 4, WHET_ADAPTER), 4_000);
});

test("one GPU: every stage holds the same bytes as DDP", () => {
  for (const stage of ["zero1", "zero2", "zero3"] as Stage[]) assert.equal(total(1000, stage, 1), total(1000, "none", 1));
});
