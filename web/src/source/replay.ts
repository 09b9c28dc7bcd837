// Replay: the saved events of a run, read once from /api/runs/<id>/events, and its GPU samples.
import { get, runPath, type EventsFile, type RunSummary } from "../api.ts";
import { GpuFeed } from "./gpu.ts";
import type { RunSource, SourceHandlers } from "./types.ts";

export class ReplaySource implements RunSource {
  readonly kind = "replay";
  private closed = false;
  private gpu: GpuFeed | undefined;

  constructor(
    private readonly id: string,
    private readonly withGpu = true,
  ) {}

  start(h: SourceHandlers): void {
    this.gpu = new GpuFeed(this.id, (s) => h.onGpu(s));
    Promise.all([
      get<EventsFile>(`${runPath(this.id)}/events`),
      get<RunSummary>(`${runPath(this.id)}/summary`),
      this.withGpu ? this.gpu.once() : Promise.resolve(),
    ])
      .then(([file, summary]) => {
        if (this.closed) return;
        for (const e of file.events) h.onEvent(e);
        for (const s of file.skipped) h.onSkipped(`line ${s.line}: ${s.reason}`);
        h.onStatus(summary);
        h.onEnd(summary);
      })
      .catch((e: Error) => h.onError(e.message));
  }

  close(): void {
    this.closed = true;
    this.gpu?.close();
  }
}
