// Reads run directories (docs/contracts.md) for the dashboard and `whet watch`: which runs exist,
// what state each is in, and its events. Read-only: the dashboard's launcher (src/ui/launcher.ts)
// writes process.json, the record of the `whet train` process it started, and this reads it.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { parseEventLine, type WhetEvent } from "../events/schema.ts";
import { initialProgress, reduceProgress } from "../progress/terminal.ts";
import { RunSpec } from "../spec/runspec.ts";

/** runs/<id>/process.json: the supervisor the dashboard started for this run. */
export interface ProcessRecord {
  pid: number;
  argv: string[];
  /** Unix seconds. */
  started: number;
  stop_requested: number | null;
  exit_code: number | null;
  exit_signal: string | null;
}

export const PROCESS_FILE = "process.json";

export function readProcessRecord(runDir: string): ProcessRecord | null {
  const r = readJsonOrNull<ProcessRecord>(join(runDir, PROCESS_FILE));
  return r && typeof r.pid === "number" ? r : null;
}

/** Whether pid is a live `whet train` (a recycled pid running something else counts as dead). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/\) Z /.test(stat)) return false; // exited, not yet reaped
    return cmd.includes("train");
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

export type RunStatus = "running" | "done" | "failed" | "stopped";

export interface RunEvents {
  events: WhetEvent[];
  /** Lines that did not parse (skipped, never fatal). */
  skipped: { line: number; reason: string }[];
  /** The file ends in a line without a newline: a writer is mid-line or died mid-line. */
  truncated: boolean;
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  /** How the status was decided, for the tooltip: "pid 123 alive", "done event", ... */
  status_reason: string;
  model: string | null;
  method: string | null;
  device: string | null;
  gpus: number | null;
  step: number;
  total_steps: number;
  last_loss: number | null;
  first_loss: number | null;
  tokens_per_s: number | null;
  started: number | null;
  updated: number | null;
  error: string | null;
  launched_by_ui: boolean;
}

/** A run id is one plain path segment: no separators, no dot-dot, nothing hidden. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidRunId(id: string): boolean {
  return RUN_ID.test(id) && !id.includes("..");
}

/** The folder of run `id` under `root`, or undefined when the id is not a plain segment. */
export function runDirOf(root: string, id: string): string | undefined {
  if (!isValidRunId(id)) return undefined;
  const base = resolve(root);
  const dir = resolve(base, id);
  return dir.startsWith(base + sep) ? dir : undefined;
}

export function isRunDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
  } catch {
    return false;
  }
  return ["spec.json", "events.jsonl", "config.yaml", "process.json"].some((f) => existsSync(join(dir, f)));
}

export function parseEvents(text: string): RunEvents {
  const lines = text.split("\n");
  const last = lines.pop() ?? "";
  const truncated = last.trim() !== "";
  const events: WhetEvent[] = [];
  const skipped: RunEvents["skipped"] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const p = parseEventLine(line);
    if (p.ok) events.push(p.event);
    else skipped.push({ line: i + 1, reason: p.reason });
  });
  if (truncated) skipped.push({ line: lines.length + 1, reason: "truncated last line (no newline yet)" });
  return { events, skipped, truncated };
}

export function readEvents(runDir: string): RunEvents {
  const path = join(runDir, "events.jsonl");
  if (!existsSync(path)) return { events: [], skipped: [], truncated: false };
  return parseEvents(readFileSync(path, "utf8"));
}

/** The run's spec.json, or null when it is missing or not a RunSpec of this version. */
export function readSpec(runDir: string): RunSpec | null {
  const r = RunSpec.safeParse(readJsonOrNull(join(runDir, "spec.json")));
  return r.success ? r.data : null;
}

export function readJsonOrNull<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return null;
  }
}

/** Events of the latest attempt: everything after the last rank-0 hello (a resume starts one). */
export function currentAttempt(events: WhetEvent[]): WhetEvent[] {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === "hello" && e.rank === 0) return events.slice(i);
  }
  return events;
}

/** Without a process record, a run counts as alive while its events are fresh. */
export function staleAfterS(events: WhetEvent[]): number {
  const steps = events.filter((e) => e.type === "step");
  const a = steps[steps.length - 2];
  const b = steps[steps.length - 1];
  const gap = a && b ? b.time - a.time : 0;
  return Math.max(120, 10 * gap);
}

