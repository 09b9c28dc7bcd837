// The launch command: torchrun (python -m torch.distributed.run) over the worker module.
// One process per GPU with NCCL, or N CPU processes with gloo; several nodes through c10d.
import { availableParallelism } from "node:os";

export interface LaunchPlan {
  python: string;
  specPath: string;
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort: number;
  device: "cuda" | "cpu";
}

export function torchrunArgv(p: LaunchPlan): string[] {
  const rendezvous =
    p.nnodes === 1 && !p.masterAddr
      ? ["--standalone"]
      : [
          "--rdzv-backend", "c10d",
          "--rdzv-endpoint", `${p.masterAddr ?? "127.0.0.1"}:${p.masterPort}`,
          "--rdzv-id", "whet",
          "--node-rank", String(p.nodeRank),
        ];
  return [
    p.python, "-m", "torch.distributed.run",
    "--nnodes", String(p.nnodes),
    "--nproc-per-node", String(p.nprocPerNode),
    ...rendezvous,
    "--max-restarts", "0",
    "-m", "whet_worker", "train", "--spec", p.specPath,
  ];
}

/** Seconds a collective may wait before the process group gives up (torch's NCCL default is 10
 *  minutes; DeepSpeed and others raise it to 30 minutes or hours). The worker reads it from
 *  WHET_COLLECTIVE_TIMEOUT_S; the stall watchdog's longest wait stays above it. */
export const COLLECTIVE_TIMEOUT_S = 600;

/** The CUDA caching allocator's settings a launch uses unless the user set their own. */
export const ALLOC_CONF = "expandable_segments:True";

/** Environment the launch adds: threads per CPU rank, NCCL timeouts shorter than any watchdog. */
export function launchEnv(p: LaunchPlan, collectiveTimeoutS = COLLECTIVE_TIMEOUT_S): Record<string, string> {
  const env: Record<string, string> = {};
  env.WHET_COLLECTIVE_TIMEOUT_S = process.env.WHET_COLLECTIVE_TIMEOUT_S ?? String(collectiveTimeoutS);
  if (!process.env.OMP_NUM_THREADS) {
    const perRank = p.device === "cpu" ? Math.max(1, Math.floor(availableParallelism() / p.nprocPerNode)) : 4;
    env.OMP_NUM_THREADS = String(perRank);
  }
  if (p.device === "cuda") {
    env.TORCH_NCCL_ASYNC_ERROR_HANDLING = process.env.TORCH_NCCL_ASYNC_ERROR_HANDLING ?? "1";
    // NCCL's own warnings land in the rank logs, where the supervisor matches them to known fixes.
    env.NCCL_DEBUG = process.env.NCCL_DEBUG ?? "WARN";
    // Expandable segments: the caching allocator grows one mapping per stream instead of caching
    // blocks in the sizes first asked for, so reserved memory stays close to what is allocated
    // (varlen micro-batches differ in size every step). The planner is calibrated with it; a
    // user's own allocator settings are left alone.
    if (process.env.PYTORCH_CUDA_ALLOC_CONF === undefined && process.env.PYTORCH_ALLOC_CONF === undefined) {
      env.PYTORCH_CUDA_ALLOC_CONF = ALLOC_CONF;
    }
  }
  return env;
}

/** The command line as a user could paste it into a shell. */
export function shellLine(argv: string[], env: Record<string, string> = {}): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const prefix = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
  return [...prefix, ...argv.map(quote)].join(" ");
}
