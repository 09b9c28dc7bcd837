// The CPU-testable parts of bench/calibrate-memory.ts: the run matrix and its split, the config it
// writes, reading the worker's events, the fit + held-out comparison over recorded runs, and the
// docs section it writes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";
import {
  BASE_CONFIG,
  MATRIX,
  buildMatrix,
  calibratedSource,
  claimGiB,
  configYaml,
  measurements,
  mergeRuns,
  planInputFor,
  renderCalibration,
  runsAlone,
  spliceCalibration,
  stepsOf,
  summarizeEvents,
  syntheticData,
  type RunRecord,
} from "../../bench/calibrate-memory.ts";
import { fitAndCompare, predictReservedGiB } from "./calibrate.ts";
import { FIRST_PRINCIPLES, type PlanConstants } from "./constants.ts";
import { countParams } from "./shape.ts";

const GiB = 1024 ** 3;

test("the matrix: unique ids, at least 12 held-out runs, every dimension on both sides of the split", () => {
  const runs = buildMatrix();
  assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
  const held = runs.filter((r) => r.split === "held-out");
  const fit = runs.filter((r) => r.split === "fit");
  assert.ok(held.length >= 12, `${held.length} held-out`);
  assert.ok(fit.length >= held.length);
  for (const side of [fit, held]) {
    const values = (key: string) => new Set(side.map((r) => String(r.overrides[key])));
    assert.deepEqual([...new Set(side.map((r) => r.shape))].sort(), ["135m", "1b", "360m", "3b", "8b"]);
    for (const v of ["full", "lora"]) assert.ok(values("finetuning_type").has(v), `${v} on both sides`);
    for (const v of ["none", "full", "selective/2"]) assert.ok(values("gradient_checkpointing").has(v), `${v} on both sides`);
    for (const v of ["ddp", "zero3"]) assert.ok(values("sharding").has(v), `${v} on both sides`);
    assert.ok(values("offload").has("optimizer"));
    assert.ok(side.some((r) => r.overrides.attn_implementation === "sdpa"));
  }
  const tokens = runs.map((r) => Number(r.overrides.per_device_train_batch_size) * Number(r.overrides.cutoff_len));
  assert.equal(Math.min(...tokens), 512);
  assert.equal(Math.max(...tokens), 8192);
  // The first twelve, what a short budget reaches, already hold out six runs.
  assert.equal(runs.slice(0, 12).filter((r) => r.split === "held-out").length, 6);
  assert.equal(buildMatrix(["8b"]).length, MATRIX.filter((s) => s.shape === "8b").length);
  // Untied embeddings (a root group of embedding and head) are fitted, not only held out.
  assert.ok(fit.some((r) => r.shape === "8b" && r.overrides.finetuning_type === "full" && r.overrides.sharding === "zero3"));
});

test("--ids picks runs by id and names an unknown one; --merge keeps earlier runs not measured again", () => {
  const picked = buildMatrix(undefined, MATRIX, ["8b-full-zero3-ckfull-1x1024", "135m-full-ddp-ck0-4x2048"]);
  assert.deepEqual(picked.map((r) => r.id).sort(), ["135m-full-ddp-ck0-4x2048", "8b-full-zero3-ckfull-1x1024"]);
  assert.throws(() => buildMatrix(undefined, MATRIX, ["8b-full-zero9"]), /--ids: no configuration 8b-full-zero9/);
  const merged = mergeRuns([{ id: "a", v: 1 }, { id: "b", v: 1 }], [{ id: "b", v: 2 }, { id: "c", v: 2 }]);
  assert.deepEqual(merged, [{ id: "a", v: 1 }, { id: "b", v: 2 }, { id: "c", v: 2 }]);
});

test("every run compiles nothing, stops after its steps, and names its sharding and offload", () => {
  assert.equal(BASE_CONFIG.torch_compile, false);
  for (const r of buildMatrix()) {
    assert.ok(!("torch_compile" in r.overrides));
    assert.ok(r.overrides.sharding === "ddp" || r.overrides.sharding === "zero3");
    assert.ok(typeof r.overrides.offload === "string");
    assert.ok(stepsOf(r) >= 2);
  }
});

test("configYaml writes what the loader reads; planInputFor follows the overrides", () => {
  assert.deepEqual(parse(configYaml(BASE_CONFIG)), BASE_CONFIG);
  const run = buildMatrix().find((r) => r.id === "1b-full-zero3-offopt-ckfull-1x2048")!;
  const input = planInputFor(run);
  assert.deepEqual([input.method.kind, input.stage, input.offload, input.checkpointing.mode, input.attention, input.loss], ["full", "zero3", "optimizer", "full", "flash", "fused"]);
  const sdpa = planInputFor(buildMatrix().find((r) => r.id.endsWith("-sdpa"))!);
  assert.equal(sdpa.attention, "sdpa");
  const small = planInputFor(buildMatrix().find((r) => r.id === "135m-lora-ddp-ck0-16x512")!);
  assert.equal(small.microBatch * small.seqLen, 8192);
  assert.equal(countParams(small.shape).total, 134_515_008);
});

test("sharing the GPU: a claim with room for a low prediction; large or host-heavy runs run alone", () => {
  assert.equal(claimGiB(10), 14.5);
  assert.equal(runsAlone(10, 0, 140), false);
  assert.equal(runsAlone(50, 0, 140), true);
  assert.equal(runsAlone(30, 90, 140), true);
});

test("the synthetic data is deterministic and short enough to pack full rows", () => {
  const text = syntheticData(50);
  assert.equal(text, syntheticData(50));
  const lines = text.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 50);
  for (const l of lines) assert.ok(l.messages[1].content.split(" ").length <= 310);
});

