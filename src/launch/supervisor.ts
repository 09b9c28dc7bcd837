// Runs the launch command, streams the worker's events, and stops every rank when one fails.
// States: starting -> running -> stopping -> exited. A failure is explained with the rank, the
// exit code or signal, the last step and the log to read.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { LineTail } from "./tail.ts";
import { parseEventLine, type WhetEvent, type DoneEvent, type ErrorEvent } from "../events/schema.ts";

export interface SuperviseOptions {
  argv: string[];
  env: NodeJS.ProcessEnv;
  eventsPath: string;
  launcherLog: string;
  onEvent: (e: WhetEvent, line: string) => void;
  onGarbage: (reason: string) => void;
  /** Grace period between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** After a rank reports an error, how long the others get to exit on their own. */
  errorGraceMs?: number;
}

export interface RankFailure {
  rank: number | null;
  exitCode: number | null;
  signal: string | null;
}

export interface SuperviseResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  done: DoneEvent | null;
  errors: ErrorEvent[];
  lastStep: number;
  interrupted: boolean;
  failure: RankFailure | null;
}

const POLL_MS = 150;

export function supervise(opts: SuperviseOptions): Promise<SuperviseResult> {
  const killGraceMs = opts.killGraceMs ?? 15_000;
  const errorGraceMs = opts.errorGraceMs ?? 10_000;
  const log = createWriteStream(opts.launcherLog, { flags: "a" });
  const tail = new LineTail(opts.eventsPath);
  let launcherText = "";
  let done: DoneEvent | null = null;
  const errors: ErrorEvent[] = [];
  let lastStep = 0;
  let interrupts = 0;
  let state: "running" | "stopping" | "exited" = "running";
  const timers: NodeJS.Timeout[] = [];

  const child = spawn(opts.argv[0]!, opts.argv.slice(1), {
    env: opts.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so every rank can be signalled at once
  });
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    launcherText = (launcherText + chunk.toString("utf8")).slice(-65_536);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);

  const signalGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined || state === "exited") return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const stop = () => {
    if (state !== "running") return;
    state = "stopping";
    signalGroup("SIGTERM");
    timers.push(setTimeout(() => signalGroup("SIGKILL"), killGraceMs));
  };

  const drain = () => {
    for (const line of tail.poll()) {
      const parsed = parseEventLine(line);
      if (!parsed.ok) {
        opts.onGarbage(parsed.reason);
        continue;
      }
      const e = parsed.event;
      if (e.type === "step") lastStep = Math.max(lastStep, e.step);
      if (e.type === "done") done = e;
      if (e.type === "error") {
        errors.push(e);
        // The failing rank exits by itself; the others may be stuck in a collective.
        if (errors.length === 1) timers.push(setTimeout(stop, errorGraceMs));
      }
      opts.onEvent(e, line);
    }
  };
  const poller = setInterval(drain, POLL_MS);

  const onSigint = () => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stderr.write("\nstopping: a checkpoint is written at the next step boundary (Ctrl-C again to stop at once)\n");
      // SIGTERM asks the worker for a checkpoint, then a clean exit.
      signalGroup("SIGTERM");
      state = "stopping";
      timers.push(setTimeout(() => signalGroup("SIGKILL"), 5 * 60_000));
    } else {
      signalGroup("SIGKILL");
    }
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);

  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      state = "exited";
      clearInterval(poller);
      for (const t of timers) clearTimeout(t);
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigint);
      drain();
      const rest = tail.rest();
      if (rest.trim()) opts.onGarbage(`truncated last line: ${rest.slice(0, 120)}`);
      tail.close();
      log.end();
      const failed = code !== 0 || signal !== null;
      resolve({
        exitCode: code,
        signal,
        done,
        errors,
        lastStep,
        interrupted: interrupts > 0,
        failure: failed ? parseTorchrunFailure(launcherText) : null,
      });
    });
  });
}

/** Reads the first failed rank from torchrun's "Root Cause" report. */
export function parseTorchrunFailure(text: string): RankFailure {
  const root = text.lastIndexOf("Root Cause");
  const part = root >= 0 ? text.slice(root) : text;
  const rank = /rank\s*:\s*(\d+)/.exec(part);
  const exit = /exitcode\s*:\s*(-?\d+)/.exec(part);
  const sig = /Signal (\d+) \((SIG\w+)\)/.exec(part);
  const exitCode = exit ? Number(exit[1]) : null;
  return {
    rank: rank ? Number(rank[1]) : null,
    exitCode,
    signal: sig ? sig[2]! : exitCode !== null && exitCode < 0 ? `signal ${-exitCode}` : null,
  };
}
