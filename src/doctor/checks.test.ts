// The judging functions on recorded machines and made-up measurements.
import { test } from "node:test";
import assert from "node:assert/strict";
import { machine } from "../../tests/fixtures/doctor/machines.ts";
import { activityCheck, capabilityCheck, driverCheck, gpuCountCheck, topologyCheck } from "./gpu-checks.ts";
import { collectiveChecks, p2pCheck } from "./comm-checks.ts";
import { dtypesFor, matmulCheck, precisionCheck } from "./precision.ts";
import { pythonChecks } from "./python-checks.ts";
import { hostChecks, type HostFacts } from "./host.ts";
import { expectedBusBandwidth } from "./bandwidth.ts";
import { parseCollectives, type P2pPair, type PythonEnv } from "./probe.ts";

const GiB = 2 ** 30;

function pyEnv(torch: Partial<NonNullable<PythonEnv["torch"]>> = {}, packages: Record<string, string | null> = {}): PythonEnv {
  return {
    python: { executable: "/usr/bin/python3", version: "3.11.9" },
    packages: { transformers: "4.57.1", peft: "0.17.1", deepspeed: null, ...packages },
    cuda_visible_devices: null,
    torch: { version: "2.11.0+cu128", cuda_build: "12.8", cuda_available: true, device_count: 8, bf16_supported: true, nccl: "2.27.3", nccl_available: true, gloo_available: true, devices: [], ...torch },
  };
}

test("GPU count: none is said plainly; more --gpus than visible fails", () => {
  const none = gpuCountCheck({ present: false, error: "nvidia-smi not found", gpus: [], cudaVersion: null, topology: { gpus: 0, links: [] } }, 0, undefined);
  assert.equal(none.verdict, "warning");
  assert.match(none.value, /no NVIDIA GPU \(nvidia-smi not found\)/);
  const h100 = machine("h100x8");
  assert.equal(gpuCountCheck(h100, 8, undefined).value, "8 × NVIDIA H100 80GB HBM3, 80 GiB");
  assert.equal(gpuCountCheck(h100, 8, 8).verdict, "ok");
  const tooMany = gpuCountCheck(h100, 4, 8);
  assert.equal(tooMany.verdict, "failure");
  assert.match(tooMany.fix, /--gpus 8 asks for more than the 4 visible/);
});

test("driver against torch's CUDA: older major fails, older minor warns", () => {
  const h100 = machine("h100x8"); // driver CUDA 12.4
  assert.equal(driverCheck(h100, pyEnv({ cuda_build: "12.4" })).verdict, "ok");
  assert.equal(driverCheck(h100, pyEnv({ cuda_build: "12.8" })).verdict, "warning");
  const major = driverCheck(h100, pyEnv({ cuda_build: "13.0" }));
  assert.equal(major.verdict, "failure");
  assert.match(major.fix, /cu124/);
  assert.equal(driverCheck(machine("h200x2"), pyEnv({ cuda_build: "12.8" })).verdict, "ok");
});

test("compute capability: Hopper, Ampere and Ada have bf16; Volta does not", () => {
  assert.equal(capabilityCheck(machine("a100x1")).value, "compute capability 8.0; bf16 yes");
  assert.equal(capabilityCheck(machine("rtx4090x2")).verdict, "ok");
  const v100 = machine("a100x1");
  v100.gpus[0]!.computeCap = "7.0";
  const c = capabilityCheck(v100);
  assert.equal(c.verdict, "warning");
  assert.match(c.fix, /fp16: true/);
});

test("clocks and load: an idle box is ok, a GPU another process uses is named", () => {
  const rtx = machine("rtx4090x2");
  const idle = activityCheck(rtx);
  assert.equal(idle.verdict, "ok");
  assert.match(idle.detail, /GPU0: SM 210\/3105 MHz, memory 405 MHz, 4% busy, 812 MiB used, 27\/450 W, 41 C/);
  rtx.gpus[1]!.utilizationPct = 97;
  const busy = activityCheck(rtx);
  assert.equal(busy.verdict, "warning");
  assert.equal(busy.value, "GPU 1 in use");
});

