// Samples every GPU's utilisation, memory and power with nvidia-smi every few seconds while a
// run trains, appending one line per sample to runs/<id>/gpu.jsonl. The worker's step events
// only carry rank 0's memory; this sees every GPU of the node, from outside the job, so it keeps
// sampling while a rank hangs. Without nvidia-smi (or for a CPU run) it does nothing.
import { execFile, type ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { GPU_FILE, QUERY, parseNvidiaSmi } from "./samples.ts";

export interface GpuSampler {
  stop(): Promise<void>;
}

export const NO_SAMPLER: GpuSampler = { stop: async () => undefined };

export interface SamplerOptions {
  runDir: string;
  /** "cpu" samples nothing. */
  device?: string;
  intervalS?: number;
  /** The nvidia-smi to run (tests put a stand-in here). */
  nvidiaSmi?: string;
  /** Which GPUs (nvidia-smi --id): default CUDA_VISIBLE_DEVICES when it lists indexes, else all. */
  ids?: string;
  host?: string;
}

const TIMEOUT_MS = 10_000;
/** A broken driver fails every call: give up after this many in a row rather than spin. */
const MAX_FAILURES = 3;

export function startGpuSampler(o: SamplerOptions): GpuSampler {
  if (o.device === "cpu") return NO_SAMPLER;
  const path = join(o.runDir, GPU_FILE);
  const host = o.host ?? hostname();
  const visible = process.env.CUDA_VISIBLE_DEVICES ?? "";
  const ids = o.ids ?? (/^\d+(,\d+)*$/.test(visible) ? visible : undefined);
  const args = [`--query-gpu=${QUERY.join(",")}`, "--format=csv,noheader,nounits", ...(ids ? [`--id=${ids}`] : [])];
  const intervalMs = Math.max(0.05, o.intervalS ?? 3) * 1000;
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let child: ChildProcess | undefined;

  const sampleOnce = () =>
    new Promise<void>((done) => {
      child = execFile(o.nvidiaSmi ?? "nvidia-smi", args, { timeout: TIMEOUT_MS, encoding: "utf8" }, (err, stdout) => {
        const record = err ? null : parseNvidiaSmi(stdout, Date.now() / 1000, host);
        if (!record || record.gpus.length === 0) {
          // ENOENT: no nvidia-smi on this machine; stop at once.
          failures = (err as NodeJS.ErrnoException | null)?.code === "ENOENT" ? MAX_FAILURES : failures + 1;
        } else {
          failures = 0;
          try {
            // One write per line, O_APPEND: samplers of several nodes sharing the folder interleave whole lines.
            appendFileSync(path, JSON.stringify(record) + "\n");
          } catch {
            failures = MAX_FAILURES; // the run folder is gone
          }
        }
        done();
      });
    });

  const loop = () => {
    if (stopped) return;
    inFlight = sampleOnce().then(() => {
      if (stopped || failures >= MAX_FAILURES) return;
      timer = setTimeout(loop, intervalMs);
      timer.unref(); // never keeps `whet train` alive
    });
  };
  loop();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      child?.kill(); // a wedged driver can hold nvidia-smi for seconds
      await inFlight;
    },
  };
}
