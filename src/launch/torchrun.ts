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

/** Environment the launch adds: threads per CPU rank, NCCL timeouts shorter than any watchdog. */
export function launchEnv(p: LaunchPlan): Record<string, string> {
  const env: Record<string, string> = {};
  if (!process.env.OMP_NUM_THREADS) {
    const perRank = p.device === "cpu" ? Math.max(1, Math.floor(availableParallelism() / p.nprocPerNode)) : 4;
    env.OMP_NUM_THREADS = String(perRank);
  }
  if (p.device === "cuda") {
    env.TORCH_NCCL_ASYNC_ERROR_HANDLING = process.env.TORCH_NCCL_ASYNC_ERROR_HANDLING ?? "1";
  }
  return env;
}

/** The command line as a user could paste it into a shell. */
export function shellLine(argv: string[], env: Record<string, string> = {}): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const prefix = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
  return [...prefix, ...argv.map(quote)].join(" ");
}
