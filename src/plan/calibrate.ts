// Fitting the planner's constants to measured runs, and judging the fit on held-out runs.
// Pure: bench/calibrate-memory.ts does the runs and file I/O. The target is torch's peak
// reserved memory (what the worker reports as mem_reserved_gib), which excludes the CUDA
// context and NCCL buffers, so those two constants are not fitted here.
import { DEFAULT_CONSTANTS, FIRST_PRINCIPLES, fittedOf, type FittedConstants, type PlanConstants } from "./constants.ts";
import { planRun, type PlanInput } from "./planner.ts";

export type Split = "fit" | "held-out";

export interface Measurement {
  id: string;
  input: PlanInput;
  /** Peak torch.cuda.memory_reserved over the run's steps, GiB. */
  reservedGiB: number;
  /** Peak torch.cuda.max_memory_allocated, GiB, when recorded. */
  allocatedGiB?: number | null;
  /** torch.cuda.memory_allocated between steps (weights, optimizer states, the runtime's own
   * bytes), GiB, when recorded. */
  allocatedAfterStepGiB?: number | null;
  /** Which side of the comparison the run was planned for; absent in older results. */
  split?: Split;
}

export interface ComparisonRow {
  id: string;
  predictedGiB: number;
  measuredGiB: number;
  errorGiB: number;
  /** (predicted − measured) / measured, in percent. */
  errorPct: number;
  predictedAllocatedGiB: number;
  measuredAllocatedGiB: number | null;
}

export interface Comparison {
  n: number;
  medianAbsErrorGiB: number;
  worstAbsErrorGiB: number;
  medianAbsErrorPct: number;
  worstAbsErrorPct: number;
  /** The run with the largest relative error. */
  worstId: string | null;
  rows: ComparisonRow[];
}

const GiB = 1024 ** 3;

export function predictReservedGiB(input: PlanInput, k: PlanConstants): number {
  return planRun(input, k).reservedPeak / GiB;
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  if (a.length === 0) return 0;
  const mid = a.length / 2;
  return a.length % 2 ? a[Math.floor(mid)]! : (a[mid - 1]! + a[mid]!) / 2;
}

export function compare(ms: Measurement[], k: PlanConstants = DEFAULT_CONSTANTS): Comparison {
  const rows = ms.map((m): ComparisonRow => {
    const plan = planRun(m.input, k);
    const predictedGiB = plan.reservedPeak / GiB;
    return {
      id: m.id,
      predictedGiB,
      measuredGiB: m.reservedGiB,
      errorGiB: predictedGiB - m.reservedGiB,
      errorPct: (100 * (predictedGiB - m.reservedGiB)) / m.reservedGiB,
      predictedAllocatedGiB: plan.allocatedPeak / GiB,
      measuredAllocatedGiB: m.allocatedGiB ?? null,
    };
  });
  const worst = rows.reduce<ComparisonRow | null>((w, r) => (!w || Math.abs(r.errorPct) > Math.abs(w.errorPct) ? r : w), null);
  return {
    n: rows.length,
    medianAbsErrorGiB: median(rows.map((r) => Math.abs(r.errorGiB))),
    worstAbsErrorGiB: Math.max(0, ...rows.map((r) => Math.abs(r.errorGiB))),
    medianAbsErrorPct: median(rows.map((r) => Math.abs(r.errorPct))),
    worstAbsErrorPct: Math.max(0, ...rows.map((r) => Math.abs(r.errorPct))),
    worstId: worst?.id ?? null,
    rows,
  };
}

/** The split each run was planned for; older results without one hold out every 4th by sorted id. */
export function splitHeldOut(ms: Measurement[]): { train: Measurement[]; heldOut: Measurement[] } {
  if (ms.length > 0 && ms.every((m) => m.split)) {
    return { train: ms.filter((m) => m.split === "fit"), heldOut: ms.filter((m) => m.split === "held-out") };
  }
  const sorted = [...ms].sort((a, b) => a.id.localeCompare(b.id));
  return { train: sorted.filter((_, n) => n % 4 !== 3), heldOut: sorted.filter((_, n) => n % 4 === 3) };
}

