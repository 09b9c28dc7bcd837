import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSpec, loraTargets, type ResolveInput, type ResolvableConfig } from "./resolve.ts";
import { RunSpec } from "../spec/runspec.ts";
import { WhetError } from "../errors.ts";

const config: ResolvableConfig = {
  stage: "sft", finetuning_type: "lora", lora_rank: 8, lora_dropout: 0, lora_target: "all", cutoff_len: 512,
  per_device_train_batch_size: 4, gradient_accumulation_steps: 2, learning_rate: 1e-4, num_train_epochs: 3, max_steps: -1,
  lr_scheduler_type: "cosine", warmup_ratio: 0.1, warmup_steps: 0, weight_decay: 0, max_grad_norm: 1, bf16: true, fp16: false,
  gradient_checkpointing: true, logging_steps: 10, save_steps: 100, seed: 42, adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8,
};

function input(over: Partial<ResolveInput> = {}, c: Partial<ResolvableConfig> = {}): ResolveInput {
  return {
    config: { ...config, ...c },
    runId: "r1",
    runDir: "/tmp/runs/r1",
    model: { path: "/m", randomInit: false, tokenizerPath: "/m", config: { vocab_size: 100, architectures: ["LlamaForCausalLM"] } },
    tokenizer: { padId: 2, eosId: 2 },
    data: { shardDir: "/s", seqLen: 512, packing: false, numRows: 1000, numTokens: 100000, trainedTokens: 50000 },
    hardware: { device: "cuda", nprocPerNode: 2, nnodes: 1 },
    resumeFrom: null,
    ...over,
  };
}

test("the resolved spec satisfies the RunSpec schema", () => {
  const { spec } = resolveSpec(input());
  assert.equal(RunSpec.safeParse(spec).success, true);
});

test("batch arithmetic: global rows, steps per epoch, epochs to steps, warmup", () => {
  const { spec } = resolveSpec(input());
  assert.equal(spec.train.global_batch_rows, 4 * 2 * 2);
  assert.equal(spec.train.steps_per_epoch, Math.floor(1000 / 16));
  assert.equal(spec.train.max_steps, 3 * 62);
  assert.equal(spec.train.warmup_steps, Math.ceil(0.1 * 186));
  const fixed = resolveSpec(input({}, { max_steps: 20, warmup_steps: 5 })).spec;
  assert.equal(fixed.train.max_steps, 20);
  assert.equal(fixed.train.warmup_steps, 5);
});

test("too little data for one step is a config error naming the batch key", () => {
  assert.throws(
    () => resolveSpec(input({ data: { shardDir: "/s", seqLen: 8, packing: false, numRows: 10, numTokens: 80, trainedTokens: 40 } })),
    (e: unknown) => e instanceof WhetError && /per_device_train_batch_size/.test(e.message),
  );
});

test("precision: bf16 on GPU keeps fp32 masters and bf16 frozen weights; CPU is fp32 with a warning", () => {
  const gpu = resolveSpec(input()).spec.precision;
  assert.deepEqual(gpu, { compute_dtype: "bfloat16", master_dtype: "float32", frozen_dtype: "bfloat16", save_dtype: "bfloat16", loss_scaling: false });
  const cpu = resolveSpec(input({ hardware: { device: "cpu", nprocPerNode: 1, nnodes: 1 } }));
  assert.equal(cpu.spec.precision.compute_dtype, "float32");
  assert.equal(cpu.spec.distributed.backend, "gloo");
  assert.match(cpu.warnings[0]!.message, /float32/);
  const fp16 = resolveSpec(input({}, { bf16: false, fp16: true })).spec.precision;
  assert.equal(fp16.loss_scaling, true);
});

test("LoRA targets and alpha defaults", () => {
  assert.deepEqual(loraTargets("all"), ["all-linear"]);
  assert.deepEqual(loraTargets("q_proj, v_proj"), ["q_proj", "v_proj"]);
  assert.equal(resolveSpec(input()).spec.method.lora?.alpha, 16);
  assert.equal(resolveSpec(input({}, { finetuning_type: "full" })).spec.method.lora, null);
});

test("global_batch_size keeps the rows per step when the process count changes; accumulation is derived", () => {
  for (const [procs, acc] of [[1, 16], [2, 8], [4, 4], [8, 2]] as const) {
    const r = resolveSpec(input({ hardware: { device: "cuda", nprocPerNode: procs, nnodes: 1 } }, { global_batch_size: 64 }));
    assert.equal(r.spec.train.global_batch_rows, 64);
    assert.equal(r.spec.train.gradient_accumulation_steps, acc);
    assert.ok(r.notes.some((n) => n.startsWith(`global_batch_size 64: accumulation ${acc} derived`)));
  }
  assert.throws(
    () => resolveSpec(input({ hardware: { device: "cuda", nprocPerNode: 3, nnodes: 1 } }, { global_batch_size: 64 })),
    (e: unknown) => e instanceof WhetError && /^global_batch_size: is 64, which 3 process\(es\) × per_device_train_batch_size 4 \(12 rows\) does not divide/.test(e.message),
  );
});