export interface StatusInput {
  events: WhetEvent[];
  proc: ProcessRecord | null;
  alive: boolean | null;
  now: number;
}

/** Decides the run's state from its events and its process (pure). */
export function deriveStatus({ events, proc, alive, now }: StatusInput): { status: RunStatus; reason: string } {
  const attempt = currentAttempt(events);
  if (attempt.some((e) => e.type === "done")) return { status: "done", reason: "done event" };
  const last = events[events.length - 1];
  if (proc && alive) return { status: "running", reason: `process ${proc.pid} is alive` };
  if (!proc) {
    const fresh = last !== undefined && now - last.time < staleAfterS(events);
    if (fresh) return { status: "running", reason: "events are recent (no process record)" };
  }
  if (proc?.stop_requested) return { status: "stopped", reason: "stopped from the dashboard" };
  if (proc?.exit_code === 130) return { status: "stopped", reason: "interrupted (exit code 130)" };
  if (attempt.some((e) => e.type === "warning" && /INTERRUPT|STOP|SIGTERM|SIGINT/i.test(e.code))) {
    return { status: "stopped", reason: "the worker reported an interruption" };
  }
  const err = attempt.find((e) => e.type === "error");
  if (err) return { status: "failed", reason: `rank ${err.rank} reported ${err.code}` };
  const lastStep = attempt.filter((e) => e.type === "step").pop();
  if (last?.type === "checkpoint" && lastStep && last.step >= lastStep.step) {
    return { status: "stopped", reason: "ended on a checkpoint without a done event" };
  }
  if (proc?.exit_code !== null && proc?.exit_code !== undefined) return { status: "failed", reason: `exited with code ${proc.exit_code}` };
  return { status: "failed", reason: last ? "no done event and no live process" : "no events and no live process" };
}

function methodLabel(spec: RunSpec): string {
  const m = spec.method;
  return m.finetuning_type === "lora" && m.lora ? `lora r${m.lora.rank} ${m.stage}` : `${m.finetuning_type} ${m.stage}`;
}

function modelLabel(path: string): string {
  const parts = path.split("/").filter(Boolean);
  return parts.slice(-2).join("/") || path;
}

export function summarize(id: string, spec: RunSpec | null, ev: RunEvents, proc: ProcessRecord | null, now = Date.now() / 1000): RunSummary {
  const alive = proc ? processAlive(proc.pid) : null;
  const { status, reason } = deriveStatus({ events: ev.events, proc, alive, now });
  const p = ev.events.reduce(reduceProgress, initialProgress());
  const lastStep = ev.events.filter((e) => e.type === "step").pop();
  const err = currentAttempt(ev.events).find((e) => e.type === "error");
  const first = ev.events[0];
  const last = ev.events[ev.events.length - 1];
  return {
    id,
    status,
    status_reason: reason,
    model: spec ? modelLabel(spec.model.path) : null,
    method: spec ? methodLabel(spec) : null,
    device: spec?.distributed.device ?? null,
    gpus: spec ? spec.distributed.world_size : null,
    step: p.step,
    total_steps: p.totalSteps || spec?.train.max_steps || 0,
    last_loss: p.loss,
    first_loss: p.firstLoss,
    tokens_per_s: lastStep ? lastStep.tokens_per_s : null,
    started: first?.time ?? proc?.started ?? null,
    updated: last?.time ?? null,
    error: err ? `${err.code}: ${err.message}` : null,
    launched_by_ui: proc !== null,
  };
}

export function readSummary(root: string, id: string): RunSummary | undefined {
  const dir = runDirOf(root, id);
  if (!dir || !isRunDir(dir)) return undefined;
  return summarize(id, readSpec(dir), readEvents(dir), readProcessRecord(dir));
}

/** Every run under root, newest first. A missing root is an empty list. */
export function listRuns(root: string): RunSummary[] {
  if (!existsSync(root)) return [];
  const out: RunSummary[] = [];
  for (const name of readdirSync(root)) {
    const s = readSummary(root, name);
    if (s) out.push(s);
  }
  return out.sort((a, b) => (b.started ?? 0) - (a.started ?? 0) || b.id.localeCompare(a.id));
}

/** The newest run directory under root (for `whet watch` without an argument). */
export function newestRunDir(root: string): string | undefined {
  const first = listRuns(root)[0];
  return first ? join(resolve(root), first.id) : undefined;
}