test("topology: NVLink everywhere is ok, PCIe through the host bridge warns, one GPU has none", () => {
  const h = topologyCheck(machine("h100x8").topology)!;
  assert.equal(h.verdict, "ok");
  assert.equal(h.value, "NVLink between every pair (NV18)");
  assert.match(h.detail, /GPU7: NV18 NV18 NV18 NV18 NV18 NV18 NV18 X/);
  const r = topologyCheck(machine("rtx4090x2").topology)!;
  assert.equal(r.verdict, "warning");
  assert.equal(r.value, "PCIe paths: PHB");
  assert.equal(topologyCheck(machine("a100x1").topology), undefined);
});

test("python: CPU torch on a GPU machine fails; missing peft fails; deepspeed is optional; counts compared", () => {
  const ok = pythonChecks("/usr/bin/python3", { ok: true, value: pyEnv(), seconds: 1 }, 8, true);
  assert.deepEqual(ok.map((c) => [c.id, c.verdict]), [["python.interpreter", "ok"], ["python.torch", "ok"], ["python.packages", "ok"], ["python.devices", "ok"]]);
  assert.match(ok[2]!.value, /deepspeed not installed \(optional\)/);
  const cpu = pythonChecks("/p", { ok: true, value: pyEnv({ cuda_build: null, cuda_available: false, device_count: 0 }), seconds: 1 }, 8, true);
  assert.equal(cpu.find((c) => c.id === "python.torch")!.verdict, "failure");
  assert.equal(cpu.find((c) => c.id === "python.devices")!.verdict, "failure");
  const noPeft = pythonChecks("/p", { ok: true, value: pyEnv({}, { peft: null }), seconds: 1 }, 8, true);
  assert.match(noPeft.find((c) => c.id === "python.packages")!.fix, /pip install peft/);
  const fewer = pythonChecks("/p", { ok: true, value: pyEnv({ device_count: 7 }), seconds: 1 }, 8, true);
  assert.equal(fewer.find((c) => c.id === "python.devices")!.verdict, "failure");
  const noTorch = pythonChecks("/p", { ok: true, value: { ...pyEnv(), torch: null, torch_error: "ModuleNotFoundError: No module named 'torch'" }, seconds: 1 }, 0, false);
  assert.equal(noTorch[1]!.verdict, "failure");
  assert.equal(pythonChecks(new Error("no Python found"), null, 0, false)[0]!.verdict, "failure");
});

const pair = (src: number, dst: number, match = true): P2pPair => ({ src, dst, peer_access: true, match, checksum_src: 100, checksum_dst: match ? 100 : 0, zeros: match ? 0 : 1000, seconds: 0.001 });

