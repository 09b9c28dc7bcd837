import { test } from "node:test";
import assert from "node:assert/strict";
import { machine } from "../../tests/fixtures/doctor/machines.ts";
import { maskedCount, parseGpuDetails, parseTopology, slowestLink } from "./nvidia.ts";

test("8×H100: every field of the query, NV18 between all 28 pairs, NICs ignored", () => {
  const m = machine("h100x8");
  assert.equal(m.gpus.length, 8);
  const g = m.gpus[3]!;
  assert.deepEqual(
    { index: g.index, name: g.name, mem: g.memoryMiB, used: g.memoryUsedMiB, driver: g.driver, cap: g.computeCap, sm: g.smClockMHz, smMax: g.smClockMaxMHz, util: g.utilizationPct, gen: g.pcieGen, width: g.pcieWidth, bus: g.busId },
    { index: 3, name: "NVIDIA H100 80GB HBM3", mem: 81559, used: 1, driver: "550.54.15", cap: "9.0", sm: 345, smMax: 1980, util: 0, gen: 5, width: 16, bus: "00000000:5D:00.0" },
  );
  assert.equal(m.cudaVersion, "12.4");
  assert.equal(m.topology.gpus, 8);
  assert.equal(m.topology.links.length, 28);
  assert.ok(m.topology.links.every((l) => l.kind === "nvlink" && l.nvlinks === 18 && l.raw === "NV18"));
  assert.deepEqual(m.topology.links.map((l) => `${l.a}-${l.b}`).slice(0, 3), ["0-1", "0-2", "0-3"]);
});

test("2×RTX 4090: colour codes stripped, PHB, [N/A] reads as unknown", () => {
  const m = machine("rtx4090x2");
  assert.equal(m.topology.gpus, 2);
  assert.deepEqual(m.topology.links, [{ a: 0, b: 1, raw: "PHB", kind: "PHB", nvlinks: 0 }]);
  assert.equal(m.gpus[1]!.powerW, null);
  assert.equal(m.gpus[1]!.pcieWidth, 8);
  assert.equal(m.gpus[0]!.computeCap, "8.9");
  assert.equal(m.cudaVersion, "12.2");
});

test("1×A100: one GPU, no pairs; the NIC row is not a GPU", () => {
  const m = machine("a100x1");
  assert.equal(m.gpus.length, 1);
  assert.equal(m.gpus[0]!.name, "NVIDIA A100-SXM4-80GB");
  assert.equal(m.topology.gpus, 1);
  assert.deepEqual(m.topology.links, []);
});

test("2×H200: NV18", () => {
  const m = machine("h200x2");
  assert.equal(m.gpus[1]!.memoryMiB, 143771);
  assert.equal(slowestLink(m.topology)?.raw, "NV18");
});

test("the slowest link decides: SYS beats PIX and NV4 in a mixed box", () => {
  const text = "\tGPU0\tGPU1\tGPU2\tCPU Affinity\n" + "GPU0\t X \tNV4\tSYS\t0-7\n" + "GPU1\tNV4\t X \tPIX\t0-7\n" + "GPU2\tSYS\tPIX\t X \t8-15\n";
  const topo = parseTopology(text);
  assert.deepEqual(topo.links.map((l) => l.raw), ["NV4", "SYS", "PIX"]);
  assert.equal(slowestLink(topo)?.raw, "SYS");
  assert.equal(parseTopology("No devices were found").gpus, 0);
});

test("an old driver's basic query still parses", () => {
  const gpus = parseGpuDetails("0, Tesla V100-SXM2-16GB, 16160, 470.82.01\n", "index,name,memory.total,driver_version");
  assert.equal(gpus[0]!.driver, "470.82.01");
  assert.equal(gpus[0]!.computeCap, null);
});

test("CUDA_VISIBLE_DEVICES narrows the count; CUDA stops at the first bad entry", () => {
  assert.equal(maskedCount(8, undefined), 8);
  assert.equal(maskedCount(8, "0,3"), 2);
  assert.equal(maskedCount(8, ""), 0);
  assert.equal(maskedCount(8, "-1"), 0);
  assert.equal(maskedCount(2, "0,5,1"), 1);
  assert.equal(maskedCount(2, "GPU-8a1b,GPU-77c2"), 2);
});
