// The fit step recovers constants from synthetic measurements made with known constants, and the
// comparison reports median and worst absolute error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compare, fitConstants, predictReservedGiB, splitHeldOut, type Measurement } from "./calibrate.ts";
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import type { PlanInput } from "./planner.ts";
import { KNOWN_SHAPES } from "./shape.ts";

function matrix(): PlanInput[] {
  const out: PlanInput[] = [];
  for (const shape of [KNOWN_SHAPES["SmolLM2-135M"]!, KNOWN_SHAPES["Llama-3-8B"]!]) {
    for (const method of [{ kind: "full" }, { kind: "lora", rank: 8, targets: ["all"] }] as PlanInput["method"][]) {
      for (const checkpointing of [{ mode: "none" }, { mode: "full" }] as PlanInput["checkpointing"][]) {
        for (const [microBatch, seqLen] of [[1, 512], [1, 2048], [4, 2048]] as const) {
          out.push({ shape, method, computeBytes: 2, stage: "none", offload: "none", world: 1, microBatch, seqLen, gradientAccumulation: 1, checkpointing, attention: "sdpa", loss: "plain" });
        }
      }
    }
  }
  return out;
}

test("fitConstants recovers a known truth from noiseless measurements", () => {
  const truth: PlanConstants = {
    ...DEFAULT_CONSTANTS,
    blockActivation: { hidden: 30, kv: 6, mlp: 12 },
    checkpointedBlockBytesPerHidden: 4,
    logitsKeptBytes: 8,
  };
  const ms: Measurement[] = matrix().map((input, n) => ({ id: `run-${String(n).padStart(2, "0")}`, input, reservedGiB: predictReservedGiB(input, truth) }));
  const { train, heldOut } = splitHeldOut(ms);
  assert.equal(train.length + heldOut.length, ms.length);
  assert.ok(heldOut.length >= 5);
  const before = compare(heldOut);
  const fitted = fitConstants(train);
  const after = compare(heldOut, fitted.constants);
  assert.ok(after.medianAbsErrorGiB < before.medianAbsErrorGiB);
  assert.ok(after.worstAbsErrorGiB < 0.25, `worst ${after.worstAbsErrorGiB} GiB (${after.worstId})`);
});

test("compare: median and worst absolute error", () => {
  const input = matrix()[0]!;
  const p = predictReservedGiB(input, DEFAULT_CONSTANTS);
  const r = compare([
    { id: "a", input, reservedGiB: p - 1 },
    { id: "b", input, reservedGiB: p + 3 },
    { id: "c", input, reservedGiB: p + 0.5 },
  ]);
  assert.equal(r.n, 3);
  assert.ok(Math.abs(r.medianAbsErrorGiB - 1) < 1e-9);
  assert.ok(Math.abs(r.worstAbsErrorGiB - 3) < 1e-9);
  assert.equal(r.worstId, "b");
});
