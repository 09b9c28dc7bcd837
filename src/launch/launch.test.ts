import { test } from "node:test";
import assert from "node:assert/strict";
import { torchrunArgv, shellLine, launchEnv, ALLOC_CONF } from "./torchrun.ts";
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

test("GPU launches use expandable allocator segments unless the user configured the allocator", () => {
  const saved = { a: process.env.PYTORCH_CUDA_ALLOC_CONF, b: process.env.PYTORCH_ALLOC_CONF };
  try {
    delete process.env.PYTORCH_CUDA_ALLOC_CONF;
    delete process.env.PYTORCH_ALLOC_CONF;
    assert.equal(launchEnv({ ...base, device: "cuda" }).PYTORCH_CUDA_ALLOC_CONF, ALLOC_CONF);
    assert.equal(launchEnv(base).PYTORCH_CUDA_ALLOC_CONF, undefined, "CPU runs have no CUDA allocator");
    process.env.PYTORCH_ALLOC_CONF = "max_split_size_mb:512";
    assert.equal(launchEnv({ ...base, device: "cuda" }).PYTORCH_CUDA_ALLOC_CONF, undefined);
    delete process.env.PYTORCH_ALLOC_CONF;
    process.env.PYTORCH_CUDA_ALLOC_CONF = "backend:native";
    assert.equal(launchEnv({ ...base, device: "cuda" }).PYTORCH_CUDA_ALLOC_CONF, undefined);
  } finally {
    for (const [k, v] of [["PYTORCH_CUDA_ALLOC_CONF", saved.a], ["PYTORCH_ALLOC_CONF", saved.b]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
