// planRun: hand-checked totals, monotonicity, offload and inference arithmetic.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planRun, type PlanInput } from "./planner.ts";
import { planInference } from "./inference.ts";
import { DEFAULT_CONSTANTS, FIRST_PRINCIPLES } from "./constants.ts";
import { KNOWN_SHAPES, countParams } from "./shape.ts";
import { STAGES } from "./states.ts";
import { WhetError } from "../errors.ts";

const llama8b = KNOWN_SHAPES["Llama-3-8B"]!;
const base: PlanInput = {
  shape: llama8b,
  method: { kind: "full" },
  computeBytes: 2,
  stage: "none",
  offload: "none",
  world: 1,
  microBatch: 1,
  seqLen: 2048,
  gradientAccumulation: 1,
  checkpointing: { mode: "none" },
  attention: "sdpa",
  loss: "plain",
};
const methods: PlanInput["method"][] = [
  { kind: "full" },
  { kind: "freeze", trainableLayers: 2 },
  { kind: "lora", rank: 8, targets: ["all"] },
  { kind: "qlora", rank: 8, targets: ["all"], bits: 4 },
];

test("full zero3 model states are 16Ψ/N, as FSDP2 keeps fp32 shards only", () => {
  const psi = countParams(llama8b).total;
  const p = planRun({ ...base, stage: "zero3", world: 8 });
  const s = p.phases.optimizer_step;
  assert.equal(s.weights + s.gradients + s.optimizer, (16 * psi) / 8);
});

test("LoRA keeps the base in bf16 and 16 bytes per adapter parameter", () => {
  const p = planRun({ ...base, method: { kind: "lora", rank: 8, targets: ["all"] } });
  const s = p.phases.optimizer_step;
  assert.equal(p.params.trainable, 20_971_520);
  assert.equal(s.weights, 2 * 8_030_261_248 + 4 * 20_971_520);
  assert.equal(s.gradients, 4 * 20_971_520);
  assert.equal(s.optimizer, 8 * 20_971_520);
});

test("QLoRA weights are about a quarter of LoRA's", () => {
  const lora = planRun({ ...base, method: { kind: "lora", rank: 8, targets: ["all"] } }).peak.weights;
  const q = planRun({ ...base, method: { kind: "qlora", rank: 8, targets: ["all"], bits: 4 } }).peak.weights;
  assert.ok(q < 0.4 * lora && q > 0.25 * lora, `${q / lora}`);
});

test("more tokens never needs less memory", () => {
  for (const method of methods) {
    for (const loss of ["plain", "chunked"] as const) {
      let last = 0;
      for (const [microBatch, seqLen] of [[1, 256], [1, 1024], [2, 1024], [2, 4096], [8, 4096]] as const) {
        const p = planRun({ ...base, method, loss, microBatch, seqLen });
        assert.ok(p.peak.total >= last, `${method.kind} ${loss} ${microBatch}x${seqLen}`);
        last = p.peak.total;
      }
    }
  }
});

test("more GPUs never needs more per GPU under zero3", () => {
  // From 2 GPUs on: going from 1 to 2 adds NCCL's buffers, which fully offloaded states can't repay.
  for (const method of methods) {
    for (const offload of ["none", "optimizer", "params+optimizer"] as const) {
      let last = Infinity;
      for (const world of [offload === "none" ? 1 : 2, 2, 4, 8, 16, 64]) {
        const p = planRun({ ...base, method, stage: "zero3", offload, world });
        assert.ok(p.peak.total <= last, `${method.kind} ${offload} world ${world}`);
        last = p.peak.total;
      }
    }
  }
});

test("checkpointing never needs more activation memory", () => {
  for (const attention of ["sdpa", "eager"] as const) {
    const act = (checkpointing: PlanInput["checkpointing"]) => {
      const p = planRun({ ...base, attention, checkpointing, microBatch: 4 });
      return Math.max(...Object.values(p.phases).map((b) => b.activations));
    };
    const none = act({ mode: "none" });
    const every4 = act({ mode: "selective", every: 4 });
    const every2 = act({ mode: "selective", every: 2 });
    const full = act({ mode: "full" });
    assert.ok(none >= every4 && every4 >= every2 && every2 >= full, `${attention}: ${[none, every4, every2, full]}`);
  }
});

