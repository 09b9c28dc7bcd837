import { test } from "node:test";
import assert from "node:assert/strict";
import { inCollective, mainThread } from "./stacks.ts";
import { refineByStacks } from "./supervisor.ts";

const beatThread = `Thread 0x00007fc4a85146c0 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 331 in wait
  File "/w/worker/whet_worker/watch.py", line 54 in _loop
`;
const waiting = `${beatThread}
Current thread 0x00007fc4c9be3b80 (most recent call first):
  File "/v/torch/distributed/distributed_c10d.py", line 4394 in all_gather_single
  File "/v/torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py", line 119 in __call__
  File "/w/worker/whet_worker/train.py", line 110 in step
  File "/w/worker/whet_worker/__main__.py", line 58 in _train
`;
const hung = `${beatThread}
Current thread 0x00007f0000000001 (most recent call first):
  File "/w/worker/whet_worker/faults.py", line 30 in before_forward
  File "/w/worker/whet_worker/train.py", line 108 in step
  File "/w/worker/whet_worker/__main__.py", line 58 in _train
`;
const pyspy = `Process 4242: python -m whet_worker train
Thread 4242 (idle): "MainThread"
    all_reduce (torch/distributed/distributed_c10d.py:2501)
    _train (whet_worker/__main__.py:58)
Thread 4250 (idle): "whet-heartbeat"
    wait (threading.py:331)
`;

test("the main thread is found in faulthandler's and py-spy's dumps, and a collective in it", () => {
  assert.match(mainThread(waiting), /^Current thread/);
  assert.equal(inCollective(waiting), true);
  assert.equal(inCollective(hung), false);
  assert.equal(inCollective(pyspy), true);
  assert.equal(inCollective(""), false);
});

test("of ranks at the same step and phase, the one outside a collective is the one behind", () => {
  const beat = (rank: number) => ({ rank, pid: rank, host: "h", step: 3, phase: "forward", time: 0, progress_time: 0, exit_code: null });
  const stall = { rank: beat(0), ranks: [beat(0), beat(1)], stuckS: 9, timeoutS: 5, together: true };
  const r = refineByStacks(stall, new Map([[0, waiting], [1, hung]]));
  assert.equal(r.rank.rank, 1);
  assert.equal(r.together, false);
  assert.match(r.why!, /rank\(s\) 0 wait in one/);
  // Nothing to tell them apart: unchanged.
  assert.deepEqual(refineByStacks(stall, new Map([[0, waiting], [1, waiting]])), { rank: stall.rank, together: true, why: undefined });
});
