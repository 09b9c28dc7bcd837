// The live progress line: step/total, loss, learning rate, tokens/s, MFU (when the worker reports
// it), elapsed, ETA, peak memory.
// It renders the same events the dashboard and `--json` carry.
import type { WhetEvent } from "../events/schema.ts";
import { count, duration, loss, sci } from "./format.ts";

export interface ProgressState {
  startTime: number | null;
  step: number;
  totalSteps: number;
  loss: number | null;
  firstLoss: number | null;
  lr: number;
  tokensPerS: number;
  /** Model FLOPs utilisation as a fraction, from step events that carry `mfu`. */
  mfu: number | null;
  memPeakGib: number;
  startStep: number;
  lastTime: number;
}

export function initialProgress(): ProgressState {
  return { startTime: null, step: 0, totalSteps: 0, loss: null, firstLoss: null, lr: 0, tokensPerS: 0, mfu: null, memPeakGib: 0, startStep: 0, lastTime: 0 };
}

/** Folds one event into the view state (pure). */
export function reduceProgress(s: ProgressState, e: WhetEvent): ProgressState {
  switch (e.type) {
    case "hello":
      return e.rank === 0 ? { ...s, startTime: s.startTime ?? e.time, startStep: e.start_step, step: e.start_step, lastTime: e.time } : s;
    case "step":
      return {
        ...s,
        startTime: s.startTime ?? e.time - e.step_time_s,
        step: e.step,
        totalSteps: e.total_steps,
        loss: e.loss,
        firstLoss: s.firstLoss ?? e.loss,
        lr: e.lr,
        tokensPerS: e.tokens_per_s,
        mfu: typeof e.mfu === "number" ? e.mfu : s.mfu,
        memPeakGib: Math.max(s.memPeakGib, e.mem_peak_gib),
        lastTime: e.time,
      };
    default:
      return s;
  }
}

export function renderProgress(s: ProgressState, now = Date.now() / 1000): string {
  if (s.totalSteps === 0) return "starting workers...";
  const elapsed = s.startTime === null ? 0 : now - s.startTime;
  const done = s.step - s.startStep;
  const perStep = done > 0 && s.startTime !== null ? (s.lastTime - s.startTime) / done : NaN;
  const eta = perStep * (s.totalSteps - s.step);
  const parts = [
    `step ${s.step}/${s.totalSteps}`,
    `loss ${loss(s.loss)}`,
    `lr ${sci(s.lr)}`,
    `${count(s.tokensPerS)} tok/s`,
    ...(s.mfu !== null ? [`MFU ${(s.mfu * 100).toFixed(1)}%`] : []),
    `elapsed ${duration(elapsed)}`,
    `ETA ${duration(eta)}`,
  ];
  if (s.memPeakGib > 0) parts.push(`peak ${s.memPeakGib.toFixed(2)} GiB`);
  return parts.join(" | ");
}

/** Writes the progress line in place on a terminal, or one line per logged step elsewhere. */
export class TerminalProgress {
  private state = initialProgress();
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(out.isTTY);
  }

  onEvent(e: WhetEvent): void {
    this.state = reduceProgress(this.state, e);
    if (e.type === "step") this.draw();
    else if (e.type === "checkpoint") this.line(`checkpoint: step ${e.step} saved to ${e.path}`);
    else if (e.type === "warning") this.line(`warning (rank ${e.rank}): ${e.message}`);
    else if (e.type === "error") this.line(`error (rank ${e.rank}, ${e.code}): ${e.message}`);
  }

  note(text: string): void {
    this.line(text);
  }

  get current(): ProgressState {
    return this.state;
  }

  finish(): void {
    if (this.tty) this.out.write("\n");
  }

  private draw(): void {
    const text = renderProgress(this.state);
    if (this.tty) this.out.write(`\r\x1b[2K${text}`);
    else this.out.write(text + "\n");
  }

  private line(text: string): void {
    if (this.tty) this.out.write(`\r\x1b[2K${text}\n`);
    else this.out.write(text + "\n");
    if (this.tty && this.state.totalSteps > 0) this.draw();
  }
}
