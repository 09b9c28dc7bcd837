import { test } from "node:test";
import assert from "node:assert/strict";
import { torchrunArgv, shellLine } from "./torchrun.ts";
import { parseGpuQuery } from "./hardware.ts";

const base = { python: "/py", specPath: "/r/spec.json", nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterPort: 29500, device: "cpu" as const };

test("single node uses a standalone rendezvous", () => {
  const argv = torchrunArgv(base);
  assert.deepEqual(argv.slice(0, 3), ["/py", "-m", "torch.distributed.run"]);
  assert.ok(argv.includes("--standalone"));
  assert.deepEqual(argv.slice(-5), ["-m", "whet_worker", "train", "--spec", "/r/spec.json"]);
});

test("several nodes use c10d with the master's address and this node's rank", () => {
  const argv = torchrunArgv({ ...base, nnodes: 2, nodeRank: 1, masterAddr: "10.1.2.3" });
  assert.ok(!argv.includes("--standalone"));
  assert.equal(argv[argv.indexOf("--rdzv-endpoint") + 1], "10.1.2.3:29500");
  assert.equal(argv[argv.indexOf("--node-rank") + 1], "1");
  assert.equal(argv[argv.indexOf("--nnodes") + 1], "2");
});

test("shellLine quotes what a shell would split", () => {
  assert.equal(shellLine(["a", "b c", "it's"], { X: "1" }), `X=1 a 'b c' 'it'\\''s'`);
});

test("nvidia-smi query output parses", () => {
  const gpus = parseGpuQuery("0, NVIDIA H200, 143771\n1, NVIDIA H200, 143771\n");
  assert.deepEqual(gpus.map((g) => [g.index, g.name, g.memoryMiB]), [[0, "NVIDIA H200", 143771], [1, "NVIDIA H200", 143771]]);
});
