// The planner's check before `whet train` launches: sharding auto filled by the fit search, a run
// that will not fit refused with the nearest fitting setting, --force launching anyway.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WhetError } from "../errors.ts";
import { trainPreflight } from "./preflight.ts";

const GiB = 1024 ** 3;
const LLAMA8B = {
  hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
  intermediate_size: 14336, vocab_size: 128256, tie_word_embeddings: false,
};
const full8b = {
  finetuning_type: "full", bf16: true, per_device_train_batch_size: 1, gradient_accumulation_steps: 4,
  cutoff_len: 2048, packing: true, gradient_checkpointing: true, sharding: "auto", offload: "none",
};

test("8B full fine-tuning on 8 × 141 GB with sharding auto: a sharded setting is chosen and fits", () => {
  const r = trainPreflight(full8b, LLAMA8B, { world: 8, gpuMemoryBytes: 141e9 });
  assert.ok(r.fits);
  assert.ok(r.chosen.sharding && r.chosen.sharding !== "ddp", `chose ${r.chosen.sharding}`);
  assert.ok(r.plan.peak.total <= 141e9 * 0.9);
  assert.match(r.notes.join("\n"), /sharding auto: .* fastest setting predicted to fit/);
});

test("8B full fine-tuning with ddp on one 80 GiB GPU is refused with the numbers and a setting that fits", () => {
  assert.throws(
    () => trainPreflight({ ...full8b, sharding: "ddp" }, LLAMA8B, { world: 1, gpuMemoryBytes: 80 * GiB }),
    (e: unknown) => {
      assert.ok(e instanceof WhetError);
      assert.equal(e.code, "PLAN_NO_FIT");
      assert.match(e.message, /^memory: \d+\.\d\d GiB per GPU predicted .* of 80\.00 GiB .*: it will not fit \(weights /);
      assert.match(e.message, /fastest setting predicted to fit keeps the global batch: per_device_train_batch_size=\d+ gradient_accumulation_steps=\d+ .*offload=/);
      assert.match(e.message, /--force/);
      return true;
    },
  );
});

test("--force launches a run predicted not to fit, and says so", () => {
  const r = trainPreflight({ ...full8b, sharding: "ddp" }, LLAMA8B, { world: 1, gpuMemoryBytes: 80 * GiB, insist: true });
  assert.equal(r.fits, false);
  assert.match(r.notes.at(-1)!, /predicted NOT to fit; launching anyway/);
});

test("a written offload is kept; an unwritten one may be chosen", () => {
  const free = trainPreflight(full8b, LLAMA8B, { world: 1, gpuMemoryBytes: 141e9 });
  assert.ok(free.fits);
  assert.equal(free.chosen.sharding, "zero3");
  assert.notEqual(free.chosen.offload, "none", "one 141 GB GPU needs offload for 8B full fine-tuning");
  assert.throws(
    () => trainPreflight(full8b, LLAMA8B, { world: 1, gpuMemoryBytes: 141e9, given: new Set(["offload"]) }),
    (e: unknown) => e instanceof WhetError && e.code === "PLAN_NO_FIT",
  );
});

test("a small LoRA run fits on one GPU as plain ddp", () => {
  const small = { hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, intermediate_size: 1536, vocab_size: 49152, tie_word_embeddings: true };
  const r = trainPreflight({ ...full8b, finetuning_type: "lora", lora_rank: 8 }, small, { world: 1, gpuMemoryBytes: 80 * GiB });
  assert.equal(r.chosen.sharding, "ddp");
  assert.equal(r.chosen.offload, "none");
  assert.ok(r.fits);
});

test("gradient_checkpointing auto: the least recomputation that fits, at the user's sharding and micro-batch", () => {
  const lora = { ...full8b, finetuning_type: "lora", lora_rank: 8, lora_target: "all", sharding: "ddp", per_device_train_batch_size: 2 };
  // LoRA on 141 GB: the activations of 2 × 2048 tokens fit without recomputation.
  const roomy = trainPreflight({ ...lora, gradient_checkpointing: "auto" }, LLAMA8B, { world: 1, gpuMemoryBytes: 141e9 });
  assert.equal(roomy.chosen.gradient_checkpointing, "none");
  assert.equal(roomy.chosen.sharding, undefined, "a sharding the user wrote is kept");
  assert.match(roomy.notes.join("\n"), /gradient_checkpointing auto: /);
  // Full fine-tuning of 8B on two 90 GiB GPUs: the states (60 GiB each) and FSDP2's fp32 reduce of
  // the 1B-parameter root leave little room, so blocks are recomputed.
  const tight = trainPreflight({ ...full8b, sharding: "zero3", gradient_checkpointing: "auto" }, LLAMA8B, { world: 2, gpuMemoryBytes: 90 * GiB });
  assert.ok(tight.fits);
  assert.notEqual(tight.chosen.gradient_checkpointing, "none");
  // Less room never means less recomputation.
  const order = ["none", "selective/4", "selective/2", "full"];
  const small = trainPreflight({ ...lora, gradient_checkpointing: "auto" }, LLAMA8B, { world: 1, gpuMemoryBytes: 26 * GiB });
  assert.ok(order.indexOf(small.chosen.gradient_checkpointing!) >= order.indexOf(roomy.chosen.gradient_checkpointing!));
  // An explicit value is kept.
  assert.equal(trainPreflight({ ...lora, gradient_checkpointing: "full" }, LLAMA8B, { world: 1, gpuMemoryBytes: 141e9 }).chosen.gradient_checkpointing, undefined);
});
