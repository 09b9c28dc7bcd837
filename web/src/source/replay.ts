// Replay: the saved events of a run, read once from /api/runs/<id>/events.
import { get, runPath, type EventsFile, type RunSummary } from "../api.ts";
import type { RunSource, SourceHandlers } from "./types.ts";

export class ReplaySource implements RunSource {
  readonly kind = "replay";
  private closed = false;

  constructor(private readonly id: string) {}

  start(h: SourceHandlers): void {
    Promise.all([get<EventsFile>(`${runPath(this.id)}/events`), get<RunSummary>(`${runPath(this.id)}/summary`)])
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
  }
}

