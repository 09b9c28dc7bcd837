// Folds a run's events into what the run page draws: curves by step, checkpoints, warnings,
// errors, and the progress state the terminal view uses (src/progress/terminal.ts), so the ETA
// and the progress line here are the terminal's own.
import { initialProgress, reduceProgress, renderProgress, type ProgressState } from "../../../src/progress/terminal.ts";
import type { WhetEvent } from "../api.ts";
import { emptyGpu, type GpuSeries } from "./gpu.ts";

type Of<T extends WhetEvent["type"]> = Extract<WhetEvent, { type: T }>;

export const SERIES = [
  "loss", "lr", "grad_norm", "tokens_per_s", "step_time_s", "data_time_s", "mem_allocated_gib", "mem_reserved_gib", "mem_peak_gib",
  // Optional (engines that measure them): model FLOPs utilisation as a fraction, and the step's parts.
  "mfu", "fwd_bwd_time_s", "optimizer_time_s", "comm_wait_time_s",
] as const;
export type SeriesName = (typeof SERIES)[number];

export interface RunModel {
  progress: ProgressState;
  step: number[];
  series: Record<SeriesName, (number | null)[]>;
  /** Extra per-rank memory when a step event carries mem_reserved_gib_per_rank (one value per rank). */
  perRankMem: (number | null)[][];
  /** Per-GPU utilisation and memory over time (runs/<id>/gpu.jsonl), fed apart from the events. */
  gpu: GpuSeries;
  evals: Of<"eval">[];
  checkpoints: Of<"checkpoint">[];
  warnings: Of<"warning">[];
  errors: Of<"error">[];
  hellos: Of<"hello">[];
  done: Of<"done"> | null;
  skipped: string[];
}

export function emptyModel(): RunModel {
  return {
    progress: initialProgress(),
    step: [],
    series: Object.fromEntries(SERIES.map((k) => [k, []])) as unknown as RunModel["series"],
    perRankMem: [],
    gpu: emptyGpu(),
    evals: [],
    checkpoints: [],
    warnings: [],
    errors: [],
    hellos: [],
    done: null,
    skipped: [],
  };
}

/** A resume restarts after its checkpoint: later points of the earlier attempt are superseded. */
function truncateAfter(m: RunModel, step: number): void {
  let keep = m.step.length;
  while (keep > 0 && m.step[keep - 1]! > step) keep--;
  m.step.length = keep;
  for (const k of SERIES) m.series[k].length = keep;
  for (const r of m.perRankMem) r.length = keep;
  m.evals = m.evals.filter((e) => e.step <= step);
}

/** Applies one event in place (a live run sends thousands; copying each time would be slow). */
export function applyEvent(m: RunModel, e: WhetEvent): void {
  m.progress = reduceProgress(m.progress, e);
  switch (e.type) {
    case "hello":
      m.hellos.push(e);
      if (e.rank === 0) truncateAfter(m, e.start_step);
      break;
    case "step": {
      if (m.step.length && m.step[m.step.length - 1]! >= e.step) truncateAfter(m, e.step - 1);
      m.step.push(e.step);
      for (const k of SERIES) {
        const v = (e as Record<string, unknown>)[k];
        m.series[k].push(typeof v === "number" ? v : null);
      }
      const perRank = (e as Record<string, unknown>).mem_reserved_gib_per_rank;
      if (Array.isArray(perRank)) {
        perRank.forEach((v, r) => {
          m.perRankMem[r] ??= new Array(m.step.length - 1).fill(null);
          m.perRankMem[r]!.push(typeof v === "number" ? v : null);
        });
      }
      for (const r of m.perRankMem) while (r.length < m.step.length) r.push(null); // a step without them
      break;
    }
    case "eval":
      m.evals.push(e);
      break;
    case "checkpoint":
      m.checkpoints.push(e);
      break;
    case "warning":
      m.warnings.push(e);
      break;
    case "error":
      m.errors.push(e);
      break;
    case "done":
      m.done = e;
      break;
  }
}

/** The newest non-null value of a series, or null. */
export function latest(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i]!;
  return null;
}

export function eta(p: ProgressState): number {
  const done = p.step - p.startStep;
  if (done <= 0 || p.startTime === null || p.totalSteps === 0) return NaN;
  return ((p.lastTime - p.startTime) / done) * (p.totalSteps - p.step);
}

export function progressLine(p: ProgressState, now: number): string {
  return renderProgress(p, now);
}

/** The eval losses aligned to the step axis (null where no eval ran). */
export function evalSeries(m: RunModel): (number | null)[] {
  const at = new Map(m.evals.map((e) => [e.step, e.eval_loss]));
  return m.step.map((s) => at.get(s) ?? null);
}
