// A ready sbatch script that runs the same `whet train` on every node of a Slurm allocation:
// one task per node, torchrun inside it with one process per GPU, c10d rendezvous on the first
// node. Pure: returns the script text.

export interface SlurmOptions {
  configPath: string;
  overrides: string[];
  nodes: number;
  gpusPerNode: number;
  repoRoot: string;
  jobName: string;
  masterPort: number;
  partition?: string;
  time?: string;
  runDir: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function slurmScript(o: SlurmOptions): string {
  const header = [
    "#!/usr/bin/env bash",
    `#SBATCH --job-name=${o.jobName}`,
    `#SBATCH --nodes=${o.nodes}`,
    "#SBATCH --ntasks-per-node=1",
    `#SBATCH --gpus-per-node=${o.gpusPerNode}`,
    "#SBATCH --exclusive",
    `#SBATCH --output=${o.runDir}/slurm-%j.out`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
  ];
  const train = [
    "node", q(`${o.repoRoot}/bin/whet.js`), "train", q(o.configPath), ...o.overrides.map(q),
    "--nnodes", '"$SLURM_NNODES"', "--node-rank", '"$SLURM_NODEID"',
    "--master-addr", '"$MASTER_ADDR"', "--master-port", String(o.masterPort),
    "--nproc", String(o.gpusPerNode), "--device", "cuda",
  ].join(" ");
  return `${header.join("\n")}
# Written by \`whet launch slurm\`. Every node runs the same command; the first node hosts the
# rendezvous. Ranks compare versions and GPU models before the first step.
set -euo pipefail
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
# NCCL gives up well before any watchdog, so a broken link fails in minutes, not hours.
export TORCH_NCCL_ASYNC_ERROR_HANDLING=1
mkdir -p ${q(o.runDir)}
cd ${q(o.repoRoot)}
srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c ${q(`${train}`)}
`;
}
