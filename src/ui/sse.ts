// Server-sent events for one run: every event already in events.jsonl, then each new one as it is
// appended; `status` when the run's state changes; `end` once it is no longer running and the
// file is drained. The event id is the line number, so a reconnect (Last-Event-ID) resumes.
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { LineTail } from "../launch/tail.ts";
import { parseEventLine } from "../events/schema.ts";
import { readSummary } from "../runs/store.ts";

export interface StreamOptions {
  runsDir: string;
  id: string;
  dir: string;
  pollMs?: number;
}

export function streamRun(req: IncomingMessage, res: ServerResponse, opts: StreamOptions): void {
  const pollMs = opts.pollMs ?? 300;
  const resumeAfter = Number(req.headers["last-event-id"] ?? 0) || 0;
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  });
  res.write("retry: 2000\n\n");
  const tail = new LineTail(join(opts.dir, "events.jsonl"));
  let line = 0;
  let lastStatus = "";
  let lastBeat = Date.now();
  let closed = false;
  let ticks = 0;

  const send = (event: string, data: string, id?: number) => {
    res.write(`${id !== undefined ? `id: ${id}\n` : ""}event: ${event}\ndata: ${data}\n\n`);
  };
  const drain = (): number => {
    const lines = tail.poll();
    for (const text of lines) {
      line += 1;
      if (line <= resumeAfter) continue;
      const p = parseEventLine(text);
      if (p.ok) send("whet", JSON.stringify(p.event), line);
      else send("skipped", JSON.stringify({ line, reason: p.reason }), line);
    }
    return lines.length;
  };
  const tick = () => {
    if (closed) return;
    const arrived = drain();
    if (Date.now() - lastBeat > 15_000) {
      res.write(": keep-alive\n\n");
      lastBeat = Date.now();
    }
    // The summary re-reads the whole file: only when something arrived, or every few ticks.
    if (arrived === 0 && ticks++ % 5 !== 0) return;
    const summary = readSummary(opts.runsDir, opts.id);
    const key = summary ? `${summary.status}|${summary.status_reason}` : "gone";
    if (key !== lastStatus) {
      lastStatus = key;
      send("status", JSON.stringify(summary ?? null));
    }
    if (!summary || summary.status !== "running") {
      drain(); // whatever was appended while the summary was read
      send("end", JSON.stringify(summary ?? null));
      stop();
      res.end();
      return;
    }
  };
  const timer = setInterval(tick, pollMs);
  const stop = () => {
    closed = true;
    clearInterval(timer);
    tail.close();
  };
  req.on("close", stop);
  tick();
}