test("eager attention adds S² per head; varlen's per-document fallback keeps each output twice; the worker's losses are smaller than plain", () => {
  const flash = planRun({ ...base, seqLen: 4096, attention: "flash" });
  const eager = planRun({ ...base, seqLen: 4096, attention: "eager" });
  const extra = eager.phases.forward_end.activations - flash.phases.forward_end.activations;
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-9 * b, `${a} vs ${b}`);
  close(extra, DEFAULT_CONSTANTS.eagerScoreBytes * llama8b.heads * 4096 * 4096 * llama8b.layers * DEFAULT_CONSTANTS.activationFactor.none);
  const q = llama8b.heads * llama8b.headDim;
  const fallback = planRun({ ...base, seqLen: 4096, attention: "varlen-fallback" });
  close(fallback.phases.forward_end.activations - flash.phases.forward_end.activations, 2 * q * 4096 * llama8b.layers * DEFAULT_CONSTANTS.activationFactor.none);
  // float32 compute: the worker's varlen attention has no flash kernel and takes the fallback.
  const fp32 = (attention: PlanInput["attention"]) => planRun({ ...base, computeBytes: 4, attention }).phases.forward_end.activations;
  assert.equal(fp32("flash"), fp32("varlen-fallback"));
  const loss = (l: PlanInput["loss"]) => {
    const p = planRun({ ...base, method: { kind: "lora", rank: 8, targets: ["all"] }, microBatch: 2, seqLen: 4096, loss: l });
    return Math.max(...Object.values(p.phases).map((b) => b.logits));
  };
  assert.ok(loss("chunked") < loss("plain") / 2, `${loss("chunked")} ${loss("plain")}`);
  assert.ok(loss("fused") < loss("chunked") / 2, `${loss("fused")} ${loss("chunked")}`);
});

test("offload moves states to host RAM; parameter offload needs zero3", () => {
  const on = planRun({ ...base, stage: "zero3", world: 8, offload: "params+optimizer" });
  const off = planRun({ ...base, stage: "zero3", world: 8 });
  assert.equal(on.hostBytesPerGpu, (16 * countParams(llama8b).total) / 8);
  assert.equal(on.hostBytesPerNode, 8 * on.hostBytesPerGpu);
  assert.ok(on.peak.total < off.peak.total);
  assert.equal(off.hostBytesPerGpu, 0);
  assert.throws(() => planRun({ ...base, stage: "zero2", world: 2, offload: "params+optimizer" }), WhetError);
});

test("optimizer offload follows the worker: fp32 weights and gradients under DDP, 16-bit shards under FSDP2", () => {
  const n = countParams(llama8b).total;
  const ddp = planRun({ ...base, offload: "optimizer" });
  assert.equal(ddp.hostBytesPerGpu, 12 * n);
  assert.deepEqual([ddp.phases.optimizer_step.weights, ddp.phases.optimizer_step.optimizer], [4 * n, 0]);
  const z3 = planRun({ ...base, stage: "zero3", world: 8, offload: "optimizer" });
  assert.equal(z3.hostBytesPerGpu, (12 * n) / 8);
  assert.equal(z3.phases.optimizer_step.weights, (2 * n) / 8);
  assert.equal(z3.phases.optimizer_step.optimizer, 0);
  assert.ok(z3.peak.total < planRun({ ...base, stage: "zero3", world: 8 }).peak.total);
});

test("full fine-tuning: higher stages never need more per GPU at a fixed world size", () => {
  // (Not a law for freeze/LoRA: a fp32 reduce-scatter buffer can outweigh tiny sharded grads.)
  for (const method of [{ kind: "full" }] as PlanInput["method"][]) {
    const peaks = STAGES.map((stage) => planRun({ ...base, method, stage, world: 8 }).peak.total);
    for (let n = 1; n < peaks.length; n++) assert.ok(peaks[n]! <= peaks[n - 1]! + 1, `${method.kind} ${peaks}`);
  }
});

test("the peak phase is the largest phase, and the breakdown adds up", () => {
  const p = planRun({ ...base, microBatch: 4, gradientAccumulation: 4 });
  const { total, allocated, ...parts } = p.peak;
  assert.equal(Object.values(parts).reduce((a, b) => a + b, 0), total);
  assert.ok(allocated < total && p.allocatedPeak <= p.reservedPeak);
  for (const b of Object.values(p.phases)) assert.ok(b.total <= p.peak.total);
  assert.equal(p.tokensPerMicroBatch, 8192);
});

