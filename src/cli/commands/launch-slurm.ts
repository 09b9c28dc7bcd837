// `whet launch slurm CONFIG --nodes N --gpus-per-node G`: writes a ready sbatch script.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parse, intOption } from "../args.ts";
import { slurmScript } from "../../launch/slurm.ts";
import { REPO_ROOT } from "../../launch/python.ts";
import { loadConfig } from "../../config/load.ts";
import { writeFileAtomic, makeRunId } from "../../runs/rundir.ts";
import { WhetError } from "../../errors.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  nodes: { type: "string" },
  "gpus-per-node": { type: "string" },
  "master-port": { type: "string" },
  partition: { type: "string" },
  time: { type: "string" },
  output: { type: "string", short: "o" },
} as const;

const HELP = `Usage: whet launch slurm CONFIG [key=value ...] --nodes N --gpus-per-node G [options]

Writes an sbatch script that runs 'whet train CONFIG' on every node of the allocation
(torchrun with one process per GPU, c10d rendezvous on the first node). Submit it with sbatch.

Options:
  --nodes N            nodes to allocate (required)
  --gpus-per-node G    GPUs per node (required)
  --master-port P      rendezvous port (default 29500)
  --partition NAME     #SBATCH --partition
  --time HH:MM:SS      #SBATCH --time
  -o, --output FILE    where to write the script (default whet-<time>.sbatch)`;

export const launchSlurmCommand: Command = {
  name: "launch slurm",
  summary: "write an sbatch script that runs a config on several nodes",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("launch slurm", argv, OPTIONS);
    const overrides = positionals.filter((p) => p.includes("="));
    const [config] = positionals.filter((p) => !p.includes("="));
    if (!config) throw new WhetError("USAGE", "needs a CONFIG. Run 'whet launch slurm --help'.");
    const nodes = intOption(values.nodes, "nodes");
    const gpus = intOption(values["gpus-per-node"], "gpus-per-node");
    if (!nodes || !gpus) throw new WhetError("USAGE", [{ where: nodes ? "--gpus-per-node" : "--nodes", message: "is required and must be at least 1." }]);
    const configPath = resolve(config);
    const { config: c } = loadConfig(configPath, overrides); // refuse a broken config before submitting
    const id = makeRunId(`${c.finetuning_type}-${c.stage}-${nodes}x${gpus}`);
    const runDir = resolve(c.output_dir ?? `runs/${id}`);
    const out = resolve(values.output ?? `whet-${id}.sbatch`);
    if (existsSync(out)) throw new WhetError("USAGE", [{ where: "--output", message: `${out} exists. Choose another name.` }]);
    const withDir = c.output_dir ? overrides : [...overrides, `output_dir=${runDir}`];
    writeFileAtomic(out, slurmScript({
      configPath, overrides: withDir, nodes, gpusPerNode: gpus, repoRoot: REPO_ROOT, jobName: "whet",
      masterPort: intOption(values["master-port"], "master-port") ?? 29500,
      partition: values.partition, time: values.time, runDir,
    }));
    process.stdout.write(`wrote ${out}\nsubmit it with: sbatch ${out}\n`);
    return 0;
  },
};
