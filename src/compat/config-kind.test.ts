import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { recogniseConfig } from "./config-kind.ts";

const EXAMPLES = join(process.env.WHET_SHARED_DATA ?? new URL("../../../shared/data", import.meta.url).pathname, "llamafactory", "examples");
const kind = (f: string) => recogniseConfig(parse(readFileSync(join(EXAMPLES, f), "utf8")) as Record<string, unknown>);

test("each LLaMA-Factory example file is recognised for what it is", () => {
  const expected: Record<string, [string, string | undefined]> = {
    "train_lora/qwen3_lora_sft.yaml": ["train", undefined],
    "train_lora/qwen3_lora_dpo.yaml": ["train", undefined],
    "train_full/llama3_full_sft.yaml": ["train", undefined],
    "train_lora/qwen3_preprocess.yaml": ["preprocess", "tokenized_path"],
    "merge_lora/qwen3_lora_sft.yaml": ["export", "export_dir"],
    "inference/qwen3_lora_sft.yaml": ["inference", "infer_backend"],
    "accelerate/fsdp_config.yaml": ["accelerate", "compute_environment"],
    "deepspeed/ds_z3_config.json": ["deepspeed", "zero_optimization"],
    "deepspeed/ds_z2_autotp_config.json": ["deepspeed", "zero_optimization"],
  };
  for (const [f, [k, key]] of Object.entries(expected)) assert.deepEqual([kind(f).kind, kind(f).key], [k, key], f);
  assert.match(kind("merge_lora/qwen3_lora_sft.yaml").message, /whet export .* is not available yet/);
  assert.match(kind("accelerate/fsdp_config.yaml").message, /FULL_SHARD is sharding: zero3/);
});

test("an adapter without training keys is inference; with a dataset it is a (refused) training config", () => {
  assert.equal(recogniseConfig({ model_name_or_path: "m", adapter_name_or_path: "a" }).kind, "inference");
  assert.equal(recogniseConfig({ model_name_or_path: "m", adapter_name_or_path: "a", dataset: "d" }).kind, "train");
});