test("inference = weights + KV cache (2 · layers · kv heads · head dim · bytes per token)", () => {
  const r = planInference({ shape: llama8b, weightBytes: 2, contextLen: 8192, batch: 4 });
  assert.equal(r.weights, 2 * 8_030_261_248);
  assert.equal(r.kvBytesPerToken, 2 * 32 * 8 * 128 * 2); // 128 KiB per token
  assert.equal(r.kvCache, 131_072 * 8192 * 4);
  assert.equal(r.total, r.weights + r.kvCache + DEFAULT_CONSTANTS.cudaContextBytes);
});

test("preflight: the train command's one call, from config keys to a verdict", async () => {
  const { preflight } = await import("./index.ts");
  const modelConfig = { hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256 };
  const config = { finetuning_type: "full", cutoff_len: 2048, packing: true, per_device_train_batch_size: 1, gradient_accumulation_steps: 8, bf16: true, gradient_checkpointing: true };
  const r = preflight(config, modelConfig, { world: 1, gpuMemoryBytes: 80 * 1024 ** 3 });
  assert.equal(r.fits, false);
  assert.match(r.summary, /may NOT fit/);
  const lora = preflight({ ...config, finetuning_type: "lora" }, modelConfig, { world: 1, gpuMemoryBytes: 80 * 1024 ** 3 });
  assert.equal(lora.fits, true);
  assert.equal(lora.plan.params.trainable, 20_971_520);
});

// Counted on the CPU with saved-tensor hooks over transformers' Llama block (h 256, 2 KV heads of
// 32, I 704, 8 heads) and fitted over six shapes: bytes per token per block, without the two
// fp32 RMSNorm rsqrt values (8 bytes) the formula leaves out, with K and V at their own heads.
// The worker's flash path keeps them repeated to every head (torch's varlen_attn takes no
// grouped-query flag): 4 (q - kv) more.
test("saved bytes per token per block follow how the worker computes", async () => {
  const { blockBytesPerToken } = await import("./activations.ts");
  const shape = { hidden: 256, layers: 2, heads: 8, kvHeads: 2, headDim: 32, intermediate: 704, vocab: 1000, tiedEmbeddings: true, qkvBias: false };
  const count = (layout: "full" | "full-autocast" | "adapter" | "adapter-autocast") =>
    blockBytesPerToken(shape, DEFAULT_CONSTANTS, { attention: "flash", seqLen: 512, computeBytes: 2, layout, adapter: { rank: 8, linears: 7 } });
  const repeated = 4 * (256 - 64);
  assert.equal(count("full-autocast"), 13608 - 8 + repeated); // fp32 weights under autocast: 30h + 4kv + 8I + 4 heads
  assert.equal(count("full"), 11048 - 8 + repeated); // FSDP2, 16-bit weights: 20h + 4kv + 8I + 4 heads
  assert.equal(count("adapter-autocast"), 12184 - 8 + repeated); // LoRA under autocast: 24h + ... + 2r per adapted linear
  assert.equal(count("adapter"), 10136 - 8 + repeated); // LoRA under FSDP2: 16h + ...
});

test("the fused loss keeps no [tokens, vocab] logits: its memory stops growing after one chunk", () => {
  const lora = { ...base, method: { kind: "lora", rank: 8, targets: ["all"] } } as PlanInput;
  const logits = (loss: PlanInput["loss"], microBatch: number) => planRun({ ...lora, loss, microBatch }).phases.forward_end.logits;
  assert.equal(logits("fused", 1), logits("fused", 8));
  assert.ok(logits("chunked", 8) > 4 * logits("chunked", 1) - 1);
});

test("ddp's 16-bit autocast copies live through forward and backward, not through the optimizer step", () => {
  const c = countParams(llama8b);
  const n = c.total;
  // The embedding is a lookup (nothing cast); the plain loss's head keeps its cast for backward,
  // the fused loss casts the head inside its checkpoint, chunk by chunk.
  const p = planRun({ ...base, stage: "none" });
  assert.equal(p.phases.forward_end.weights, 4 * n + 2 * (n - c.embedding));
  assert.equal(planRun({ ...base, loss: "fused" }).phases.forward_end.weights, 4 * n + 2 * (n - c.embedding - c.head));
  assert.equal(p.phases.optimizer_step.weights, 4 * n);
  assert.equal(p.phases.optimizer_step.weights + p.phases.optimizer_step.gradients + p.phases.optimizer_step.optimizer, 16 * n);
});

