import { test } from "node:test";
import assert from "node:assert/strict";
import { checkRules } from "./rules.ts";
import { validateConfig } from "./validate.ts";
import type { RunConfig } from "./schema.ts";

/** A valid config with defaults, from the same validation the loader uses. */
function config(over: Record<string, unknown> = {}): RunConfig {
  const v = validateConfig({ model_name_or_path: "m", dataset: "d", max_steps: 100, ...over });
  assert.ok(v.config, JSON.stringify(v.errors));
  return v.config;
}

const run = (over: Partial<RunConfig>, given: string[] = []) => checkRules({ config: { ...config(), ...over }, given: new Set(["max_steps", ...given]) });
const keys = (list: { key: string }[]) => list.map((p) => p.key);

test("a plain config passes every rule", () => {
  assert.deepEqual(run({}), { errors: [], warnings: [] });
});

test("bf16 and fp16 together is an error on fp16", () => {
  assert.deepEqual(keys(run({ bf16: true, fp16: true }).errors), ["fp16"]);
  assert.deepEqual(run({ bf16: true }).errors, []);
});

test("do_train false and max_steps 0 are errors", () => {
  assert.deepEqual(keys(run({ do_train: false }).errors), ["do_train"]);
  assert.deepEqual(keys(run({ max_steps: 0 }).errors), ["max_steps"]);
});

test("lora keys with full fine-tuning are warnings, only for keys the user wrote", () => {
  assert.deepEqual(keys(run({ finetuning_type: "full" }, ["lora_rank", "lora_target"]).warnings), ["lora_rank", "lora_target"]);
  assert.deepEqual(run({ finetuning_type: "full" }).warnings, []);
  assert.deepEqual(run({}, ["lora_rank"]).warnings, []);
});

test("steps versus epochs", () => {
  assert.deepEqual(keys(run({}, ["num_train_epochs"]).warnings), ["num_train_epochs"], "max_steps wins over epochs");
  const neither = checkRules({ config: { ...config(), max_steps: -1 }, given: new Set() });
  assert.match(neither.warnings[0]!.message, /trains 3 epochs/);
});

test("save_steps and logging_steps beyond max_steps warn when written", () => {
  assert.deepEqual(keys(run({ max_steps: 10, save_steps: 50, logging_steps: 20 }, ["save_steps", "logging_steps"]).warnings), ["save_steps", "logging_steps"]);
  assert.deepEqual(run({ max_steps: 10 }).warnings, [], "defaults do not warn");
  assert.deepEqual(keys(run({ save_steps: 0 }, ["save_total_limit"]).warnings), ["save_total_limit"]);
});

test("warmup: steps win over ratio; constant has no warmup", () => {
  assert.deepEqual(keys(run({ warmup_steps: 5, warmup_ratio: 0.1 }).warnings), ["warmup_ratio"]);
  assert.deepEqual(keys(run({ lr_scheduler_type: "constant", warmup_ratio: 0.1 }, ["warmup_ratio"]).warnings), ["lr_scheduler_type"]);
});

test("pt ignores prompt and history masking", () => {
  assert.deepEqual(keys(run({ stage: "pt" }, ["train_on_prompt"]).warnings), ["train_on_prompt"]);
});

test("validation runs the rules on keys that passed even when another key failed", () => {
  const v = validateConfig({ model_name_or_path: "m", dataset: "d", max_steps: 10, bf16: true, fp16: true, cutoff_len: 0 });
  assert.deepEqual(keys(v.errors), ["cutoff_len", "fp16"]);
  assert.equal(v.config, undefined);
});
