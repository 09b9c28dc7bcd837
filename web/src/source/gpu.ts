// GPU samples come from their own file (runs/<id>/gpu.jsonl, written by whet train's sampler, not
// by the worker), read through /api/runs/<id>/gpu from a byte offset: a live run polls it, a
// replay reads it once. A failed poll is retried at the next tick; GPU charts are not worth an
// error on the page.
import { get, runPath, type GpuFile, type GpuRecord } from "../api.ts";

export const GPU_POLL_MS = 3000;

export class GpuFeed {
  private next = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly id: string,
    private readonly onGpu: (samples: GpuRecord[]) => void,
  ) {}

  /** Reads what is there now; resolves when it has been delivered. */
  async once(): Promise<void> {
    try {
      const f = await get<GpuFile>(`${runPath(this.id)}/gpu?from=${this.next}`);
      if (this.closed) return;
      this.next = f.next;
      if (f.samples.length) this.onGpu(f.samples);
    } catch {
      // retried at the next poll
    }
  }

  /** Polls until close(). */
  follow(): void {
    const tick = () => {
      void this.once().then(() => {
        if (!this.closed) this.timer = setTimeout(tick, GPU_POLL_MS);
      });
    };
    tick();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
