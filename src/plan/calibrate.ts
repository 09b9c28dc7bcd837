// Fitting the planner's constants to measured runs, and judging the fit on held-out runs.
// Pure: bench/calibrate-memory.ts does the runs and file I/O. The target is torch's peak
// reserved memory (what the worker reports as mem_reserved_gib), which excludes the CUDA
// context and NCCL buffers, so those two constants are not fitted here.
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import { planRun, type PlanInput } from "./planner.ts";

export interface Measurement {
  id: string;
  input: PlanInput;
  /** Peak torch.cuda.max_memory_reserved over the run's steps, GiB. */
  reservedGiB: number;
}

export interface Comparison {
  n: number;
  medianAbsErrorGiB: number;
  worstAbsErrorGiB: number;
  worstId: string | null;
  rows: Array<{ id: string; predictedGiB: number; measuredGiB: number; errorGiB: number }>;
}

const GiB = 1024 ** 3;

export function predictReservedGiB(input: PlanInput, k: PlanConstants): number {
  return planRun(input, k).reservedPeak / GiB;
}

export function compare(ms: Measurement[], k: PlanConstants = DEFAULT_CONSTANTS): Comparison {
  const rows = ms.map((m) => {
    const predictedGiB = predictReservedGiB(m.input, k);
    return { id: m.id, predictedGiB, measuredGiB: m.reservedGiB, errorGiB: predictedGiB - m.reservedGiB };
  });
  const abs = rows.map((r) => Math.abs(r.errorGiB)).sort((a, b) => a - b);
  const worst = rows.reduce<(typeof rows)[number] | null>((w, r) => (!w || Math.abs(r.errorGiB) > Math.abs(w.errorGiB) ? r : w), null);
  const mid = abs.length / 2;
  const median = abs.length === 0 ? 0 : abs.length % 2 ? abs[Math.floor(mid)]! : (abs[mid - 1]! + abs[mid]!) / 2;
  return { n: rows.length, medianAbsErrorGiB: median, worstAbsErrorGiB: abs.at(-1) ?? 0, worstId: worst?.id ?? null, rows };
}

/** Every 4th measurement (by sorted id) is held out, so the split is stable across reruns. */
export function splitHeldOut(ms: Measurement[]): { train: Measurement[]; heldOut: Measurement[] } {
  const sorted = [...ms].sort((a, b) => a.id.localeCompare(b.id));
  return { train: sorted.filter((_, n) => n % 4 !== 3), heldOut: sorted.filter((_, n) => n % 4 === 3) };
}

interface Knob {
  name: string;
  min: number;
  max: number;
  get(k: PlanConstants): number;
  /** Sets the knob on k; `start` is the fit's starting point (for relative knobs). */
  set(k: PlanConstants, v: number, start: PlanConstants): PlanConstants;
}

// The constants a single-GPU measurement matrix can pin down. The block activation coefficients
// move together (one scale) because runs vary tokens, not the block's internal proportions.
// Fragmentation is left out: it multiplies activations and logits, so it cannot be told apart
// from their scales; the fitted byte counts absorb it ("effective reserved bytes").
const KNOBS: Knob[] = [
  {
    name: "activation scale",
    min: 0.25,
    max: 4,
    get: () => 1,
    set: (k, v, s) => ({ ...k, blockActivation: { hidden: s.blockActivation.hidden * v, kv: s.blockActivation.kv * v, mlp: s.blockActivation.mlp * v } }),
  },
  { name: "checkpointedBlockBytesPerHidden", min: 0.5, max: 16, get: (k) => k.checkpointedBlockBytesPerHidden, set: (k, v) => ({ ...k, checkpointedBlockBytesPerHidden: v }) },
  { name: "logitsKeptBytes", min: 1, max: 16, get: (k) => k.logitsKeptBytes, set: (k, v) => ({ ...k, logitsKeptBytes: v }) },
  { name: "logitsBackwardBytes", min: 0, max: 20, get: (k) => k.logitsBackwardBytes, set: (k, v) => ({ ...k, logitsBackwardBytes: v }) },
  { name: "lossChunkScratchBytes", min: 0, max: 40, get: (k) => k.lossChunkScratchBytes, set: (k, v) => ({ ...k, lossChunkScratchBytes: v }) },
  { name: "fp32ResidualExtraPerHidden", min: 0, max: 16, get: (k) => k.fp32ResidualExtraPerHidden, set: (k, v) => ({ ...k, fp32ResidualExtraPerHidden: v }) },
  { name: "optimizerStepScratchBytes", min: 0, max: 8, get: (k) => k.optimizerStepScratchBytes, set: (k, v) => ({ ...k, optimizerStepScratchBytes: v }) },
];

const clamp = (v: number, kn: Knob) => Math.min(kn.max, Math.max(kn.min, v));

/** Solves the small symmetric system A x = b by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const pivot = M[c]![c]!;
    if (Math.abs(pivot) < 1e-300) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / pivot;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  return M.map((row, i) => (Math.abs(row[i]!) < 1e-300 ? 0 : row[n]! / row[i]!));
}

/**
 * Damped Gauss-Newton on the knobs. The prediction is linear in every knob while the peak phase
 * stays the same, so each step is a small least-squares solve; the damping and a step-halving
 * line search handle the kinks where the peak moves to another phase. Deterministic.
 */
export function fitConstants(ms: Measurement[], start: PlanConstants = DEFAULT_CONSTANTS, iterations = 30): { constants: PlanConstants; sse: number } {
  const build = (th: number[]) => KNOBS.reduce((k, kn, j) => kn.set(k, th[j]!, start), start);
  const predict = (th: number[]) => {
    const k = build(th);
    return ms.map((m) => predictReservedGiB(m.input, k));
  };
  const sseOf = (pred: number[]) => pred.reduce((s, p, i) => s + (p - ms[i]!.reservedGiB) ** 2, 0);
  let theta = KNOBS.map((kn) => kn.get(start));
  let pred = predict(theta);
  let best = sseOf(pred);
  for (let it = 0; it < iterations && ms.length > 0; it++) {
    const r = pred.map((p, i) => p - ms[i]!.reservedGiB);
    const J = KNOBS.map((kn, j) => {
      const h = 1e-3 * Math.max(1, Math.abs(theta[j]!));
      const up = [...theta];
      up[j] = theta[j]! + h;
      return predict(up).map((p, i) => (p - pred[i]!) / h);
    });
    const JtJ = J.map((a) => J.map((b) => a.reduce((s, x, i) => s + x * b[i]!, 0)));
    const trace = JtJ.reduce((s, row, j) => s + row[j]!, 0);
    JtJ.forEach((row, j) => (row[j]! += 1e-6 * trace + 1e-12));
    const delta = solve(JtJ, J.map((col) => -col.reduce((s, x, i) => s + x * r[i]!, 0)));
    let improved = false;
    for (let step = 1; step > 1e-4; step /= 2) {
      const next = theta.map((t, j) => clamp(t + step * delta[j]!, KNOBS[j]!));
      const nextPred = predict(next);
      const e = sseOf(nextPred);
      if (e < best - 1e-12) {
        [theta, pred, best, improved] = [next, nextPred, e, true];
        break;
      }
    }
    if (!improved) break;
  }
  return { constants: build(theta), sse: best };
}
