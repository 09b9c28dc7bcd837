// The runs routes: list, one run's details, its saved events, its logs, and the comparison.
import { existsSync, readdirSync, readFileSync, statSync, openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "./http.ts";
import { configDiff } from "./compare.ts";
import { isRunDir, readEvents, readJsonOrNull, readProcessRecord, readSpec, readSummary, runDirOf, type RunSummary } from "../runs/store.ts";
import { listCheckpoints } from "../runs/rundir.ts";
import { torchrunArgv, launchEnv, shellLine } from "../launch/torchrun.ts";
import { findPython } from "../launch/python.ts";
import type { RunSpec } from "../spec/runspec.ts";
import { GPU_FILE, parseGpuLine, thin, type GpuRecord } from "../gpu-sampler/samples.ts";

/** The run folder for an id from the URL: 400 for a malformed id, 404 for an unknown one. */
export function runDir(runsDir: string, id: string): string {
  const dir = runDirOf(runsDir, id);
  if (!dir) throw new ApiError(400, "BAD_RUN_ID", "a run id is one folder name: letters, digits, '.', '_' and '-'.");
  if (!isRunDir(dir)) throw new ApiError(404, "RUN_NOT_FOUND", `no run ${id} in the runs folder.`);
  return dir;
}

export function summaryOf(runsDir: string, id: string): RunSummary {
  runDir(runsDir, id);
  const s = readSummary(runsDir, id);
  if (!s) throw new ApiError(404, "RUN_NOT_FOUND", `no run ${id} in the runs folder.`);
  return s;
}

function launchLines(dir: string, spec: RunSpec | null, argv: string[] | null) {
  const whet = argv ? shellLine(argv) : `whet train ${join(dir, "config.yaml")}`;
  if (!spec) return { whet, torchrun: null };
  let python = "python";
  try {
    python = findPython();
  } catch {
    // shown with a generic name
  }
  const plan = {
    python,
    specPath: join(dir, "spec.json"),
    nprocPerNode: spec.distributed.nproc_per_node,
    nnodes: spec.distributed.nnodes,
    nodeRank: 0,
    masterPort: 29500,
    device: spec.distributed.device,
  };
  return { whet, torchrun: shellLine(torchrunArgv(plan), launchEnv(plan)) };
}

export function runDetail(runsDir: string, id: string) {
  const dir = runDir(runsDir, id);
  const spec = readSpec(dir);
  const proc = readProcessRecord(dir);
  const configPath = [join(dir, "config.yaml"), join(dir, "ui-config.yaml")].find((p) => existsSync(p));
  return {
    summary: summaryOf(runsDir, id),
    spec,
    plan: readJsonOrNull(join(dir, "plan.json")),
    config_text: configPath ? readFileSync(configPath, "utf8") : null,
    checkpoints: listCheckpoints(dir).map((c) => ({ step: c.step, name: `step-${c.step}` })),
    logs: listLogs(dir),
    launch: launchLines(dir, spec, proc?.argv ?? null),
    process: proc,
  };
}

export function runEvents(runsDir: string, id: string) {
  return readEvents(runDir(runsDir, id));
}

const LOG_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.log$/;
const LOG_TAIL = 256 * 1024;

function listLogs(dir: string): string[] {
  const logs = join(dir, "logs");
  return existsSync(logs) ? readdirSync(logs).filter((n) => LOG_NAME.test(n)).sort() : [];
}

/** The last 256 KiB of one log in runs/<id>/logs/. */
export function runLog(runsDir: string, id: string, name: string) {
  const dir = runDir(runsDir, id);
  if (!LOG_NAME.test(name) || name.includes("..")) throw new ApiError(400, "BAD_LOG_NAME", "a log name is a file name ending in .log.");
  const path = join(dir, "logs", name);
  if (!existsSync(path) || !statSync(path).isFile()) throw new ApiError(404, "LOG_NOT_FOUND", `run ${id} has no log ${name}.`);
  const size = statSync(path).size;
  const start = Math.max(0, size - LOG_TAIL);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  return { name, text: buf.toString("utf8"), truncated: start > 0 };
}

const GPU_MAX_READ = 64 * 1024 * 1024;

/** A whole number from the query string within [min, max], else a 400 naming the parameter. */
function intParam(value: string | null, name: string, fallback: number, min: number, max: number): number {
  if (value === null) return fallback;
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new ApiError(400, "BAD_REQUEST", `${name} must be a whole number from ${min} to ${max}.`);
  return n;
}

/**
 * GPU samples (runs/<id>/gpu.jsonl) from byte offset `from`: whole lines only, at most `max`
 * (evenly thinned), and `next`, the offset to ask from next time. A live page polls with it; a
 * finished run's page asks once from 0. `reset`: the file is shorter than `from` (replaced).
 */
export function runGpu(runsDir: string, id: string, query: URLSearchParams) {
  const dir = runDir(runsDir, id);
  let from = intParam(query.get("from"), "from", 0, 0, Number.MAX_SAFE_INTEGER);
  const max = intParam(query.get("max"), "max", 2000, 1, 20_000);
  const path = join(dir, GPU_FILE);
  const size = existsSync(path) && statSync(path).isFile() ? statSync(path).size : 0;
  const reset = from > size;
  if (reset) from = 0;
  // A very long run: read only the newest 64 MiB, starting at a line boundary.
  const start = Math.max(from, size - GPU_MAX_READ);
  const buf = Buffer.alloc(size - start);
  if (buf.length > 0) {
    const fd = openSync(path, "r");
    try {
      readSync(fd, buf, 0, buf.length, start);
    } finally {
      closeSync(fd);
    }
  }
  const end = buf.lastIndexOf(0x0a) + 1; // a last line without its newline is still being written
  const lines = buf.subarray(0, end).toString("utf8").split("\n");
  if (start > from) lines.shift(); // cut mid-line
  const samples: GpuRecord[] = [];
  let skipped = 0;
  for (const line of lines) {
    if (line.trim() === "") continue;
    const r = parseGpuLine(line);
    if (r) samples.push(r);
    else skipped++;
  }
  return { samples: thin(samples, max), next: start + end, skipped, reset };
}

export function compareRuns(runsDir: string, idsParam: string | null) {
  const ids = (idsParam ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (ids.length < 2) throw new ApiError(400, "BAD_REQUEST", "compare needs two or more run ids: /api/compare?ids=a,b.");
  if (ids.length > 8) throw new ApiError(400, "BAD_REQUEST", "compare at most 8 runs at once.");
  const dirs = ids.map((id) => runDir(runsDir, id));
  return {
    runs: ids.map((id) => summaryOf(runsDir, id)),
    diff: configDiff(dirs.map((d) => readSpec(d))),
  };
}
