// The host: /dev/shm (NCCL and DataLoader workers need it), free disk where runs and checkpoints
// go, the open-file limit workers inherit, and host RAM. `readHost` gathers; `hostChecks` judges.
import { existsSync, readFileSync, readdirSync, statfsSync } from "node:fs";
import { freemem, totalmem } from "node:os";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { check, type Check } from "./report.ts";
import { formatBytes } from "./bandwidth.ts";

export interface IbPort {
  port: string;
  /** As sysfs writes it: "4: ACTIVE", "1: DOWN". */
  state: string;
  linkLayer: string;
}

export interface IbDevice {
  name: string;
  ports: IbPort[];
}

export interface HostFacts {
  shmBytes: number | null;
  disk: { path: string; freeBytes: number } | null;
  /** Soft RLIMIT_NOFILE a child of this process gets (node raises its own soft limit to the hard one). */
  nofile: number | null;
  ramTotalBytes: number;
  ramAvailableBytes: number;
  ib: IbDevice[];
}

const GiB = 2 ** 30;

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

function fsFree(path: string): { total: number; free: number } | null {
  try {
    const s = statfsSync(path);
    return { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
  } catch {
    return null;
  }
}

/** InfiniBand/RoCE devices and their port states from /sys/class/infiniband. */
export function readInfiniband(root = "/sys/class/infiniband"): IbDevice[] {
  if (!existsSync(root)) return [];
  const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8").trim() : "");
  return readdirSync(root).map((name) => {
    const portsDir = join(root, name, "ports");
    const ports = existsSync(portsDir)
      ? readdirSync(portsDir).map((port) => ({ port, state: read(join(portsDir, port, "state")), linkLayer: read(join(portsDir, port, "link_layer")) }))
      : [];
    return { name, ports };
  });
}

export function readHost(runsDir: string): HostFacts {
  const shm = fsFree("/dev/shm");
  const where = nearestExisting(runsDir);
  const disk = fsFree(where);
  const ulimit = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" });
  const n = ulimit.stdout.trim();
  return {
    shmBytes: shm?.total ?? null,
    disk: disk ? { path: where, freeBytes: disk.free } : null,
    nofile: n === "unlimited" ? Infinity : Number.isFinite(Number(n)) && n !== "" ? Number(n) : null,
    ramTotalBytes: totalmem(),
    ramAvailableBytes: freemem(),
    ib: readInfiniband(),
  };
}

/** Below this NCCL's shared-memory transport can fail on several GPUs (Docker's default is 64 MiB). */
export const SHM_MIN_BYTES = 512 * 2 ** 20;

export interface HostContext {
  /** GPUs a run here would use. */
  gpus: number;
  runsDir: string;
  /** Host bytes a run's CPU offload needs (from the planner), when known. */
  offloadHostBytes?: number;
}

export function hostChecks(f: HostFacts, ctx: HostContext): Check[] {
  const checks: Check[] = [];
  if (f.shmBytes === null) {
    checks.push(check("host.shm", "/dev/shm", "warning", "not mounted", { fix: "Mount a tmpfs at /dev/shm (docker run --shm-size=16g, or --ipc=host)." }));
  } else {
    const small = f.shmBytes < SHM_MIN_BYTES;
    const verdict = small ? "warning" : "ok";
    checks.push(check("host.shm", "/dev/shm", verdict, formatBytes(f.shmBytes), {
      detail: small ? "NCCL's shared-memory transport and DataLoader workers put buffers here; Docker's default is 64 MiB." : "",
      fix: "Start the container with --shm-size=16g (or --ipc=host); until then whet sets NCCL_SHM_DISABLE=1 for multi-GPU runs.",
    }));
  }
  if (f.disk) {
    const free = f.disk.freeBytes;
    const verdict = free < 5 * GiB ? "failure" : free < 50 * GiB ? "warning" : "ok";
    checks.push(check("host.disk", "Free disk for runs", verdict, `${formatBytes(free)} free at ${f.disk.path}`, {
      detail: `Runs and checkpoints go under ${ctx.runsDir}; one full checkpoint of a 7B model with AdamW states is about 80 GiB.`,
      fix: "Free space there, or point output_dir (or --runs-dir) at a larger disk.",
    }));
  }
  if (f.nofile !== null) {
    const verdict = f.nofile < 4096 ? "warning" : "ok";
    checks.push(check("host.nofile", "Open-file limit", verdict, String(f.nofile), {
      detail: "DataLoader workers, NCCL and memory-mapped shards each hold descriptors.",
      fix: "Raise it: ulimit -n 65536 in the shell, or LimitNOFILE / --ulimit nofile=65536:65536 for services and containers.",
    }));
  }
  const need = ctx.offloadHostBytes;
  const ram = `${formatBytes(f.ramAvailableBytes)} available of ${formatBytes(f.ramTotalBytes)}`;
  if (need !== undefined && need > 0) {
    const verdict = f.ramAvailableBytes < need ? "failure" : f.ramAvailableBytes < need * 1.2 ? "warning" : "ok";
    checks.push(check("host.ram", "Host RAM", verdict, `${ram}; offload needs ${formatBytes(need)}`, {
      fix: "Offload less (sharding without offload, more GPUs), or free host memory.",
    }));
  } else {
    checks.push(check("host.ram", "Host RAM", f.ramAvailableBytes < 8 * GiB ? "warning" : "ok", ram, {
      fix: "Loading a model reads it through host memory; free host memory or add swap before large models.",
    }));
  }
  return checks;
}
