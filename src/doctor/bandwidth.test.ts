import { test } from "node:test";
import assert from "node:assert/strict";
import { bandwidth, busFactor, expectedBusBandwidth } from "./bandwidth.ts";
import { parseCollectives } from "./probe.ts";
import { machine } from "../../tests/fixtures/doctor/machines.ts";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test("bus factors are nccl-tests': 2(n-1)/n for all-reduce, (n-1)/n for all-gather and reduce-scatter", () => {
  assert.equal(busFactor("all_reduce", 8), 1.75);
  assert.equal(busFactor("all_reduce", 2), 1);
  assert.equal(busFactor("all_gather", 8), 0.875);
  assert.equal(busFactor("reduce_scatter", 4), 0.75);
  assert.equal(busFactor("all_reduce", 1), 0);
});

test("known numbers: 1 GiB all-reduce on 8 GPUs in 4.6 ms is 233.4 GB/s algbw, 408.5 busbw", () => {
  const r = bandwidth("all_reduce", 8, 2 ** 30, 0.0046);
  close(r.algbw, 233.42213565217393);
  close(r.busbw, 408.48873739130436);
  const g = bandwidth("all_gather", 2, 1e9, 0.1); // 10 GB/s algbw, half of it on the bus
  close(g.algbw, 10);
  close(g.busbw, 5);
});

test("raw probe timings become rows with the same arithmetic", () => {
  const c = parseCollectives({
    backend: "nccl", world_size: 8, device: "cuda", torch: "2.11.0", nccl: "2.27.3",
    results: [{ op: "all_reduce", bytes: 2 ** 30, iters: 8, seconds: 0.0046, checksum_ok: true }],
  });
  close(c.rows[0]!.busbw, 408.48873739130436);
  assert.equal(c.ranks, 8);
});

test("expected busbw: NVLink from the bonded link count, PCIe from generation and width", () => {
  const h100 = machine("h100x8");
  assert.equal(expectedBusBandwidth(h100.gpus, h100.topology)?.gbps, 450);
  assert.match(expectedBusBandwidth(h100.gpus, h100.topology)!.source, /NV18.*25 GB\/s per NVLink/);
  const rtx = machine("rtx4090x2");
  const e = expectedBusBandwidth(rtx.gpus, rtx.topology)!;
  assert.equal(e.gbps, 12.5); // Gen4, but the second card sits in an x8 slot
  assert.match(e.source, /PCIe Gen4 x8.*PHB/);
  assert.equal(expectedBusBandwidth([], { gpus: 0, links: [] }), undefined);
});
