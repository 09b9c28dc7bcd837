// The real command on this machine, in process. CI has no GPU: the report must say so, and still
// check Python, torch and a 2-process gloo all-reduce (through torchrun).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { doctorCommand } from "../cli/commands/doctor.ts";
import { launchRefusal, quickDoctor, REPORT_FILE, renderReport, type Report } from "./index.ts";

const hasGpu = !spawnSync("nvidia-smi", ["-L"]).error;

/** What the command writes (strings); node:test's own reporter traffic (bytes) passes through. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = "";
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== "string") return write(chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await fn(), stdout };
  } finally {
    process.stdout.write = write;
  }
}

test("no GPU: says so, checks Python, torch and gloo, judges a config, saves the report", { skip: hasGpu && "this machine has a GPU", timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-doctor-"));
  const config = join(dir, "run.yaml");
  writeFileSync(config, "model_name_or_path: some/model\ndataset: data.json\nfinetuning_type: lora\nbf16: true\n");
  const { code, stdout } = await capture(() => doctorCommand.run(["--json", "--config", config, "--save", join(dir, "run")]));
  const report = JSON.parse(stdout) as Report;
  const by = Object.fromEntries(report.checks.map((c) => [c.id, c]));
  for (const c of report.checks) assert.deepEqual(Object.keys(c).filter((k) => k !== "data").sort(), ["detail", "fix", "id", "title", "value", "verdict"]);

  assert.equal(by["gpu.count"]!.verdict, "warning");
  assert.match(by["gpu.count"]!.value, /^no NVIDIA GPU/);
  assert.equal(by["python.interpreter"]!.verdict, "ok");
  assert.equal(by["python.torch"]!.verdict, "ok");
  assert.match(by["python.torch"]!.value, /^2\.\d+/);
  for (const op of ["all_reduce", "all_gather", "reduce_scatter"]) {
    const c = by[`comm.${op}`]!;
    assert.equal(c.verdict, "ok", c.detail);
    assert.match(c.title, /^gloo .*\(2 CPU processes\)/);
    const data = c.data as { rows: { checksumOk: boolean; bytes: number; busbw: number }[] };
    assert.deepEqual(data.rows.map((r) => r.bytes), [2 ** 20, 2 ** 22, 2 ** 24]);
    assert.ok(data.rows.every((r) => r.checksumOk && r.busbw > 0));
  }
  // On the CPU bf16 is ignored: the config computes in float32 there, and says so.
  assert.equal(by["precision.config"]!.value, "load float32, compute float32, save float32");
  assert.ok(by["host.shm"] && by["host.disk"] && by["host.nofile"] && by["host.ram"]);
  assert.equal(report.summary.failures, report.checks.filter((c) => c.verdict === "failure").length);
  assert.equal(code, report.summary.failures > 0 ? 1 : 0);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "run", REPORT_FILE), "utf8")), report);
  assert.match(renderReport(report), /! GPUs +no NVIDIA GPU/);
});

test("quickDoctor on the CPU: one small gloo all-reduce, nothing else on the wire", { skip: hasGpu && "this machine has a GPU", timeout: 180_000 }, async () => {
  const { ok, report } = await quickDoctor();
  const comm = report.checks.filter((c) => c.id.startsWith("comm."));
  assert.deepEqual(comm.map((c) => [c.id, c.verdict]), [["comm.all_reduce", "ok"]]);
  assert.deepEqual((comm[0]!.data as { rows: { bytes: number }[] }).rows.map((r) => r.bytes), [2 ** 20]);
  assert.equal(report.summary.quick, true);
  assert.equal(ok, report.summary.failures === 0);
  // whet train launches on this report, and refuses one where a check failed (as a peer copy
  // returning zeros would), naming the check and its fix.
  assert.equal(launchRefusal(report), null);
  const broken = { ...report, checks: [...report.checks, { id: "comm.p2p", title: "Peer copies", verdict: "failure" as const, value: "0→1: MISMATCH (4096 zeros)", detail: "", fix: "Set NCCL_P2P_DISABLE=1." }] };
  const refusal = launchRefusal(broken);
  assert.equal(refusal?.code, "WORKER_FAILED");
  assert.equal(refusal?.message, "doctor comm.p2p: 0→1: MISMATCH (4096 zeros). Set NCCL_P2P_DISABLE=1.");
});

test("a config that does not load is a failed check, not a crash", { skip: hasGpu && "this machine has a GPU", timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-doctor-"));
  const config = join(dir, "run.yaml");
  writeFileSync(config, "model_name_or_path: m\ndataset: d\nbf16: maybe\n");
  const { code, stdout } = await capture(() => doctorCommand.run(["--json", "--quick", "--config", config]));
  const report = JSON.parse(stdout) as Report;
  const c = report.checks.find((x) => x.id === "precision.config")!;
  assert.equal(c.verdict, "failure");
  assert.match(c.detail, /bf16/);
  assert.equal(code, 1);
  assert.ok(!existsSync(join(dir, REPORT_FILE)));
});
