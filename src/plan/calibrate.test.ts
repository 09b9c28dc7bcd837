// The fit step recovers constants from synthetic measurements made with known constants, keeps
// what the runs cannot see where it was, never looks at held-out runs, and the comparison
// reports median and worst errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compare, fitAndCompare, fitConstants, predictReservedGiB, splitHeldOut, type Measurement } from "./calibrate.ts";
import { FIRST_PRINCIPLES, type PlanConstants } from "./constants.ts";
import type { PlanInput } from "./planner.ts";
import { KNOWN_SHAPES } from "./shape.ts";

const GiB = 1024 ** 3;

function matrix(): PlanInput[] {
  const out: PlanInput[] = [];
  for (const shape of [KNOWN_SHAPES["SmolLM2-135M"]!, KNOWN_SHAPES["Llama-3-8B"]!]) {
    for (const method of [{ kind: "full" }, { kind: "lora", rank: 8, targets: ["all"] }] as PlanInput["method"][]) {
      for (const stage of ["none", "zero3"] as const) {
        for (const checkpointing of [{ mode: "none" }, { mode: "full" }] as PlanInput["checkpointing"][]) {
          for (const [microBatch, seqLen] of [[1, 512], [1, 2048], [4, 2048]] as const) {
            if (shape.hidden > 2000 && method.kind === "full") continue; // 8B full does not fit one GPU
            out.push({ shape, method, computeBytes: 2, stage, offload: "none", world: 1, microBatch, seqLen, gradientAccumulation: 1, checkpointing, attention: "flash", loss: "fused" });
          }
        }
      }
    }
  }
  return out;
}

const truth: PlanConstants = {
  ...FIRST_PRINCIPLES,
  activationFactor: { none: 1.12, backward: 0.5 },
  fragmentation: { churn: 1.08, logits: 1.6, buffers: 2.2 },
  runtimeBytes: 0.3 * GiB,
};

const measured = (k: PlanConstants) => matrix().map((input, n): Measurement => ({ id: `run-${String(n).padStart(2, "0")}`, input, reservedGiB: predictReservedGiB(input, k), split: n % 3 === 2 ? "held-out" : "fit" }));

test("fitConstants recovers a known truth from noiseless measurements", () => {
  const ms = measured(truth);
  const { train, heldOut } = splitHeldOut(ms);
  assert.equal(train.length + heldOut.length, ms.length);
  assert.ok(heldOut.length >= 10);
  const before = compare(heldOut, FIRST_PRINCIPLES);
  const fitted = fitConstants(train);
  const after = compare(heldOut, fitted.constants);
  assert.ok(before.worstAbsErrorPct > 5, `the truth must be far from first principles: ${before.worstAbsErrorPct}%`);
  assert.ok(after.worstAbsErrorPct < 0.5, `worst ${after.worstAbsErrorPct}% (${after.worstId})`);
  assert.ok(Math.abs(fitted.fitted.activationFactor.none - 1.12) < 0.02, JSON.stringify(fitted.fitted));
});

test("held-out runs never touch the fit", () => {
  const ms = measured(truth);
  const a = fitAndCompare(ms);
  const shifted = ms.map((m) => (m.split === "held-out" ? { ...m, reservedGiB: m.reservedGiB * 1.5 } : m));
  const b = fitAndCompare(shifted);
  assert.deepEqual(b.fit.constants, a.fit.constants);
  assert.deepEqual(b.fit.train_ids, a.fit.train_ids);
  assert.ok(b.compare.after.medianAbsErrorPct > 25);
});

test("a factor the runs cannot see stays where first principles put it", () => {
  // No zero3 run: nothing is gathered, so the FSDP2 buffers' fragmentation is invisible.
  const ms = measured(truth).filter((m) => m.input.stage === "none");
  const f = fitConstants(ms);
  assert.ok(Math.abs(f.fitted.fragmentation.buffers - FIRST_PRINCIPLES.fragmentation.buffers) < 1e-6, `${f.fitted.fragmentation.buffers}`);
});

test("results without a planned split hold out every 4th run by id", () => {
  const ms = measured(truth).map(({ split: _split, ...m }) => m);
  const { train, heldOut } = splitHeldOut(ms);
  assert.equal(heldOut.length, Math.floor(ms.length / 4));
  assert.equal(train.length + heldOut.length, ms.length);
});

test("compare: median and worst absolute error, in GiB and in percent of the measurement", () => {
  const input = matrix()[0]!;
  const p = predictReservedGiB(input, FIRST_PRINCIPLES);
  const r = compare(
    [
      { id: "a", input, reservedGiB: p / 0.9 }, // predicted 10% low
      { id: "b", input, reservedGiB: p / 1.3 }, // 30% high
      { id: "c", input, reservedGiB: p / 1.02 },
    ],
    FIRST_PRINCIPLES,
  );
  assert.equal(r.n, 3);
  assert.ok(Math.abs(r.medianAbsErrorPct - 10) < 1e-9, `${r.medianAbsErrorPct}`);
  assert.ok(Math.abs(r.worstAbsErrorPct - 30) < 1e-9);
  assert.equal(r.worstId, "b");
  assert.ok(Math.abs(r.rows[0]!.errorGiB - (p - p / 0.9)) < 1e-9);
});