test("zero3 gathers the whole root (embedding and untied head) in 16 bits, one block alone, two with an all-gather in flight", () => {
  const p = countParams(llama8b);
  const root = (p.embedding + p.head + p.finalNorm) * 2;
  const one = planRun({ ...base, stage: "zero3", checkpointing: { mode: "full" } });
  assert.equal(one.phases.forward_end.buffers, p.perBlock * 2 + root);
  const eight = planRun({ ...base, stage: "zero3", world: 8, checkpointing: { mode: "full" } });
  assert.equal(eight.phases.forward_end.buffers, 2 * p.perBlock * 2 + root);
});

// One process, full fine-tuning under FSDP2: the gradients are the reduce-scatter stream's
// outputs, a pool of their own; backward ends with the root's fp32 reduce-scatter input.
test("FSDP2: the gradients' pool stays reserved, and backward ends with the root's reduce", () => {
  const c = countParams(llama8b);
  const zero = { ...FIRST_PRINCIPLES, fragmentation: { churn: 1, logits: 1, buffers: 1 }, reserveSlackBytes: 0 };
  const p = planRun({ ...base, stage: "zero3", checkpointing: { mode: "full" }, loss: "fused" }, zero);
  const root = c.embedding + c.head + c.finalNorm;
  // Allocated at the end: fp32 weights, gradients and AdamW (16Ψ) and the root's fp32 input (4 bytes each).
  assert.equal(p.allocatedPeak, 16 * c.total + 4 * root + zero.runtimeBytes);
  assert.equal(p.allocatedAfterStep, 12 * c.total + zero.runtimeBytes);
  // Reserved: the forward's largest moment with the fp32 gradients cached besides, plus that input.
  const forward = p.phases.forward_end;
  assert.equal(forward.overhead - zero.cudaContextBytes - zero.runtimeBytes, 4 * c.total);
  assert.ok(p.reservedPeak >= forward.total - zero.cudaContextBytes + 4 * root);
  // DDP keeps gradients in the default stream: nothing cached beside them.
  const ddp = planRun({ ...base, checkpointing: { mode: "full" }, loss: "fused" }, zero);
  assert.equal(ddp.phases.forward_end.overhead, zero.cudaContextBytes + zero.runtimeBytes);
  // Optimizer offload: 16-bit gradients, cast from an fp32 output of the root's size.
  const off = planRun({ ...base, stage: "zero3", offload: "optimizer", checkpointing: { mode: "full" }, loss: "fused" }, zero);
  assert.equal(off.allocatedPeak, 2 * c.total + 2 * c.total + 4 * root + 4 * root + zero.runtimeBytes);
});

test("FSDP2's root reduce input is new memory only where no freed block can hold it", () => {
  const fresh = (i: PlanInput) => planRun(i, { ...FIRST_PRINCIPLES, rootReduceFresh: 1 }).reservedPeak - planRun(i, { ...FIRST_PRINCIPLES, rootReduceFresh: 0 }).reservedPeak;
  const zero3 = { ...base, stage: "zero3" as const, loss: "fused" as const, attention: "flash" as const };
  const p = countParams(llama8b);
  // Untied 8B, full recomputation: the fp32 input of embedding and head (4 GiB) finds no freed
  // block that large; at most what the few kept activations could hold is spared.
  const ckfull = fresh({ ...zero3, checkpointing: { mode: "full" }, seqLen: 1024 });
  assert.ok(ckfull > 0.9 * 4 * (p.embedding + p.head) && ckfull <= 4 * (p.embedding + p.head), `${ckfull}`);
  // Without recomputation the activations forward saved are larger than the input: none is new.
  assert.equal(fresh({ ...zero3, seqLen: 8192 }), 0);
  // Tied embeddings: the two 16-bit gradients just summed into the root's free a block as large
  // as the embedding's part of the input; only the final norm's fp32 bytes are new.
  const smol = KNOWN_SHAPES["SmolLM2-135M"]!;
  assert.equal(fresh({ ...zero3, shape: smol, checkpointing: { mode: "full" } }), 4 * smol.hidden);
});