test("sharding auto: ddp for LoRA or one process, zero3 for full fine-tuning on several; explicit choices and DeepSpeed", () => {
  assert.equal(resolveSpec(input()).spec.distributed.strategy, "ddp");
  assert.equal(resolveSpec(input({}, { finetuning_type: "full" })).spec.distributed.strategy, "zero3");
  assert.equal(resolveSpec(input({ hardware: { device: "cuda", nprocPerNode: 1, nnodes: 1 } }, { finetuning_type: "full" })).spec.distributed.strategy, "ddp");
  const z2 = resolveSpec(input({}, { sharding: "zero2", offload: "optimizer" })).spec.distributed;
  assert.deepEqual([z2.strategy, z2.offload, z2.engine, z2.deepspeed_config], ["zero2", "optimizer", "torch", null]);
  assert.throws(() => resolveSpec(input({}, { sharding: "ddp", offload: "params+optimizer" })), (e: unknown) => e instanceof WhetError && /needs sharded parameters/.test(e.message));
  const ds = resolveSpec(input({}, { sharding: "zero3", offload: "params+optimizer", distributed_backend: "deepspeed" })).spec.distributed;
  assert.equal(ds.engine, "deepspeed");
  const cfg = ds.deepspeed_config as Record<string, any>;
  assert.equal(cfg.zero_optimization.stage, 3);
  assert.deepEqual([cfg.zero_optimization.offload_optimizer.device, cfg.zero_optimization.offload_param.device], ["cpu", "cpu"]);
  assert.deepEqual([cfg.train_batch_size, cfg.train_micro_batch_size_per_gpu, cfg.gradient_accumulation_steps, cfg.bf16.enabled], [16, 4, 2, true]);
});

test("gradient_checkpointing spellings map to the activation checkpointing modes", () => {
  const ac = (v: boolean | string) => resolveSpec(input({}, { gradient_checkpointing: v })).spec.train.activation_checkpointing;
  assert.deepEqual(ac(true), { mode: "full", every: 1, offload: false });
  assert.deepEqual(ac("none"), { mode: "none", every: 1, offload: false });
  assert.deepEqual(ac("selective"), { mode: "selective", every: 2, offload: false });
  assert.deepEqual(ac("selective/4"), { mode: "selective", every: 4, offload: false });
  assert.deepEqual(ac("selective/1"), { mode: "full", every: 1, offload: false });
});

test("flops_per_token follows docs/speed.md; the GPU's datasheet peak only with 16-bit compute on CUDA", () => {
  // hidden 64, 2 layers, 4 heads of 16, 2 KV heads, MLP 128, vocab 100, untied.
  const model = { path: "/m", randomInit: false, tokenizerPath: "/m", config: {
    architectures: ["LlamaForCausalLM"], hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    intermediate_size: 128, vocab_size: 100, tie_word_embeddings: false } };
  const data = { shardDir: "/s", seqLen: 512, packing: true, numRows: 1000, numTokens: 100000, trainedTokens: 50000, numDocs: 1000 };
  const linear = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128; // q, k and v, o, gate/up/down
  const matmul = 2 * linear + 100 * 64;
  const attn = 2 * 2 * 64 * 100; // 2·L·h·(mean document: 100 tokens)
  const full = resolveSpec(input({ model, data, hardware: { device: "cuda", nprocPerNode: 2, nnodes: 1, gpuName: "NVIDIA H200" } }, { finetuning_type: "full" })).spec;
  assert.equal(full.train.flops_per_token, 6 * matmul + 3 * attn);
  assert.equal(full.distributed.peak_flops_per_rank, 989e12);
  const lora = resolveSpec(input({ model, data }, { lora_rank: 8 })).spec;
  const adapters = 2 * 8 * (64 + 64 + 64 + 32 + 64 + 32 + 64 + 64 + 64 + 128 + 64 + 128 + 128 + 64);
  assert.equal(lora.train.flops_per_token, 4 * (matmul + adapters) + 2 * adapters + 3 * attn);
  assert.equal(lora.distributed.peak_flops_per_rank, null, "no GPU name given");
  const fp32 = resolveSpec(input({ model, data, hardware: { device: "cuda", nprocPerNode: 1, nnodes: 1, gpuName: "NVIDIA H200" } }, { bf16: false })).spec;
  assert.equal(fp32.distributed.peak_flops_per_rank, null);
  const unknownShape = resolveSpec(input()).spec;
  assert.equal(unknownShape.train.flops_per_token, 0);
});

test("attention and compile: auto is varlen and compiled blocks on GPUs with 16-bit compute, sdpa and eager on the CPU", () => {
  const cpuHw = { hardware: { device: "cpu" as const, nprocPerNode: 1, nnodes: 1 } };
  const gpu = resolveSpec(input()).spec;
  assert.equal(gpu.model.attn_implementation, "varlen");
  assert.equal(gpu.train.compile, true);
  const cpu = resolveSpec(input(cpuHw)).spec;
  assert.equal(cpu.model.attn_implementation, "sdpa");
  assert.equal(cpu.train.compile, false);
  // float32 compute on a GPU has no flash kernel: auto stays sdpa.
  assert.equal(resolveSpec(input({}, { bf16: false })).spec.model.attn_implementation, "sdpa");
  // Explicit choices win, on any device; LLaMA-Factory's flash_attn is read when attn_implementation is absent.
  assert.equal(resolveSpec(input(cpuHw, { attn_implementation: "varlen", torch_compile: true })).spec.model.attn_implementation, "varlen");
  assert.equal(resolveSpec(input(cpuHw, { torch_compile: true })).spec.train.compile, true);
  assert.equal(resolveSpec(input({}, { torch_compile: false })).spec.train.compile, false);
  assert.equal(resolveSpec(input(cpuHw, { flash_attn: "fa2" })).spec.model.attn_implementation, "varlen");
  assert.equal(resolveSpec(input({}, { flash_attn: "disabled" })).spec.model.attn_implementation, "eager");
  assert.equal(resolveSpec(input({}, { flash_attn: "fa2", attn_implementation: "sdpa" })).spec.model.attn_implementation, "sdpa");
});
