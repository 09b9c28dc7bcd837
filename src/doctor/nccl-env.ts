// Known NCCL environment problems, each with the variable that works around it, and the variables
// Whetstone sets for a run here. Pure: the facts come in, checks and variables come out.
import { check, type Check } from "./report.ts";
import type { IbDevice } from "./host.ts";
import { SHM_MIN_BYTES } from "./host.ts";
import { formatBytes } from "./bandwidth.ts";
import type { Topology } from "./nvidia.ts";

export interface NcclFacts {
  /** GPUs a run would use. */
  gpus: number;
  ib: IbDevice[];
  /** Pairs whose peer copy came back different; null when not measured. */
  p2pBroken: { src: number; dst: number }[] | null;
  shmBytes: number | null;
  topology?: Topology;
  /** The user's environment (only NCCL_* and CUDA_* are read). */
  env: Record<string, string | undefined>;
}

interface Problem {
  id: string;
  title: string;
  value: string;
  detail: string;
  variable: [string, string];
}

export function ncclProblems(f: NcclFacts): Problem[] {
  if (f.gpus < 2) return [];
  const out: Problem[] = [];
  const active = f.ib.filter((d) => d.ports.some((p) => /ACTIVE/i.test(p.state)));
  if (f.ib.length > 0 && active.length === 0) {
    const ports = f.ib.flatMap((d) => d.ports.map((p) => `${d.name}/${p.port}: ${p.state || "?"}`));
    out.push({
      id: "nccl.ib",
      title: "InfiniBand",
      value: `${f.ib.length} device(s), no active port`,
      detail: `NCCL tries InfiniBand when /sys/class/infiniband lists devices and can hang or fail at init when no port is up (${ports.join(", ")}).`,
      variable: ["NCCL_IB_DISABLE", "1"],
    });
  }
  if (f.p2pBroken && f.p2pBroken.length > 0) {
    out.push({
      id: "nccl.p2p",
      title: "NCCL peer-to-peer",
      value: `broken on ${f.p2pBroken.length} pair(s)`,
      detail: `Peer copies came back wrong (${f.p2pBroken.map((p) => `${p.src}→${p.dst}`).join(", ")}); NCCL's P2P transport would corrupt gradients silently. Usually IOMMU or PCIe ACS on consumer boards.`,
      variable: ["NCCL_P2P_DISABLE", "1"],
    });
  }
  if (f.shmBytes !== null && f.shmBytes < SHM_MIN_BYTES) {
    out.push({
      id: "nccl.shm",
      title: "NCCL shared memory",
      value: `/dev/shm is ${formatBytes(f.shmBytes)}`,
      detail: `NCCL fails with "failed to extend /dev/shm" when it is too small (Docker's default 64 MiB); disabling its SHM transport avoids it.`,
      variable: ["NCCL_SHM_DISABLE", "1"],
    });
  }
  return out;
}

/** Variables Whetstone sets for a run on this machine (never overriding one the user set). */
export function ncclEnv(f: NcclFacts): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of ncclProblems(f)) {
    const [name, value] = p.variable;
    if (f.env[name] === undefined) env[name] = value;
  }
  return env;
}

export function ncclChecks(f: NcclFacts): Check[] {
  const checks = ncclProblems(f).map((p) => {
    const [name, value] = p.variable;
    const userSet = f.env[name];
    const fix = userSet === value ? `${name}=${value} is already set.` : `whet sets ${name}=${value} for runs here; set it yourself for other tools.`;
    return check(p.id, p.title, "warning", p.value, { detail: p.detail, fix });
  });
  // Settings left in a shell that slow a healthy machine down.
  const nvlink = f.topology?.links.some((l) => l.kind === "nvlink") ?? false;
  const slow: [string, string][] = [];
  if (f.env.NCCL_P2P_DISABLE === "1" && nvlink && !(f.p2pBroken && f.p2pBroken.length > 0)) slow.push(["NCCL_P2P_DISABLE", "turns NVLink off for NCCL"]);
  if (f.env.CUDA_LAUNCH_BLOCKING === "1") slow.push(["CUDA_LAUNCH_BLOCKING", "serializes every kernel launch"]);
  if (f.env.NCCL_DEBUG && /INFO|TRACE/i.test(f.env.NCCL_DEBUG)) slow.push(["NCCL_DEBUG", "floods the rank logs"]);
  if (slow.length > 0) {
    checks.push(check("nccl.user_env", "Environment variables", "warning", slow.map(([k]) => `${k}=${f.env[k]}`).join(" "), {
      detail: slow.map(([k, why]) => `${k} ${why}.`).join("\n"),
      fix: `Unset ${slow.map(([k]) => k).join(", ")} unless you need it for debugging.`,
    }));
  }
  if (checks.length === 0 && f.gpus >= 2) {
    checks.push(check("nccl.env", "NCCL environment", "ok", "no known problem", { detail: "Checked: InfiniBand ports, peer-to-peer copies, /dev/shm size, variables in the environment." }));
  }
  return checks;
}
