// Live: /api/runs/<id>/stream. The server replays what is saved, then follows the file;
// EventSource reconnects on its own and the server resumes after Last-Event-ID. GPU samples are
// polled beside it (source/gpu.ts) until the run ends.
import { runPath } from "../api.ts";
import { GpuFeed } from "./gpu.ts";
import type { RunSource, SourceHandlers } from "./types.ts";

export class LiveSource implements RunSource {
  readonly kind = "live";
  private es: EventSource | undefined;
  private gpu: GpuFeed | undefined;

  constructor(private readonly id: string) {}

  start(h: SourceHandlers): void {
    const es = new EventSource(`${runPath(this.id)}/stream`);
    this.es = es;
    const gpu = new GpuFeed(this.id, (s) => h.onGpu(s));
    this.gpu = gpu;
    gpu.follow();
    es.addEventListener("whet", (m) => h.onEvent(JSON.parse((m as MessageEvent).data)));
    es.addEventListener("skipped", (m) => h.onSkipped(JSON.parse((m as MessageEvent).data).reason));
    es.addEventListener("status", (m) => h.onStatus(JSON.parse((m as MessageEvent).data)));
    es.addEventListener("end", (m) => {
      es.close();
      h.onEnd(JSON.parse((m as MessageEvent).data));
      // The last samples, written as the run wound down; then no more polling.
      void gpu.once().then(() => gpu.close());
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) h.onError("the live connection to the server closed.");
    };
  }

  close(): void {
    this.es?.close();
    this.gpu?.close();
  }
}
