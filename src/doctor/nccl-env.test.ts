import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { machine } from "../../tests/fixtures/doctor/machines.ts";
import { readInfiniband } from "./host.ts";
import { ncclChecks, ncclEnv, ncclProblems, type NcclFacts } from "./nccl-env.ts";

const healthy: NcclFacts = { gpus: 8, ib: [], p2pBroken: [], shmBytes: 32 * 2 ** 30, env: {} };
const ibDown = [{ name: "mlx5_0", ports: [{ port: "1", state: "1: DOWN", linkLayer: "InfiniBand" }] }];

test("a healthy machine needs no variable", () => {
  assert.deepEqual(ncclProblems(healthy), []);
  assert.deepEqual(ncclEnv(healthy), {});
  assert.deepEqual(ncclChecks(healthy).map((c) => [c.id, c.verdict]), [["nccl.env", "ok"]]);
});

test("InfiniBand devices with no active port: NCCL_IB_DISABLE=1", () => {
  const f = { ...healthy, ib: ibDown };
  assert.deepEqual(ncclEnv(f), { NCCL_IB_DISABLE: "1" });
  assert.match(ncclProblems(f)[0]!.detail, /mlx5_0\/1: 1: DOWN/);
  const up = [{ name: "mlx5_0", ports: [{ port: "1", state: "4: ACTIVE", linkLayer: "InfiniBand" }] }, ...ibDown];
  assert.deepEqual(ncclEnv({ ...healthy, ib: up }), {});
});

test("broken P2P: NCCL_P2P_DISABLE=1; small /dev/shm: NCCL_SHM_DISABLE=1; a user's own setting is kept", () => {
  const f = { ...healthy, p2pBroken: [{ src: 0, dst: 1 }], shmBytes: 64 * 2 ** 20 };
  assert.deepEqual(ncclEnv(f), { NCCL_P2P_DISABLE: "1", NCCL_SHM_DISABLE: "1" });
  assert.deepEqual(ncclEnv({ ...f, env: { NCCL_SHM_DISABLE: "0" } }), { NCCL_P2P_DISABLE: "1" });
  const checks = ncclChecks(f);
  assert.deepEqual(checks.map((c) => [c.id, c.verdict]), [["nccl.p2p", "warning"], ["nccl.shm", "warning"]]);
  assert.match(checks[0]!.fix, /whet sets NCCL_P2P_DISABLE=1/);
});

test("one GPU needs none of it", () => {
  assert.deepEqual(ncclEnv({ ...healthy, gpus: 1, ib: ibDown, shmBytes: 1 }), {});
});

test("variables left in the shell that slow a healthy NVLink box are named", () => {
  const c = ncclChecks({ ...healthy, topology: machine("h100x8").topology, env: { NCCL_P2P_DISABLE: "1", CUDA_LAUNCH_BLOCKING: "1" } });
  assert.equal(c.length, 1);
  assert.equal(c[0]!.id, "nccl.user_env");
  assert.equal(c[0]!.value, "NCCL_P2P_DISABLE=1 CUDA_LAUNCH_BLOCKING=1");
});

test("reads InfiniBand port states from a sysfs tree", () => {
  const root = mkdtempSync(join(tmpdir(), "whet-ib-"));
  for (const [dev, state] of [["mlx5_0", "1: DOWN"], ["mlx5_1", "4: ACTIVE"]] as const) {
    mkdirSync(join(root, dev, "ports", "1"), { recursive: true });
    writeFileSync(join(root, dev, "ports", "1", "state"), state + "\n");
    writeFileSync(join(root, dev, "ports", "1", "link_layer"), "InfiniBand\n");
  }
  const ib = readInfiniband(root);
  assert.deepEqual(ib.map((d) => d.ports[0]!.state).sort(), ["1: DOWN", "4: ACTIVE"]);
  assert.deepEqual(ncclEnv({ ...healthy, ib }), {});
  assert.deepEqual(readInfiniband(join(root, "absent")), []);
});
