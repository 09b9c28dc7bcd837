// `whet doctor` as a function: gather the facts (nvidia-smi, the Python probes, torchrun, the
// host), judge them with the pure checks, and return one report. `quickDoctor` is the subset
// `whet train` runs before a multi-GPU launch: no bandwidth sweep and no matmul.
import { resolve } from "node:path";
import { WhetError } from "../errors.ts";
import { findPython } from "../launch/python.ts";
import { shellLine } from "../launch/torchrun.ts";
import { loadConfig } from "../config/load.ts";
import { COLLECTIVES, expectedBusBandwidth } from "./bandwidth.ts";
import { collectiveChecks, p2pCheck } from "./comm-checks.ts";
import { activityCheck, bf16Capable, capabilityCheck, driverCheck, gpuCountCheck, topologyCheck } from "./gpu-checks.ts";
import { hostChecks, readHost } from "./host.ts";
import { ncclChecks, ncclEnv, type NcclFacts } from "./nccl-env.ts";
import { maskedCount, readNvidia } from "./nvidia.ts";
import { matmulCheck, precisionCheck, type PrecisionConfig } from "./precision.ts";
import { pythonChecks } from "./python-checks.ts";
import { collectivesArgv, runCollectives, runProbe, type CollectivesPlan, type MatmulResult, type P2pResult, type PythonEnv } from "./probe.ts";
import { check, summarize, type Check, type Report } from "./report.ts";

export interface DoctorOptions {
  /** GPUs to test (default: every visible one). */
  gpus?: number;
  /** Skip the bandwidth sweep and the matmul: P2P checksums and one small all-reduce. */
  quick?: boolean;
  /** A run config: its precision is checked and its output_dir's disk measured. */
  configFile?: string;
  /** --python for findPython. */
  python?: string;
  /** Where runs go when the config names no output_dir (default ./runs). */
  runsDir?: string;
  /** Host bytes the run's CPU offload needs (the planner's hostBytesPerNode), when known. */
  offloadHostBytes?: number;
  /** Progress lines for people (stderr); the report is the result. */
  progress?: (line: string) => void;
}

const MiB = 2 ** 20;

function collectivesPlan(backend: "nccl" | "gloo", nproc: number, quick: boolean): CollectivesPlan {
  if (backend === "nccl") {
    return quick
      ? { nproc, backend, ops: ["all_reduce"], minBytes: 32 * MiB, maxBytes: 32 * MiB, factor: 2, targetBytes: 320 * MiB, maxIters: 10 }
      : { nproc, backend, ops: COLLECTIVES, minBytes: MiB, maxBytes: 1024 * MiB, factor: 4, targetBytes: 8192 * MiB, maxIters: 50 };
  }
  return quick
    ? { nproc, backend, ops: ["all_reduce"], minBytes: MiB, maxBytes: MiB, factor: 2, targetBytes: 4 * MiB, maxIters: 5 }
    : { nproc, backend, ops: COLLECTIVES, minBytes: MiB, maxBytes: 16 * MiB, factor: 4, targetBytes: 64 * MiB, maxIters: 20 };
}

/** The CUDA_VISIBLE_DEVICES that narrows the probes to the first `n` GPUs this process sees. */
function narrowMask(n: number, visible: number, mask: string | undefined): Record<string, string> {
  if (n >= visible) return {};
  const ids = mask !== undefined ? mask.split(",").map((s) => s.trim()) : Array.from({ length: visible }, (_, i) => String(i));
  return { CUDA_VISIBLE_DEVICES: ids.slice(0, n).join(",") };
}

interface ConfigFacts {
  check: Check;
  outputDir?: string;
}

