// LLaMA-Factory's own example files load as they are (read from ../shared, never copied in).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "./load.ts";
import { WhetError } from "../errors.ts";

const EXAMPLES = join(process.env.WHET_SHARED_DATA ?? "/work/shared/data", "llamafactory", "examples");

for (const name of ["train_lora/llama3_lora_sft.yaml", "train_lora/qwen3_lora_sft.yaml", "train_lora/llama3_lora_pretrain.yaml"]) {
  test(`LLaMA-Factory ${name} loads without warnings`, () => {
    const { config, warnings } = loadConfig(join(EXAMPLES, name));
    assert.deepEqual(warnings, []);
    assert.equal(config.finetuning_type, "lora");
    assert.equal(config.learning_rate, 1e-4);
    assert.equal(config.lr_scheduler_type, "cosine");
    assert.equal(config.bf16, true);
    assert.equal(config.packing, config.stage === "pt");
  });
}

test("LLaMA-Factory train_full/llama3_full_sft.yaml loads; its deepspeed JSON (found above the YAML) sets zero3", () => {
  const file = join(EXAMPLES, "train_full/llama3_full_sft.yaml");
  const { config, warnings } = loadConfig(file);
  assert.equal(config.finetuning_type, "full");
  assert.equal(config.learning_rate, 1e-5);
  assert.equal(config.sharding, "zero3");
  assert.equal(config.offload, "none");
  assert.equal((config.deepspeed_json?.zero_optimization as Record<string, unknown>).stage, 3);
  assert.equal(config.deepspeed_json?.train_micro_batch_size_per_gpu, config.per_device_train_batch_size);
  assert.deepEqual(warnings, []);
});

test("a DeepSpeed offload JSON sets offload, and the user's own sharding key wins with a warning", () => {
  const file = join(EXAMPLES, "train_full/llama3_full_sft.yaml");
  const { config, warnings } = loadConfig(file, ["deepspeed=examples/deepspeed/ds_z3_offload_config.json", "sharding=zero2"]);
  assert.equal(config.sharding, "zero2");
  assert.equal(config.offload, "params+optimizer");
  assert.deepEqual(warnings.map((w) => w.where), ["<command line> sharding"]);
  assert.match(warnings[0]!.message, /^is zero2 while .*ds_z3_offload_config\.json asks for zero3; sharding: zero2 is used\.$/);
});

test("LLaMA-Factory qwen3_lora_dpo.yaml is refused, naming stage", () => {
  const file = join(EXAMPLES, "train_lora/qwen3_lora_dpo.yaml");
  assert.throws(
    () => loadConfig(file),
    (e: unknown) =>
      e instanceof WhetError &&
      e.code === "CONFIG_INVALID" &&
      e.message === `${file}:6 stage: is dpo, which is not supported: whetstone trains pt and sft only. Use stage: sft with supervised data, or LLaMA-Factory for DPO.`,
  );
});
