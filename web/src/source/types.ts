// One client interface for a run's events, with two implementations: live (server-sent events
// while the run goes on) and replay (the saved events.jsonl of a finished run). Pages only see
// this interface, so a run page works the same either way.
import type { GpuRecord, RunSummary, WhetEvent } from "../api.ts";

export interface SourceHandlers {
  onEvent(e: WhetEvent): void;
  onSkipped(reason: string): void;
  /** GPU samples (runs/<id>/gpu.jsonl), in the order written; a sample may come twice. */
  onGpu(samples: GpuRecord[]): void;
  onStatus(s: RunSummary | null): void;
  /** No more events will come (the run is not running, or the replay is complete). */
  onEnd(s: RunSummary | null): void;
  onError(message: string): void;
}

export interface RunSource {
  readonly kind: "live" | "replay";
  start(h: SourceHandlers): void;
  close(): void;
}
