import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { slurmScript } from "./slurm.ts";

const script = slurmScript({
  configPath: "/data/my run.yaml", overrides: ["max_steps=10"], nodes: 4, gpusPerNode: 8, repoRoot: "/opt/whet",
  jobName: "whet-test", masterPort: 29501, runDir: "/scratch/runs/x", partition: "gpu", time: "02:00:00",
});

test("the sbatch script passes bash -n", () => {
  const f = join(mkdtempSync(join(tmpdir(), "slurm-")), "job.sbatch");
  writeFileSync(f, script);
  const r = spawnSync("bash", ["-n", f], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("every node runs the same train command with its own node rank", () => {
  assert.match(script, /#SBATCH --nodes=4/);
  assert.match(script, /#SBATCH --gpus-per-node=8/);
  assert.match(script, /#SBATCH --ntasks-per-node=1/);
  assert.match(script, /srun --ntasks-per-node=1/);
  const line = script.split("\n").find((l) => l.startsWith("srun"))!;
  for (const part of ["train '\\''/data/my run.yaml'\\''", "--nnodes \"$SLURM_NNODES\"", "--node-rank \"$SLURM_NODEID\"", "--master-addr \"$MASTER_ADDR\"", "--master-port 29501", "--nproc 8"]) {
    assert.ok(line.includes(part), `missing ${part} in ${line}`);
  }
});

test("the command srun runs expands to the right argv on a node", () => {
  // Run the srun payload through bash with Slurm's variables set and `node` replaced by echo.
  const payload = /bash -c ('.*')$/.exec(script.split("\n").find((l) => l.startsWith("srun"))!)![1]!;
  const r = spawnSync("bash", ["-c", `node() { printf '%s\\n' "$@"; }; export -f node; SLURM_NNODES=4 SLURM_NODEID=2 MASTER_ADDR=n001 bash -c ${payload}`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const argv = r.stdout.trim().split("\n");
  assert.deepEqual(argv.slice(0, 4), ["/opt/whet/bin/whet.js", "train", "/data/my run.yaml", "max_steps=10"]);
  assert.equal(argv[argv.indexOf("--node-rank") + 1], "2");
  assert.equal(argv[argv.indexOf("--master-addr") + 1], "n001");
});
