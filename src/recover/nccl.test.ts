import { test } from "node:test";
import assert from "node:assert/strict";
import { matchKnownCauses, renderCauses } from "./nccl.ts";

const ids = (texts: string[]) => matchKnownCauses(texts).map((m) => m.cause.id);

test("known NCCL and network texts map to their cause and fix", () => {
  assert.deepEqual(ids(["torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5"]), ["nccl.system"]);
  assert.deepEqual(ids(["node1:123:456 [0] NCCL WARN NET/IB : Got completion from peer 10.0.0.2 with error 12, opcode 0"]), ["nccl.ib"]);
  assert.deepEqual(ids(["RuntimeError: CUDA error: cudaErrorPeerAccessUnsupported"]), ["nccl.p2p"]);
  assert.deepEqual(ids(["NCCL WARN Error: failed to extend /dev/shm/nccl-abc to 9637892 bytes", "No space left on device"]), ["nccl.shm"]);
  assert.deepEqual(ids(["[c10d] The client socket has failed to connect to [node0]:29500 (errno: 111 - Connection refused)."]), ["net.refused"]);
  assert.deepEqual(ids(["[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=12, OpType=ALLREDUCE) ran for 600012 milliseconds before timing out."]), ["collective.timeout"]);
  assert.deepEqual(ids(["NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus."]), ["cuda.ecc"]);
});

test("each cause is named once, in table order, with the line that matched and the fix", () => {
  const m = matchKnownCauses(["a\nConnection refused\nConnection refused again", "ncclSystemError: unhandled system error"]);
  assert.deepEqual(m.map((x) => x.cause.id), ["nccl.system", "net.refused"]);
  const lines = renderCauses(m);
  assert.match(lines[0]!, /^likely cause: .*seen: "ncclSystemError/);
  assert.match(lines[1]!, /NCCL_P2P_DISABLE=1, NCCL_IB_DISABLE=1/);
});

test("ordinary training output matches nothing", () => {
  assert.deepEqual(ids(["[whet rank 0] model ready: 1,000 trainable", "step 3 loss 2.1", "NCCL_P2P_DISABLE is set", "Traceback (most recent call last):\nValueError: bad"]), []);
});
