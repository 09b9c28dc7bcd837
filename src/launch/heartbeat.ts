// The stall watchdog's inputs and its decision. Each rank's heartbeat thread
// (worker/whet_worker/watch.py) rewrites logs/heartbeat/rank-K.json every second with its step,
// its phase and when they last changed; a rank that beats but does not move is stalled. The
// decision is pure (beats and a clock in, a verdict out) so it is tested without processes.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Beat {
  rank: number;
  pid: number;
  host: string;
  step: number | null;
  /** setup, data, forward, backward, optimizer, checkpoint, export, or exited (left on its own). */
  phase: string;
  /** Unix seconds of this beat and of the last change of step or phase. */
  time: number;
  progress_time: number;
  exit_code: number | null;
}

export const PHASE_ORDER = ["setup", "data", "forward", "backward", "optimizer", "eval", "checkpoint", "export", "exited"];

export function readBeats(dir: string): Beat[] {
  if (!existsSync(dir)) return [];
  const beats: Beat[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^rank-\d+\.json$/.test(name)) continue;
    try {
      const b = JSON.parse(readFileSync(join(dir, name), "utf8")) as Beat;
      if (Number.isInteger(b.rank) && Number.isInteger(b.pid)) beats.push(b);
    } catch {
      // being replaced right now; the next poll reads it
    }
  }
  return beats.sort((a, b) => a.rank - b.rank);
}

export interface StallPolicy {
  /** No progress for factor × the median step time... */
  factor: number;
  /** ...but never less than this many seconds. */
  floorS: number;
  /** Phases without a step time to go by (setup, checkpoint, export, the first step): this long.
   *  Kept above the collective timeout, so a hung collective there ends as NCCL's own error. */
  slowPhaseS: number;
}

export const DEFAULT_STALL: StallPolicy = { factor: 10, floorS: 120, slowPhaseS: 900 };

const SLOW_PHASES = new Set(["setup", "eval", "checkpoint", "export"]);

export function stallTimeoutS(policy: StallPolicy, medianStepS: number | null, phase: string): number {
  if (medianStepS === null || SLOW_PHASES.has(phase)) return Math.max(policy.slowPhaseS, policy.floorS);
  return Math.max(policy.factor * medianStepS, policy.floorS);
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The rank furthest behind: the lowest step, then the earliest phase. */
export function behind(beats: Beat[]): Beat | null {
  const key = (b: Beat) => (b.step ?? -1) * 100 + PHASE_ORDER.indexOf(b.phase);
  return beats.reduce<Beat | null>((min, b) => (min === null || key(b) < key(min) ? b : min), null);
}

export interface Stall {
  /** The rank furthest behind, which the message names. */
  rank: Beat;
  /** Every rank still running, as last seen. */
  ranks: Beat[];
  stuckS: number;
  timeoutS: number;
  /** True when every running rank stands at the same step and phase (a collective, not one rank). */
  together: boolean;
  /** How the rank behind was told apart, when not by its step and phase alone. */
  why?: string;
}

export function findStall(beats: Beat[], nowS: number, medianStepS: number | null, policy: StallPolicy): Stall | null {
  const running = beats.filter((b) => b.phase !== "exited");
  let trigger: { stuckS: number; timeoutS: number } | null = null;
  for (const b of running) {
    const stuckS = nowS - b.progress_time;
    const timeoutS = stallTimeoutS(policy, medianStepS, b.phase);
    if (stuckS > timeoutS && (trigger === null || stuckS > trigger.stuckS)) trigger = { stuckS, timeoutS };
  }
  if (!trigger) return null;
  const first = running[0]!;
  const together = running.every((b) => b.step === first.step && b.phase === first.phase);
  return { rank: behind(running)!, ranks: running, ...trigger, together };
}

/** Step durations seen through the beats: rank K moved from step a to step b in t seconds. */
export class StepClock {
  private last = new Map<number, { step: number; time: number }>();
  readonly samples: number[] = [];

  observe(b: Beat): void {
    if (b.step === null) return;
    const prev = this.last.get(b.rank);
    if (prev && b.step > prev.step && b.progress_time > prev.time) this.add((b.progress_time - prev.time) / (b.step - prev.step));
    if (!prev || b.step !== prev.step) this.last.set(b.rank, { step: b.step, time: b.progress_time });
  }

  add(seconds: number): void {
    this.samples.push(seconds);
    if (this.samples.length > 50) this.samples.shift();
  }

  median(): number | null {
    return median(this.samples);
  }
}
