import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyDeepSpeed, candidatePaths } from "./apply-deepspeed.ts";
import { WhetError } from "../errors.ts";

const EXAMPLES = join(process.env.WHET_SHARED_DATA ?? new URL("../../../shared/data", import.meta.url).pathname, "llamafactory", "examples");
const run = { per_device_train_batch_size: 1, gradient_accumulation_steps: 2, max_grad_norm: 1, bf16: true, fp16: false };

test("an LF example's examples/deepspeed/... path is found from the config's ancestors", () => {
  const m = applyDeepSpeed({ ...run, deepspeed: "examples/deepspeed/ds_z3_config.json" }, join(EXAMPLES, "train_full"));
  assert.equal(m?.file, join(EXAMPLES, "deepspeed", "ds_z3_config.json"));
  assert.deepEqual([m?.sharding, m?.offload, m?.warnings], ["zero3", "none", []]);
  const off = applyDeepSpeed({ ...run, deepspeed: "examples/deepspeed/ds_z3_offload_config.json" }, join(EXAMPLES, "train_full"));
  assert.deepEqual([off?.sharding, off?.offload], ["zero3", "params+optimizer"]);
  assert.equal(applyDeepSpeed({ ...run, deepspeed: "examples/deepspeed/ds_z0_config.json" }, join(EXAMPLES, "train_lora"))?.sharding, "ddp");
});

test("the config's folder wins over ancestors, then the cwd is tried", () => {
  const root = mkdtempSync(join(tmpdir(), "whet-ds-"));
  const cfgDir = join(root, "lf", "examples", "train_full");
  mkdirSync(cfgDir, { recursive: true });
  mkdirSync(join(root, "lf", "ds"), { recursive: true });
  writeFileSync(join(root, "lf", "ds", "z.json"), JSON.stringify({ zero_optimization: { stage: 2 } }));
  writeFileSync(join(cfgDir, "z.json"), JSON.stringify({ zero_optimization: { stage: 1 } }));
  assert.equal(applyDeepSpeed({ ...run, deepspeed: "ds/z.json" }, cfgDir)?.sharding, "zero2");
  assert.equal(applyDeepSpeed({ ...run, deepspeed: "z.json" }, cfgDir)?.sharding, "zero1");
  const elsewhere = mkdtempSync(join(tmpdir(), "whet-cwd-"));
  writeFileSync(join(elsewhere, "only-here.json"), JSON.stringify({ zero_optimization: { stage: 3, offload_optimizer: { device: "cpu" } } }));
  const m = applyDeepSpeed({ ...run, deepspeed: "only-here.json" }, cfgDir, { cwd: elsewhere });
  assert.deepEqual([m?.sharding, m?.offload], ["zero3", "optimizer"]);
  assert.deepEqual(candidatePaths("a.json", "/x/y", "/w"), ["/x/y/a.json", "/x/a.json", "/a.json", "/w/a.json"]);
});

test("absent or off is no mapping; a missing file or a bad value is a clear error", () => {
  assert.equal(applyDeepSpeed(run, "/"), undefined);
  assert.equal(applyDeepSpeed({ ...run, deepspeed: "none" }, "/"), undefined);
  assert.throws(
    () => applyDeepSpeed({ ...run, deepspeed: "examples/deepspeed/ds_z9.json" }, join(EXAMPLES, "train_full"), { where: "x.yaml:9 deepspeed" }),
    (e: unknown) =>
      e instanceof WhetError && e.code === "FILE_NOT_FOUND" &&
      /^x\.yaml:9 deepspeed: examples\/deepspeed\/ds_z9\.json does not exist \(looked in the config's folder, the folders above it and the working folder: .+\)\. Fix the path, or replace the key with sharding: zero3/.test(e.message),
  );
  assert.throws(() => applyDeepSpeed({ ...run, deepspeed: 3 }, "/"), /expected the path of a DeepSpeed JSON file, got 3/);
});

test("an explicit train_batch_size is named, since the process count is not known yet", () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-ds-"));
  writeFileSync(join(dir, "ds.json"), JSON.stringify({ train_batch_size: 16, zero_optimization: { stage: 2, foo: 1 } }));
  const m = applyDeepSpeed({ ...run, deepspeed: "ds.json" }, dir);
  assert.deepEqual(m?.warnings.map((w) => w.where?.replace(/^.*ds\.json/, "ds.json")), ["ds.json train_batch_size", "ds.json zero_optimization.foo"]);
  assert.throws(() => applyDeepSpeed({ ...run, deepspeed: "ds.json" }, dir, { worldSize: 4 }), /train_batch_size: is 16 but the run gives 8/);
});