interface Knob {
  name: string;
  min: number;
  max: number;
  /** A typical size of the knob: the prior's width and the step of the numeric derivative. */
  scale: number;
  get(k: PlanConstants): number;
  set(k: PlanConstants, v: number): PlanConstants;
}

// The constants a single-GPU measurement matrix can pin down: how far the counted activations
// are from what the GPU holds, one block's backward temporaries, the loss chunk's scratch, how
// much the caching allocator reserves beyond what is allocated, and the runtime's own bytes.
// Byte counts that follow from the model's shape stay first principles.
export const KNOBS: Knob[] = [
  { name: "activationFactor.none", min: 0.5, max: 2, scale: 0.1, get: (k) => k.activationFactor.none, set: (k, v) => ({ ...k, activationFactor: { ...k.activationFactor, none: v } }) },
  { name: "activationFactor.backward", min: 0, max: 3, scale: 0.2, get: (k) => k.activationFactor.backward, set: (k, v) => ({ ...k, activationFactor: { ...k.activationFactor, backward: v } }) },
  { name: "lossChunkScratchBytes", min: 4, max: 24, scale: 2, get: (k) => k.lossChunkScratchBytes, set: (k, v) => ({ ...k, lossChunkScratchBytes: v }) },
  { name: "fragmentation.churn", min: 1, max: 1.5, scale: 0.05, get: (k) => k.fragmentation.churn, set: (k, v) => ({ ...k, fragmentation: { ...k.fragmentation, churn: v } }) },
  { name: "fragmentation.logits", min: 1, max: 2.5, scale: 0.2, get: (k) => k.fragmentation.logits, set: (k, v) => ({ ...k, fragmentation: { ...k.fragmentation, logits: v } }) },
  { name: "fragmentation.buffers", min: 1, max: 4, scale: 0.3, get: (k) => k.fragmentation.buffers, set: (k, v) => ({ ...k, fragmentation: { ...k.fragmentation, buffers: v } }) },
  { name: "rootReduceFresh", min: 0, max: 1, scale: 0.2, get: (k) => k.rootReduceFresh, set: (k, v) => ({ ...k, rootReduceFresh: v }) },
  { name: "runtimeBytes", min: 0, max: 2 * GiB, scale: 0.1 * GiB, get: (k) => k.runtimeBytes, set: (k, v) => ({ ...k, runtimeBytes: v }) },
  { name: "reserveSlackBytes", min: 0, max: 2 * GiB, scale: 0.1 * GiB, get: (k) => k.reserveSlackBytes, set: (k, v) => ({ ...k, reserveSlackBytes: v }) },
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

export interface FitResult {
  constants: PlanConstants;
  fitted: FittedConstants;
  /** Root mean square of the relative errors of reserved memory on the runs fitted, in percent. */
  rmsErrorPct: number;
  iterations: number;
}

/**
 * Levenberg-Marquardt on the knobs (in units of their scales), minimising the squared relative
 * errors of the predicted reserved peaks and, where measured, of the allocated peaks and of what
 * stays allocated between steps, plus a weak pull towards the starting values (`prior`),
 * so a knob the runs cannot see stays where first principles put it. The prediction is piecewise
 * linear in every knob (linear while the peak phase stays the same); the adaptive damping handles
 * the kinks where the peak moves to another phase. Bounds are kept by clamping. Deterministic.
 */
export function fitConstants(ms: Measurement[], start: PlanConstants = FIRST_PRINCIPLES, opts: { iterations?: number; prior?: number } = {}): FitResult {
  const iterations = opts.iterations ?? 200;
  const prior = opts.prior ?? 1e-3;
  const theta0 = KNOBS.map((kn) => kn.get(start));
  const build = (th: number[]) => KNOBS.reduce((k, kn, j) => kn.set(k, th[j]!), start);
  // Peak allocated memory, where measured, pins the byte counts; what stays allocated between
  // steps pins the runtime's own bytes beside the states; reserved adds the allocator's share.
  const has = (x: number | null | undefined): x is number => x != null && x > 0;
  const residuals = (th: number[]) => {
    const k = build(th);
    const plans = ms.map((m) => planRun(m.input, k));
    const rel = (predicted: number, measured: number) => (predicted / GiB - measured) / measured;
    const reserved = ms.map((m, i) => rel(plans[i]!.reservedPeak, m.reservedGiB));
    const allocated = ms.flatMap((m, i) => (has(m.allocatedGiB) ? [rel(plans[i]!.allocatedPeak, m.allocatedGiB)] : []));
    const afterStep = ms.flatMap((m, i) => (has(m.allocatedAfterStepGiB) ? [rel(plans[i]!.allocatedAfterStep, m.allocatedAfterStepGiB)] : []));
    return [...reserved, ...allocated, ...afterStep, ...KNOBS.map((kn, j) => (prior * (th[j]! - theta0[j]!)) / kn.scale)];
  };
  const cost = (r: number[]) => r.reduce((s, x) => s + x * x, 0);
  let theta = [...theta0];
  let r = residuals(theta);
  let best = cost(r);
  let lambda = 1e-3;
  let it = 0;
  for (; it < iterations && ms.length > 0; it++) {
    // Jacobian in scaled units: d residual / d (theta_j / scale_j).
    const J = KNOBS.map((kn, j) => {
      const h = 1e-4;
      const up = [...theta];
      up[j] = theta[j]! + h * kn.scale;
      return residuals(up).map((x, i) => (x - r[i]!) / h);
    });
    const JtJ = J.map((a) => J.map((b) => a.reduce((s, x, i) => s + x * b[i]!, 0)));
    const g = J.map((col) => -col.reduce((s, x, i) => s + x * r[i]!, 0));
    let improved = false;
    for (let tries = 0; tries < 12 && !improved; tries++) {
      const A = JtJ.map((row, j) => row.map((x, c) => (c === j ? x + lambda * (x + 1e-9) : x)));
      const delta = solve(A, g);
      const next = theta.map((t, j) => clamp(t + delta[j]! * KNOBS[j]!.scale, KNOBS[j]!));
      const nr = residuals(next);
      const e = cost(nr);
      if (e < best - 1e-15) {
        [theta, r, best, improved] = [next, nr, e, true];
        lambda = Math.max(1e-9, lambda / 3);
      } else {
        lambda *= 4;
      }
    }
    if (!improved) break;
  }
  const constants = build(theta);
  const rel = r.slice(0, ms.length); // the reserved errors
  return { constants, fitted: fittedOf(constants), rmsErrorPct: 100 * Math.sqrt(rel.reduce((s, x) => s + x * x, 0) / Math.max(1, rel.length)), iterations: it };
}

export interface CalibrationReport {
  fit: { knobs: string[]; constants: FittedConstants; train_ids: string[]; held_out_ids: string[]; rms_error_pct: number; iterations: number };
  compare: {
    /** Held-out runs with first-principles constants, and with the fitted ones. */
    before: Comparison;
    after: Comparison;
    /** The fitted runs themselves, with the fitted constants (how well the model can follow them). */
    train_after: Comparison;
  };
}

/** Fits on the runs planned for fitting and compares on the held-out ones, which the fit never sees. */
export function fitAndCompare(ms: Measurement[], start: PlanConstants = FIRST_PRINCIPLES): CalibrationReport {
  const { train, heldOut } = splitHeldOut(ms);
  const fitted = fitConstants(train, start);
  return {
    fit: {
      knobs: KNOBS.map((k) => k.name),
      constants: fitted.fitted,
      train_ids: train.map((m) => m.id),
      held_out_ids: heldOut.map((m) => m.id),
      rms_error_pct: fitted.rmsErrorPct,
      iterations: fitted.iterations,
    },
    compare: { before: compare(heldOut, start), after: compare(heldOut, fitted.constants), train_after: compare(train, fitted.constants) },
  };
}