function readConfig(file: string, hw: { gpu: boolean; bf16: boolean | null }): ConfigFacts {
  try {
    const loaded = loadConfig(file);
    const c = loaded.config as unknown as PrecisionConfig & { output_dir?: string };
    const outputDir = c.output_dir ? resolve(loaded.configDir, c.output_dir) : undefined;
    return { check: precisionCheck(c, hw, loaded.source.file), ...(outputDir ? { outputDir } : {}) };
  } catch (e) {
    if (!(e instanceof WhetError)) throw e;
    return { check: check("precision.config", "Precision of the config", "failure", "config does not load", { detail: e.message, fix: "Fix the config first (whet train --dry-run shows every problem)." }) };
  }
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<Report> {
  const say = opts.progress ?? (() => {});
  const quick = opts.quick ?? false;
  const mask = process.env.CUDA_VISIBLE_DEVICES;
  const checks: Check[] = [];

  say("nvidia-smi: GPUs, driver, topology");
  const nv = readNvidia();
  const visible = nv.present ? maskedCount(nv.gpus.length, mask) : 0;
  checks.push(gpuCountCheck(nv, visible, opts.gpus));
  const used = Math.min(opts.gpus ?? visible, visible);
  const narrow = narrowMask(used, visible, mask);

  say("python: interpreter, torch, libraries");
  let python: string | Error;
  try {
    python = findPython(opts.python);
  } catch (e) {
    if (!(e instanceof WhetError)) throw e;
    python = e;
  }
  const env = typeof python === "string" ? await runProbe<PythonEnv>(python, ["env"], { timeoutS: 120 }) : null;
  const pyEnv = env?.ok ? env.value : null;
  if (nv.present) {
    checks.push(driverCheck(nv, pyEnv), capabilityCheck(nv), activityCheck(nv));
    const topo = topologyCheck(nv.topology);
    if (topo) checks.push(topo);
  }
  checks.push(...pythonChecks(python, env, visible, nv.present));

  const host = readHost(opts.runsDir ?? "runs");
  const cuda = pyEnv?.torch?.cuda_available === true && used >= 1;
  const ncclFacts: NcclFacts = { gpus: cuda ? used : 0, ib: host.ib, p2pBroken: null, shmBytes: host.shmBytes, topology: nv.topology, env: process.env };

  if (typeof python === "string" && pyEnv?.torch) {
    if (cuda && used >= 2) {
      say(`p2p: checksummed copies between ${used} GPUs`);
      const p2p = await runProbe<P2pResult>(python, ["p2p", "--bytes", String((quick ? 16 : 64) * MiB)], { env: narrow, timeoutS: 300 });
      ncclFacts.p2pBroken = p2p.ok ? p2p.value.pairs.filter((p) => !p.match).map(({ src, dst }) => ({ src, dst })) : null;
      const runEnv = { ...narrow, ...ncclEnv(ncclFacts) };
      const plan = collectivesPlan("nccl", used, quick);
      say(`nccl: ${plan.ops.join(", ")} on ${used} GPUs${quick ? " (quick)" : ", 1 MiB to 1 GiB"}`);
      const coll = await runCollectives(python, plan, { env: runEnv, timeoutS: quick ? 180 : 540 });
      const sumsRight = coll.ok && coll.value.rows.every((r) => r.checksumOk);
      const workaround = ncclFacts.p2pBroken?.length && sumsRight ? `Collectives came out right with ${Object.entries(runEnv).filter(([k]) => k.startsWith("NCCL_")).map(([k, v]) => `${k}=${v}`).join(" ")}, which whet sets for runs here.` : undefined;
      checks.push(p2pCheck(p2p, workaround));
      const expected = expectedBusBandwidth(nv.gpus, nv.topology);
      checks.push(...collectiveChecks(coll, expected, shellLine(collectivesArgv(python, plan, "OUT.json"), runEnv)));
    } else if (!cuda) {
      // The CPU path: the same collectives code over gloo with two processes.
      const plan = collectivesPlan("gloo", 2, quick);
      say("gloo: 2 CPU processes");
      const coll = await runCollectives(python, plan, { timeoutS: 180 });
      checks.push(...collectiveChecks(coll, undefined, shellLine(collectivesArgv(python, plan, "OUT.json"), { OMP_NUM_THREADS: "1" })));
    }
    if (cuda && !quick) {
      say("matmul: bf16 8192³ on each GPU");
      const m = matmulCheck(await runProbe<MatmulResult>(python, ["matmul"], { env: narrow, timeoutS: 300 }));
      if (m) checks.push(m);
    }
  }

  let runsDir = resolve(opts.runsDir ?? "runs");
  if (opts.configFile) {
    const bf16 = nv.present ? nv.gpus.every((g) => bf16Capable(g.computeCap) !== false) && (pyEnv?.torch?.bf16_supported ?? true) : null;
    const cfg = readConfig(opts.configFile, { gpu: cuda, bf16 });
    if (cfg.outputDir) runsDir = cfg.outputDir;
    checks.push(cfg.check);
  }
  say("host: /dev/shm, disk, open files, RAM");
  const hostFacts = runsDir === resolve(opts.runsDir ?? "runs") ? host : readHost(runsDir);
  checks.push(...hostChecks(hostFacts, { gpus: used, runsDir, ...(opts.offloadHostBytes !== undefined ? { offloadHostBytes: opts.offloadHostBytes } : {}) }));
  checks.push(...ncclChecks(ncclFacts));
  return summarize(order(checks), ncclEnv(ncclFacts), quick);
}

const AREAS = ["gpu", "python", "comm", "host", "nccl", "precision"];

function order(checks: Check[]): Check[] {
  const area = (c: Check) => AREAS.indexOf(c.id.split(".")[0]!);
  return checks.map((c, i) => ({ c, i })).sort((a, b) => area(a.c) - area(b.c) || a.i - b.i).map(({ c }) => c);
}

/** What `whet train` calls before a multi-GPU launch: ok is false when any check failed. */
export async function quickDoctor(opts: Omit<DoctorOptions, "quick"> = {}): Promise<{ ok: boolean; report: Report }> {
  const report = await runDoctor({ ...opts, quick: true });
  return { ok: report.summary.failures === 0, report };
}

/**
 * The NCCL variables a launch on this machine should carry, from what can be read without a GPU
 * probe (InfiniBand ports, /dev/shm, the environment). Pass a doctor report to add what its P2P
 * check found; with a report, its summary.env is the answer.
 */
export function launchNcclEnv(gpus: number, report?: Report): Record<string, string> {
  if (report) return { ...report.summary.env };
  const host = readHost("runs");
  return ncclEnv({ gpus, ib: host.ib, p2pBroken: null, shmBytes: host.shmBytes, env: process.env });
}