const hello = { type: "hello", time: 1, rank: 0, protocol: 1, world_size: 1, hostname: "h", device: "NVIDIA H200", versions: { torch: "2.11.0" }, trainable_params: 1, total_params: 2, start_step: 0 };
const step = (n: number, reserved: number) => ({
  type: "step", time: 1 + n, rank: 0, step: n, total_steps: 3, epoch: 0, loss: 3, lr: 1e-5, grad_norm: 1, trained_tokens: 10, tokens: 2000 + n,
  tokens_per_s: 100, step_time_s: 0.1, data_time_s: 0, mem_allocated_gib: reserved - 2, mem_reserved_gib: reserved, mem_peak_gib: reserved - 1,
});
const lines = (...events: object[]) => events.map((e) => JSON.stringify(e)).join("\n") + "\n";

test("summarizeEvents: largest memory figures over the steps; OOM is its own status; a short run is not a measurement", () => {
  const ok = summarizeEvents(lines(hello, step(1, 10), step(2, 12.5), step(3, 12)) + "not json\n", 3);
  assert.deepEqual([ok.status, ok.reservedGiB, ok.peakGiB, ok.maxTokens, ok.hello?.device, ok.steps.length], ["ok", 12.5, 11.5, 2003, "NVIDIA H200", 3]);
  const oom = { type: "error", time: 2, rank: 0, code: "OOM", message: "CUDA out of memory", phase: "backward", step: 1, traceback: null };
  assert.equal(summarizeEvents(lines(hello, oom)).status, "oom");
  const short = summarizeEvents(lines(hello, step(1, 10)), 3);
  assert.equal(short.status, "failed");
  assert.match(short.error!, /after step 1 of 3/);
  assert.equal(summarizeEvents("").status, "failed");
});

function recorded(truth: PlanConstants): RunRecord[] {
  return buildMatrix().map((r, order) => {
    const plan_input = planInputFor(r);
    const reserved = predictReservedGiB(plan_input, truth);
    return {
      id: r.id, shape: r.shape, split: r.split, order, command: "", overrides: r.overrides, plan_input,
      predicted: { constants: "", reserved_gib: 0, allocated_gib: 0, peak_gib: 0, phase: "backward", host_gib: 0 },
      status: "ok", measured: { reserved_gib: reserved, allocated_peak_gib: null }, error: null,
    };
  });
}

test("fitAndCompare over recorded runs: only completed runs count, the planned split holds, held-out error shrinks", () => {
  const truth: PlanConstants = { ...FIRST_PRINCIPLES, activationFactor: { none: 1.1, backward: 0.8 }, fragmentation: { churn: 1.08, logits: 1.5, buffers: 2 }, runtimeBytes: 0.25 * GiB };
  const runs = recorded(truth);
  runs.push({ ...runs[0]!, id: "oom-run", status: "oom", measured: { reserved_gib: null, allocated_peak_gib: null } });
  runs.push({ ...runs[1]!, id: "killed-run", status: "killed-budget", measured: { reserved_gib: 20, allocated_peak_gib: null } });
  const ms = measurements(runs);
  assert.equal(ms.length, runs.length - 2);
  const r = fitAndCompare(ms);
  assert.deepEqual(r.fit.held_out_ids, runs.filter((x) => x.split === "held-out" && x.status === "ok").map((x) => x.id));
  assert.ok(r.compare.after.medianAbsErrorPct < r.compare.before.medianAbsErrorPct);
  assert.ok(r.compare.after.worstAbsErrorPct < 1, `${r.compare.after.worstAbsErrorPct}% (${r.compare.after.worstId})`);
});

test("the docs section and calibrated.ts written from a fit", () => {
  const runs = recorded({ ...FIRST_PRINCIPLES, activationFactor: { none: 1.05, backward: 0.6 } });
  const report = fitAndCompare(measurements(runs));
  const data = { date: "2026-12-03", hardware: { gpus: ["NVIDIA H200 (143771 MiB)"] }, versions: { torch: "2.11.0", transformers: "5.17.0", peft: "0.21.0", cuda: "13.0" }, runs };
  const md = renderCalibration("bench/results/x.json", data, report);
  assert.match(md, /NVIDIA H200/);
  assert.match(md, /torch_compile=false/);
  assert.match(md, /Held-out peak reserved memory: median/);
  for (const id of report.fit.held_out_ids) assert.ok(md.includes(`| ${id} |`), id);
  const doc = "a\n<!-- generated by bench/calibrate-memory.ts: start -->\nold\n<!-- generated by bench/calibrate-memory.ts: end -->\nb\n";
  const spliced = spliceCalibration(doc, "new");
  assert.equal(spliced, "a\n<!-- generated by bench/calibrate-memory.ts: start -->\nnew\n<!-- generated by bench/calibrate-memory.ts: end -->\nb\n");
  assert.throws(() => spliceCalibration("no markers", "x"), /lacks the markers/);
  const src = calibratedSource({ source: FIRST_PRINCIPLES.source, results: "bench/results/x.json", factors: report.fit.constants });
  assert.match(src, /export const CALIBRATION: Calibration \| null = \{/);
  assert.match(src, /"results": "bench\/results\/x.json"/);
});

test("run --dry-run prints the matrix with predictions and starts nothing", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/calibrate-memory.ts", "run", "--dry-run", "--gpu-memory", "140"], { encoding: "utf8", env: { ...process.env, PATH: "/nonexistent" } });
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.split("\n").filter((l) => /^\s*\d+\s+\d+[mb]-/.test(l));
  assert.equal(rows.length, MATRIX.length);
  assert.match(r.stdout, /held-out/);
  const bad = spawnSync(process.execPath, ["--import", "tsx", "bench/calibrate-memory.ts", "fit"], { encoding: "utf8" });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /usage: calibrate-memory.ts/);
});