test("P2P: a copy that comes back as zeros fails, unless whet's workaround made the collectives right", () => {
  const good = p2pCheck({ ok: true, value: { device_count: 2, bytes: 64e6, pairs: [pair(0, 1), pair(1, 0)] }, seconds: 1 }, undefined);
  assert.equal(good.verdict, "ok");
  assert.equal(good.value, "2 copies match, 64.0-64.0 GB/s");
  const broken = { ok: true as const, value: { device_count: 2, bytes: 64e6, pairs: [pair(0, 1, false), pair(1, 0)] }, seconds: 1 };
  const bad = p2pCheck(broken, undefined);
  assert.equal(bad.verdict, "failure");
  assert.match(bad.detail, /0→1: MISMATCH \(1000 zeros/);
  assert.equal(p2pCheck(broken, "came out right with NCCL_P2P_DISABLE=1").verdict, "warning");
});

test("collectives: right sums at full speed ok, slow warns against the link figure, wrong sums fail", () => {
  const h100 = machine("h100x8");
  const expected = expectedBusBandwidth(h100.gpus, h100.topology);
  const run = (seconds: number, checksum_ok = true) =>
    parseCollectives({ backend: "nccl", world_size: 8, device: "cuda", torch: "2.11", nccl: "2.27.3", results: [
      { op: "all_reduce", bytes: 2 ** 20, iters: 50, seconds: 0.00005, checksum_ok: true },
      { op: "all_reduce", bytes: 2 ** 30, iters: 8, seconds, checksum_ok },
    ] });
  const [fast] = collectiveChecks({ ok: true, value: run(0.0046), seconds: 9 }, expected, "torchrun ...");
  assert.equal(fast!.verdict, "ok");
  assert.equal(fast!.value, "busbw 408 GB/s at 1 GiB (91% of ~450 GB/s)");
  assert.equal(fast!.title, "NCCL all-reduce (8 GPUs)");
  const [slow] = collectiveChecks({ ok: true, value: run(0.02), seconds: 9 }, expected, "");
  assert.equal(slow!.verdict, "warning");
  const [wrong] = collectiveChecks({ ok: true, value: run(0.0046, false), seconds: 9 }, expected, "");
  assert.equal(wrong!.verdict, "failure");
  assert.equal(wrong!.value, "wrong result at 1 GiB");
  const [crashed] = collectiveChecks({ ok: false, error: "torchrun exited with code 1", seconds: 3 }, expected, "");
  assert.equal(crashed!.verdict, "failure");
});

test("precision: float32 by default warns, bf16 on a GPU without it fails, fp16 where bf16 exists warns", () => {
  const lora = { bf16: true, fp16: false, finetuning_type: "lora" as const };
  assert.deepEqual(dtypesFor(lora, true), { load: "bfloat16 (frozen base)", compute: "bfloat16", save: "bfloat16" });
  assert.deepEqual(dtypesFor({ ...lora, finetuning_type: "full" }, true), { load: "float32 (master weights)", compute: "bfloat16", save: "bfloat16" });
  const gpu = { gpu: true, bf16: true };
  assert.equal(precisionCheck(lora, gpu, "run.yaml").verdict, "ok");
  const f32 = precisionCheck({ ...lora, bf16: false }, gpu, "run.yaml");
  assert.equal(f32.verdict, "warning");
  assert.equal(f32.value, "load float32 (frozen base), compute float32, save float32");
  assert.equal(f32.fix, "run.yaml: set bf16: true.");
  assert.equal(precisionCheck(lora, { gpu: true, bf16: false }, "run.yaml").verdict, "failure");
  assert.equal(precisionCheck({ ...lora, bf16: false, fp16: true }, gpu, "run.yaml").verdict, "warning");
  assert.equal(precisionCheck({ ...lora, bf16: false, fp16: true }, { gpu: true, bf16: false }, "run.yaml").verdict, "ok");
  assert.equal(precisionCheck(lora, { gpu: false, bf16: null }, "run.yaml").value, "load float32, compute float32, save float32");
});

test("matmul: against the datasheet peak of the GPU's name", () => {
  const dev = (name: string, tflops: number) => ({ index: 0, name, n: 8192, iters: 50, seconds: 1, tflops });
  const h = matmulCheck({ ok: true, value: { devices: [dev("NVIDIA H200", 720)] }, seconds: 2 })!;
  assert.equal(h.verdict, "ok");
  assert.match(h.value, /720 TFLOP\/s .*73% of 989 peak/);
  assert.equal(matmulCheck({ ok: true, value: { devices: [dev("NVIDIA A100-SXM4-80GB", 120)] }, seconds: 2 })!.verdict, "warning");
  assert.match(matmulCheck({ ok: true, value: { devices: [dev("Mystery GPU", 50)] }, seconds: 2 })!.value, /no datasheet peak/);
  assert.equal(matmulCheck({ ok: true, value: { skipped: "no CUDA device", devices: [] }, seconds: 1 }), undefined);
});

test("host: Docker's 64 MiB /dev/shm warns, a nearly full disk fails, offload larger than RAM fails", () => {
  const facts: HostFacts = { shmBytes: 64 * 2 ** 20, disk: { path: "/data", freeBytes: 2 * GiB }, nofile: 1024, ramTotalBytes: 64 * GiB, ramAvailableBytes: 60 * GiB, ib: [] };
  const checks = hostChecks(facts, { gpus: 2, runsDir: "/data/runs", offloadHostBytes: 100 * GiB });
  const by = Object.fromEntries(checks.map((c) => [c.id, c]));
  assert.equal(by["host.shm"]!.verdict, "warning");
  assert.equal(by["host.shm"]!.value, "64 MiB");
  assert.equal(by["host.disk"]!.verdict, "failure");
  assert.equal(by["host.nofile"]!.verdict, "warning");
  assert.equal(by["host.ram"]!.verdict, "failure");
  const fine = hostChecks({ ...facts, shmBytes: 32 * GiB, disk: { path: "/data", freeBytes: 900 * GiB }, nofile: 1048576 }, { gpus: 8, runsDir: "/data/runs" });
  assert.ok(fine.every((c) => c.verdict === "ok"), JSON.stringify(fine));
});
