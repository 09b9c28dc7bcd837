import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { mapDeepSpeedConfig, type RunBatch } from "./deepspeed.ts";
import { WhetError } from "../errors.ts";

const DIR = join(process.env.WHET_SHARED_DATA ?? new URL("../../../shared/data", import.meta.url).pathname, "llamafactory", "examples", "deepspeed");
const run: RunBatch = { microBatch: 2, accumulation: 4, worldSize: 8, maxGradNorm: 1, bf16: true, fp16: false };
const load = (f: string) => JSON.parse(readFileSync(join(DIR, f), "utf8"));

test("every LLaMA-Factory DeepSpeed config maps", () => {
  const expected: Record<string, [string, string]> = {
    "ds_z0_config.json": ["ddp", "none"],
    "ds_z2_config.json": ["zero2", "none"],
    "ds_z2_autotp_config.json": ["zero2", "none"],
    "ds_z3_config.json": ["zero3", "none"],
    "ds_z3_offload_config.json": ["zero3", "params+optimizer"],
    "ds_z3_fp8_config.json": ["zero3", "optimizer"],
  };
  const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));
  assert.deepEqual(files.sort(), Object.keys(expected).sort());
  for (const f of files) {
    const m = mapDeepSpeedConfig(load(f), f, run);
    assert.deepEqual([m.strategy, m.offload], expected[f], f);
    assert.equal(m.bf16, true, f);
    assert.equal(m.filled.train_micro_batch_size_per_gpu, 2, f);
    assert.equal(m.filled.gradient_accumulation_steps, 4, f);
    assert.ok(!JSON.stringify(m.filled).includes('"auto"'), `${f} still has auto`);
  }
});

test("what cannot be honoured is named", () => {
  const tp = mapDeepSpeedConfig(load("ds_z2_autotp_config.json"), "ds_z2_autotp_config.json", run);
  assert.ok(tp.warnings.some((w) => w.where === "ds_z2_autotp_config.json tensor_parallel" && /tensor parallelism/.test(w.message)));
  const fp8 = mapDeepSpeedConfig(load("ds_z3_fp8_config.json"), "f.json", run);
  assert.deepEqual(fp8.warnings.map((w) => w.where).sort(), ["f.json comms_config", "f.json monitor_config"]);
  const z3 = mapDeepSpeedConfig(load("ds_z3_config.json"), "z3.json", run);
  assert.deepEqual(z3.warnings, []);
  assert.ok(z3.tunedByFsdp.includes("stage3_prefetch_bucket_size"));
});

test("explicit batch values must agree with the run", () => {
  assert.throws(
    () => mapDeepSpeedConfig({ train_micro_batch_size_per_gpu: 4, zero_optimization: { stage: 2 } }, "x.json", run),
    (e: unknown) => e instanceof WhetError && /x\.json train_micro_batch_size_per_gpu: is 4 but the run gives 2/.test(e.message),
  );
  assert.throws(() => mapDeepSpeedConfig({ zero_optimization: { stage: 5 } }, "x.json", run), /must be 0, 1, 2 or 3/);
  assert.throws(() => mapDeepSpeedConfig([], "x.json", run), /not a DeepSpeed config/);
  assert.throws(() => mapDeepSpeedConfig({ bf16: { enabled: true }, fp16: { enabled: true } }, "x.json", run), /both on/);
});

test("offload_param below ZeRO-3 is named and ignored", () => {
  const m = mapDeepSpeedConfig({ zero_optimization: { stage: 2, offload_param: { device: "cpu" } } }, "x.json", run);
  assert.equal(m.offload, "optimizer");
  assert.ok(m.warnings.some((w) => /needs ZeRO-3/.test(w.message)));
});
