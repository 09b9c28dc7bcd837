// planRun: hand-checked totals, monotonicity, offload and inference arithmetic.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planRun, type PlanInput } from "./planner.ts";
import { planInference } from "./inference.ts";
import { DEFAULT_CONSTANTS } from "./constants.ts";
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

test("eager attention adds S² per head; chunked loss is smaller than plain", () => {
  const sdpa = planRun({ ...base, seqLen: 4096 });
  const eager = planRun({ ...base, seqLen: 4096, attention: "eager" });
  const extra = eager.phases.forward_end.activations - sdpa.phases.forward_end.activations;
  assert.equal(extra, DEFAULT_CONSTANTS.eagerScoreBytes * llama8b.heads * 4096 * 4096 * llama8b.layers);
  const chunked = planRun({ ...base, seqLen: 4096, loss: "chunked" });
  assert.ok(chunked.phases.backward.logits < sdpa.phases.backward.logits / 2);
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
  const { total, ...parts } = p.peak;
  assert.equal(Object.values(parts).reduce((a, b) => a + b, 0), total);
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
