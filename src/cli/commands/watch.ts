// `whet watch [RUN_DIR]`: the terminal progress view of a run started elsewhere (another
// terminal, the dashboard), live while it runs, replayed when it has finished.
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { WhetError } from "../../errors.ts";
import { parse } from "../args.ts";
import { LineTail } from "../../launch/tail.ts";
import { parseEventLine } from "../../events/schema.ts";
import { TerminalProgress } from "../../progress/terminal.ts";
import { loss } from "../../progress/format.ts";
import { isRunDir, newestRunDir, readSummary, type RunSummary } from "../../runs/store.ts";
import type { Command } from "./index.ts";

const OPTIONS = { "runs-dir": { type: "string" } } as const;

const HELP = `Usage: whet watch [RUN_DIR] [--runs-dir DIR]

Shows a run's progress as 'whet train' does: step, loss, learning rate, tokens/s, ETA,
checkpoints, warnings and errors. Follows a running run and exits when it ends (done, an error,
or its process is gone); a finished run is replayed. Ctrl-C stops watching, not the run.

  RUN_DIR          the run directory (default: the newest run in DIR)
  --runs-dir DIR   where runs are (default ./runs)`;

const POLL_MS = 250;
const STATUS_EVERY_MS = 1000;

export const watchCommand: Command = {
  name: "watch",
  summary: "follow a run's progress in this terminal (default: the newest run)",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("watch", argv, OPTIONS);
    if (positionals.length > 1) throw new WhetError("USAGE", `expected one RUN_DIR, got ${positionals.join(", ")}.`);
    const root = resolve(values["runs-dir"] ?? "runs");
    const dir = positionals[0] ? resolve(positionals[0]) : newestRunDir(root);
    if (!dir) throw new WhetError("RUN_NOT_FOUND", [{ where: root, message: "holds no runs. Start one with 'whet train', or name a run directory." }]);
    if (!existsSync(dir) || !isRunDir(dir)) throw new WhetError("RUN_NOT_FOUND", [{ where: dir, message: "is not a run directory (no spec.json or events.jsonl)." }]);

    const human = (s: string) => process.stderr.write(s + "\n");
    human(`watching ${dir}`);
    const summary = (): RunSummary | undefined => readSummary(dirname(dir), basename(dir));
    const view = new TerminalProgress();
    const tail = new LineTail(join(dir, "events.jsonl"));
    let interrupted = false;
    const onSigint = () => (interrupted = true);
    process.on("SIGINT", onSigint);

    let ended: "done" | "error" | null = null;
    let lastCheck = 0;
    let last: RunSummary | undefined;
    try {
      for (;;) {
        for (const line of tail.poll()) {
          const p = parseEventLine(line);
          if (!p.ok) {
            view.note(`warning: unreadable event line skipped (${p.reason})`);
            continue;
          }
          view.onEvent(p.event);
          if (p.event.type === "done") ended = "done";
          if (p.event.type === "error") ended ??= "error";
        }
        if (ended || interrupted) break;
        if (Date.now() - lastCheck > STATUS_EVERY_MS) {
          lastCheck = Date.now();
          last = summary();
          if (last && last.status !== "running") {
            // Whatever landed while the state was read, then stop.
            for (const line of tail.poll()) {
              const p = parseEventLine(line);
              if (p.ok) view.onEvent(p.event);
            }
            break;
          }
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      process.off("SIGINT", onSigint);
      tail.close();
      view.finish();
    }
    if (interrupted) {
      human("stopped watching; the run goes on.");
      return 130;
    }
    const s = summary() ?? last;
    return report(s, dir, ended, human);
  },
};

function report(s: RunSummary | undefined, dir: string, ended: "done" | "error" | null, human: (t: string) => void): number {
  if (ended === "done" || s?.status === "done") {
    human(`done: ${s?.step ?? "?"} steps, loss ${loss(s?.first_loss)} -> ${loss(s?.last_loss)}`);
    return 0;
  }
  if (ended === "error" || s?.status === "failed") {
    human(`failed${s?.error ? `: ${s.error}` : ""} (${s?.status_reason ?? "error event"}). Logs: ${join(dir, "logs")}`);
    return 1;
  }
  human(`stopped at step ${s?.step ?? 0} (${s?.status_reason ?? "no longer running"}). Continue with: whet train --resume ${dir}`);
  return 130;
}
