import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GPU_FILE, parseGpuLine, parseNvidiaSmi, thin } from "./samples.ts";
import { NO_SAMPLER, startGpuSampler } from "./sampler.ts";

// What `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total,power.draw
// --format=csv,noheader,nounits` prints (", " between columns, MiB, %, W) for an 80 GB GPU node
// mid-run with two GPUs idle; the last line is how it prints readings a GPU does not offer (MIG
// mode, some boards). Written in that documented format, not recorded on a GPU machine here.
const CAPTURED = `0, 100, 70521, 81559, 689.73
1, 98, 70493, 81559, 675.12
2, 0, 4, 81559, 71.40
3, [Not Supported], 1, 81559, [N/A]
`;

test("nvidia-smi's CSV becomes one record per sample: GiB, %, W; N/A is null", () => {
  const r = parseNvidiaSmi(CAPTURED, 1700000000.5, "node-a");
  assert.equal(r.time, 1700000000.5);
  assert.equal(r.host, "node-a");
  assert.deepEqual(r.gpus[0], { index: 0, util_pct: 100, mem_used_gib: 68.868, mem_total_gib: 79.647, power_w: 689.73 });
  assert.deepEqual(r.gpus[3], { index: 3, util_pct: null, mem_used_gib: 0.001, mem_total_gib: 79.647, power_w: null });
  assert.equal(r.gpus.length, 4);
  // Garbage, a header, a short line: skipped, not thrown.
  const odd = parseNvidiaSmi("index, utilization.gpu [%]\nNo devices were found\n0, 5\n\n", 1, "h");
  assert.deepEqual(odd.gpus, []);
  assert.deepEqual(parseGpuLine(JSON.stringify(r)), r);
  assert.equal(parseGpuLine('{"time": 1}'), null);
  assert.equal(parseGpuLine("{nope"), null);
});

test("thin keeps evenly spaced records and the last one", () => {
  const xs = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(thin(xs, 20), xs);
  assert.deepEqual(thin(xs, 4), [0, 3, 6, 9]);
  assert.deepEqual(thin(xs, 3), [0, 4, 8, 9]);
});

function fakeNvidiaSmi(dir: string): { bin: string; argsLog: string } {
  const bin = join(dir, "nvidia-smi");
  const argsLog = join(dir, "args.txt");
  writeFileSync(bin, `#!/bin/sh\necho "$@" >> ${argsLog}\ncat <<'EOF'\n${CAPTURED}EOF\n`);
  chmodSync(bin, 0o755);
  return { bin, argsLog };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the sampler appends a line per sample to runs/<id>/gpu.jsonl until stopped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-gpu-"));
  const { bin, argsLog } = fakeNvidiaSmi(dir);
  const path = join(dir, GPU_FILE);
  const lines = () => (existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : []);
  const sampler = startGpuSampler({ runDir: dir, device: "cuda", intervalS: 0.05, nvidiaSmi: bin, ids: "0,1,2,3", host: "node-a" });
  await until("three samples", () => lines().length >= 3);
  await sampler.stop();
  const n = lines().length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(lines().length, n, "nothing is written after stop()");
  const records = lines().map((l) => parseGpuLine(l)!);
  assert.ok(records.every((r) => r.host === "node-a" && r.gpus.length === 4));
  assert.ok(records[1]!.time > records[0]!.time);
  assert.match(readFileSync(argsLog, "utf8"), /^--query-gpu=index,utilization\.gpu,memory\.used,memory\.total,power\.draw --format=csv,noheader,nounits --id=0,1,2,3$/m);
});

test("without nvidia-smi, or for a CPU run, the sampler writes nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-gpu-"));
  const s = startGpuSampler({ runDir: dir, intervalS: 0.05, nvidiaSmi: join(dir, "no-such-nvidia-smi") });
  await new Promise((r) => setTimeout(r, 200));
  await s.stop();
  assert.equal(existsSync(join(dir, GPU_FILE)), false);
  assert.equal(startGpuSampler({ runDir: dir, device: "cpu", nvidiaSmi: fakeNvidiaSmi(dir).bin }), NO_SAMPLER);
});

test("nvidia-smi that fails every time is given up after a few tries", async () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-gpu-"));
  const bin = join(dir, "nvidia-smi");
  const calls = join(dir, "calls");
  writeFileSync(bin, `#!/bin/sh\necho x >> ${calls}\necho "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2\nexit 9\n`);
  chmodSync(bin, 0o755);
  const s = startGpuSampler({ runDir: dir, intervalS: 0.02, nvidiaSmi: bin });
  await new Promise((r) => setTimeout(r, 500));
  await s.stop();
  assert.equal(readFileSync(calls, "utf8").trim().split("\n").length, 3);
  assert.equal(existsSync(join(dir, GPU_FILE)), false);
});
