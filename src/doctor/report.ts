// The doctor's one output shape: a list of checks, each with a verdict, the measured value and a
// fix when it is not ok. Rendered as a table for people and as one JSON object for machines.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { WhetError } from "../errors.ts";
import { writeFileAtomic } from "../runs/rundir.ts";

export type Verdict = "ok" | "warning" | "failure";

export interface Check {
  /** Stable id, `area.name`: gpu.count, comm.all_reduce, host.shm... */
  id: string;
  title: string;
  verdict: Verdict;
  /** The measured value, short. */
  value: string;
  /** More lines of what was measured (per-GPU rows, per-size bandwidths). */
  detail: string;
  /** What to do; empty when ok. */
  fix: string;
  /** Structured measurements for tools (bandwidth rows, versions). */
  data?: unknown;
}

export interface Summary {
  verdict: Verdict;
  ok: number;
  warnings: number;
  failures: number;
  /** Environment variables Whetstone will set for a run on this machine. */
  env: Record<string, string>;
  quick: boolean;
  time: string;
}

export interface Report {
  checks: Check[];
  summary: Summary;
}

export const REPORT_FILE = "doctor.json";

export function check(id: string, title: string, verdict: Verdict, value: string, extra: { detail?: string; fix?: string; data?: unknown } = {}): Check {
  const c: Check = { id, title, verdict, value, detail: extra.detail ?? "", fix: verdict === "ok" ? "" : (extra.fix ?? "") };
  if (extra.data !== undefined) c.data = extra.data;
  return c;
}

export function summarize(checks: Check[], env: Record<string, string>, quick: boolean, now = new Date()): Report {
  const count = (v: Verdict) => checks.filter((c) => c.verdict === v).length;
  const failures = count("failure");
  const warnings = count("warning");
  const verdict: Verdict = failures > 0 ? "failure" : warnings > 0 ? "warning" : "ok";
  return { checks, summary: { verdict, ok: count("ok"), warnings, failures, env, quick, time: now.toISOString() } };
}

/** Before a multi-GPU launch: the doctor's failed checks as the error that refuses the run, each
 *  naming the check and its fix; null when nothing failed (warnings do not stop a run). */
export function launchRefusal(report: Report): WhetError | null {
  const failed = report.checks.filter((c) => c.verdict === "failure");
  if (failed.length === 0) return null;
  return new WhetError("WORKER_FAILED", failed.map((c) => ({ where: `doctor ${c.id}`, message: `${c.value}. ${c.fix}`.trim() })));
}

export function exitCode(report: Report): number {
  return report.summary.failures > 0 ? 1 : 0;
}

const SYMBOL: Record<Verdict, string> = { ok: "✓", warning: "!", failure: "✗" };

/** The table people read: symbol, title, value; detail and fix indented below when there is one. */
export function renderReport(report: Report, verbose = false): string {
  const width = Math.max(...report.checks.map((c) => c.title.length), 5);
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${SYMBOL[c.verdict]} ${c.title.padEnd(width)}  ${c.value}`);
    const pad = " ".repeat(width + 4);
    if (c.verdict !== "ok" || verbose) {
      for (const d of c.detail.split("\n").filter(Boolean)) lines.push(`${pad}${d}`);
    }
    if (c.fix) lines.push(`${pad}fix: ${c.fix}`);
  }
  const s = report.summary;
  lines.push("");
  lines.push(`${s.failures} failed, ${s.warnings} warnings, ${s.ok} ok${s.quick ? " (quick)" : ""}`);
  const env = Object.entries(s.env);
  if (env.length > 0) lines.push(`whet will set for runs here: ${env.map(([k, v]) => `${k}=${v}`).join(" ")}`);
  return lines.join("\n");
}

/** Saves the full report beside a run (runs/<id>/doctor.json); returns the path. */
export function saveReport(report: Report, runDir: string): string {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, REPORT_FILE);
  writeFileAtomic(path, JSON.stringify(report, null, 1) + "\n");
  return path;
}
