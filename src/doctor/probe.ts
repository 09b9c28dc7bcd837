// Runs the Python probes (python -m whet_doctor ...) and parses what they print. The probes only
// measure; the parsers here turn their JSON into typed facts, and the checks judge them.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerEnv } from "../launch/python.ts";
import { bandwidth, type BandwidthRow, type Collective } from "./bandwidth.ts";

export interface PythonEnv {
  python: { executable: string; version: string };
  packages: Record<string, string | null>;
  cuda_visible_devices: string | null;
  torch: null | {
    version: string;
    cuda_build: string | null;
    cuda_available: boolean;
    device_count: number;
    bf16_supported: boolean;
    nccl: string | null;
    nccl_available: boolean;
    gloo_available: boolean;
    devices: { index: number; name: string; capability: string; memory_bytes: number }[];
  };
  torch_error?: string;
}

export interface P2pPair {
  src: number;
  dst: number;
  peer_access: boolean;
  match: boolean;
  checksum_src: number;
  checksum_dst: number;
  zeros: number;
  seconds: number;
}

export interface P2pResult {
  device_count: number;
  bytes: number;
  pairs: P2pPair[];
}

export interface MatmulResult {
  skipped?: string;
  devices: { index: number; name: string; n: number; iters: number; seconds: number; tflops: number }[];
}

export interface RawCollectives {
  backend: "nccl" | "gloo";
  world_size: number;
  device: string;
  torch: string;
  nccl: string | null;
  results: { op: Collective; bytes: number; iters: number; seconds: number; checksum_ok: boolean }[];
}

export interface CollectiveRow extends BandwidthRow {
  op: Collective;
  checksumOk: boolean;
}

export interface Collectives {
  backend: "nccl" | "gloo";
  ranks: number;
  rows: CollectiveRow[];
}

export type Outcome<T> = { ok: true; value: T; seconds: number } | { ok: false; error: string; seconds: number };

/** The probe's JSON: the last stdout line that is a JSON object (libraries may print above it). */
export function parseProbeOutput<T>(stdout: string): T {
  const lines = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{"));
  for (const line of lines.reverse()) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // keep looking
    }
  }
  throw new Error(`no JSON object in the probe's output: ${JSON.stringify(stdout.slice(-200))}`);
}

/** Raw timings into nccl-tests' algbw/busbw rows. */
export function parseCollectives(raw: RawCollectives): Collectives {
  const rows = raw.results.map((r) => ({ op: r.op, checksumOk: r.checksum_ok, ...bandwidth(r.op, raw.world_size, r.bytes, r.seconds) }));
  return { backend: raw.backend, ranks: raw.world_size, rows };
}

function tail(text: string, lines = 8): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  seconds: number;
}

/**
 * Spawns without blocking; on timeout SIGTERM (torchrun passes it to its ranks), then SIGKILL after
 * 5 s. Not detached, so Ctrl-C reaches the probes with the CLI.
 */
function runProcess(argv: string[], env: NodeJS.ProcessEnv, timeoutS: number): Promise<Ran> {
  const t0 = performance.now();
  return new Promise((done) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const kill = (sig: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
      setTimeout(() => kill("SIGKILL"), 5000).unref();
    }, timeoutS * 1000);
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = "") => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr: stderr + extra, timedOut, seconds: (performance.now() - t0) / 1000 });
    };
    child.on("error", (e) => finish(null, null, e.message));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

function failure(r: Ran, what: string): string {
  if (r.timedOut) return `${what} did not finish in time (stopped). Last output:\n${tail(r.stderr || r.stdout)}`;
  const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
  return `${what} ${how}:\n${tail(r.stderr || r.stdout)}`;
}

/** python -m whet_doctor <args>: one JSON object on stdout. */
export async function runProbe<T>(python: string, args: string[], opts: { env?: Record<string, string>; timeoutS?: number } = {}): Promise<Outcome<T>> {
  const r = await runProcess([python, "-m", "whet_doctor", ...args], workerEnv(opts.env), opts.timeoutS ?? 120);
  if (r.code !== 0) return { ok: false, error: failure(r, `python -m whet_doctor ${args[0]}`), seconds: r.seconds };
  try {
    return { ok: true, value: parseProbeOutput<T>(r.stdout), seconds: r.seconds };
  } catch (e) {
    return { ok: false, error: (e as Error).message, seconds: r.seconds };
  }
}

export interface CollectivesPlan {
  nproc: number;
  backend: "nccl" | "gloo";
  ops: Collective[];
  minBytes: number;
  maxBytes: number;
  factor: number;
  /** Bytes moved per size; sets the iteration count (at most maxIters). */
  targetBytes: number;
  maxIters: number;
}

/** The torchrun argv of the collectives probe (what a user could run by hand). */
export function collectivesArgv(python: string, p: CollectivesPlan, out: string): string[] {
  return [
    python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", String(p.nproc), "--max-restarts", "0",
    "-m", "whet_doctor", "collectives", "--out", out, "--backend", p.backend, "--ops", p.ops.join(","),
    "--min-bytes", String(p.minBytes), "--max-bytes", String(p.maxBytes), "--factor", String(p.factor),
    "--target-bytes", String(p.targetBytes), "--max-iters", String(p.maxIters),
  ];
}

/** Runs the collectives probe through torchrun; rank 0 writes the JSON to a temporary file. */
export async function runCollectives(python: string, plan: CollectivesPlan, opts: { env?: Record<string, string>; timeoutS?: number } = {}): Promise<Outcome<Collectives>> {
  const dir = mkdtempSync(join(tmpdir(), "whet-doctor-"));
  const out = join(dir, "collectives.json");
  try {
    const threads: Record<string, string> = plan.backend === "gloo" ? { OMP_NUM_THREADS: "1" } : {};
    const r = await runProcess(collectivesArgv(python, plan, out), workerEnv({ ...threads, ...opts.env }), opts.timeoutS ?? 300);
    if (r.code !== 0) return { ok: false, error: failure(r, `torchrun (${plan.nproc} × ${plan.backend})`), seconds: r.seconds };
    try {
      return { ok: true, value: parseCollectives(JSON.parse(readFileSync(out, "utf8")) as RawCollectives), seconds: r.seconds };
    } catch (e) {
      return { ok: false, error: `the collectives probe wrote no readable result: ${(e as Error).message}`, seconds: r.seconds };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
