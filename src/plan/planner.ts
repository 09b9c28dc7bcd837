// planRun: bytes per GPU of one exact training run, by component and by phase. Pure.
// Three phases bound the peak: the end of forward (all activations kept), backward (its start,
// where logits gradients join the activations, or its end, where every gradient exists) and the
// optimizer step (states plus AdamW scratch). See docs/memory.md for the model.
import { WhetError } from "../errors.ts";
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import { activationBytes, logitsBytes, type AttentionImpl, type Checkpointing, type LossImpl } from "./activations.ts";
import { blockLinears, countParams, loraParams, type ModelShape } from "./shape.ts";
import { addStates, frozenLayout, modelStates, stageLevel, WHET_ADAPTER, WHET_FULL, type Offload, type Stage, type StateBytes } from "./states.ts";

export type Method =
  | { kind: "full" }
  | { kind: "freeze"; trainableLayers: number }
  | { kind: "lora"; rank: number; targets: string[] }
  /** LoRA on a quantised frozen base: 4-bit NF4 or 8-bit LLM.int8 block linears. */
  | { kind: "qlora"; rank: number; targets: string[]; bits: 4 | 8 };

export interface PlanInput {
  shape: ModelShape;
  method: Method;
  /** Bytes of the compute dtype: 2 for bf16/fp16 (fp32 masters and AdamW states), 4 for fp32. */
  computeBytes: 2 | 4;
  stage: Stage;
  offload: Offload;
  world: number;
  /** Processes per node, for host RAM; default min(world, 8). */
  gpusPerNode?: number;
  microBatch: number;
  /** Tokens per row: cutoff_len (packed rows are full; padded rows are at most this long). */
  seqLen: number;
  gradientAccumulation: number;
  checkpointing: Checkpointing;
  attention: AttentionImpl;
  loss: LossImpl;
}

export const COMPONENTS = ["weights", "gradients", "optimizer", "activations", "logits", "buffers", "overhead"] as const;
export type Component = (typeof COMPONENTS)[number];
export type Breakdown = Record<Component, number> & { total: number };
export type Phase = "forward_end" | "backward" | "optimizer_step";

export interface Plan {
  input: PlanInput;
  params: { total: number; trainable: number; frozen: number };
  tokensPerMicroBatch: number;
  phases: Record<Phase, Breakdown>;
  phase: Phase;
  /** The breakdown of the peak phase. */
  peak: Breakdown;
  /** What torch.cuda.max_memory_reserved() should show: the peak without context and NCCL. */
  reservedPeak: number;
  /** Host RAM the offloaded states need, per GPU and per node. */
  hostBytesPerGpu: number;
  hostBytesPerNode: number;
}

export function validateInput(i: PlanInput): void {
  const bad = (where: string, message: string) => {
    throw new WhetError("CONFIG_INVALID", [{ where, message }]);
  };
  for (const [k, v] of [["world", i.world], ["microBatch", i.microBatch], ["seqLen", i.seqLen], ["gradientAccumulation", i.gradientAccumulation]] as const) {
    if (!Number.isInteger(v) || v < 1) bad(k, `is ${v}; it must be a positive integer.`);
  }
  if (i.offload === "params+optimizer" && i.stage !== "zero3") bad("offload", "params+optimizer needs sharding zero3 (FSDP2 offloads sharded parameters). Use zero3, or offload: optimizer.");
  if (i.checkpointing.mode === "selective" && !(i.checkpointing.every >= 1)) bad("checkpointing", "selective needs every >= 1.");
}

interface Parts {
  trainable: number;
  frozen: number;
  states: StateBytes;
  /** Bytes of one block's parameters as gathered for compute (zero3). */
  blockComputeBytes: number;
  /** Trainable parameters in one block (for the reduce-scatter buffer). */
  blockTrainable: number;
  /** Trainable head/embedding parameters, whose gradients appear first in backward. */
  headTrainable: number;
  savedBlocks: number;
  /** QLoRA: one linear dequantised to 16 bits in forward and one in backward. */
  dequantBytes: number;
}

function parts(i: PlanInput, k: PlanConstants): Parts {
  const s = i.shape;
  const p = countParams(s);
  const cb = i.computeBytes;
  // fp32 compute: the weight is its own master. Optimizer offload moves the fp32 masters and
  // AdamW moments (12 bytes) to the host, and the worker's GPU side depends on the wrapper:
  // under FSDP2 (zero2/3) the parameter shards and the gradients accumulated until the step are
  // in the compute dtype; under DDP (ddp/zero1) weights and gradients stay fp32, because DDP
  // reduces gradients in the weights' dtype.
  const offloadLayout = stageLevel(i.stage) >= 2 ? { weight: cb, weightAtZero3: "shard" as const, grad: cb, optimizer: 12 } : { weight: 4, weightAtZero3: "shard" as const, grad: 4, optimizer: 12 };
  const fullLayout = cb === 4 ? WHET_ADAPTER : i.offload === "optimizer" ? offloadLayout : WHET_FULL;
  const st = (n: number, layout = fullLayout) => modelStates(n, layout, i.stage, i.world);
  const m = i.method;
  if (m.kind === "full") {
    return { trainable: p.total, frozen: 0, states: st(p.total), blockComputeBytes: p.perBlock * cb, blockTrainable: p.perBlock, headTrainable: p.head || p.embedding, savedBlocks: s.layers, dequantBytes: 0 };
  }
  if (m.kind === "freeze") {
    const n = Math.min(Math.max(0, m.trainableLayers), s.layers);
    const trainable = n * p.perBlock;
    const states = addStates(st(trainable), st(p.total - trainable, frozenLayout(cb)));
    return { trainable, frozen: p.total - trainable, states, blockComputeBytes: p.perBlock * cb, blockTrainable: p.perBlock, headTrainable: 0, savedBlocks: n, dequantBytes: 0 };
  }
  const lora = loraParams(s, m.rank, m.targets);
  const adapter = st(lora, WHET_ADAPTER);
  if (m.kind === "lora") {
    const base = st(p.total, frozenLayout(cb));
    return { trainable: lora, frozen: p.total, states: addStates(base, adapter), blockComputeBytes: p.perBlock * cb, blockTrainable: lora / s.layers, headTrainable: 0, savedBlocks: s.layers, dequantBytes: 0 };
  }
  // QLoRA: block linears quantised; embeddings, head, norms and biases stay 16-bit.
  const quantised = p.perBlockLinear * s.layers;
  const qBytes = m.bits === 4 ? k.nf4BytesPerParam : k.int8BytesPerParam;
  const base = addStates(st(quantised, frozenLayout(qBytes)), st(p.total - quantised, frozenLayout(cb)));
  const largest = Math.max(...blockLinears(s).map((l) => l.in * l.out));
  return {
    trainable: lora,
    frozen: p.total,
    states: addStates(base, adapter),
    blockComputeBytes: p.perBlockLinear * qBytes + (p.perBlock - p.perBlockLinear) * cb,
    blockTrainable: lora / s.layers,
    headTrainable: 0,
    savedBlocks: s.layers,
    dequantBytes: 2 * largest * cb,
  };
}

export function planRun(i: PlanInput, k: PlanConstants = DEFAULT_CONSTANTS): Plan {
  validateInput(i);
  const s = i.shape;
  const pr = parts(i, k);
  const level = stageLevel(i.stage);
  const tokens = i.microBatch * i.seqLen;

  // Offload moves states to host RAM; FSDP2-style params offload takes the whole shard.
  let { weights, gradients, optimizer } = pr.states;
  let host = 0;
  if (i.offload === "optimizer") {
    // The host steps AdamW on fp32 masters and moments (sharded from zero1 on); gradients stay
    // on the GPU until the step and reach the host chunk by chunk through pinned buffers.
    host = optimizer;
    optimizer = 0;
  } else if (i.offload === "params+optimizer") {
    host = weights + gradients + optimizer;
    weights = gradients = optimizer = 0;
  }

  // Full fine-tuning keeps fp32 weights (autocast computes in bf16), so the residual stream is fp32.
  const fp32Residual = i.method.kind === "full" || i.method.kind === "freeze";
  const act = activationBytes(s, k, { tokens, seqLen: i.seqLen, savedBlocks: pr.savedBlocks, checkpointing: i.checkpointing, attention: i.attention, computeBytes: i.computeBytes, fp32Residual });
  const logits = logitsBytes(s, k, tokens, i.loss, i.computeBytes);
  const p = countParams(s);
  const gathered = level >= 3 ? k.zero3GatheredBlocks * pr.blockComputeBytes + Math.max(p.embedding, p.head) * i.computeBytes : 0;
  const reduceScatter = (level >= 2 || i.offload === "optimizer") && pr.trainable > 0 ? k.reduceScatterBytesPerParam * pr.blockTrainable : 0;
  const scratch = i.offload === "none" ? (k.optimizerStepScratchBytes * pr.trainable) / (level >= 1 ? i.world : 1) : 0;
  const accumulating = i.gradientAccumulation > 1;
  const headGrads = gradients * (pr.trainable > 0 ? pr.headTrainable / pr.trainable : 0);
  // The last block's gradients, unsharded until reduce-scatter (counted there from zero2 on).
  const firstBlockGrads = level < 2 && i.offload !== "params+optimizer" ? gradients * (pr.trainable > 0 ? pr.blockTrainable / pr.trainable : 0) : 0;

  const overheadFixed = k.cudaContextBytes + (i.world > 1 ? k.ncclBytes : 0);
  const finish = (c: Omit<Breakdown, "overhead" | "total">): Breakdown => {
    // Fragmentation comes from the churn of short-lived tensors; states are allocated once.
    const churn = c.activations + c.logits + c.buffers;
    const allocated = c.weights + c.gradients + c.optimizer + churn;
    const overhead = overheadFixed + (k.fragmentation - 1) * churn;
    return { ...c, overhead, total: allocated + overhead };
  };
  const forwardEnd = finish({
    weights,
    gradients: accumulating ? gradients : 0,
    optimizer,
    activations: act.kept,
    logits: logits.forwardEnd,
    buffers: gathered + pr.dequantBytes,
  });
  // Backward: at its start logits gradients and a recomputed block join every kept activation;
  // at its end every gradient exists while activations are gone. The larger end is the peak.
  const backwardStart = finish({
    weights,
    gradients: accumulating ? gradients : headGrads + firstBlockGrads,
    optimizer,
    activations: act.kept + act.recompute,
    logits: logits.backward,
    buffers: gathered + pr.dequantBytes + reduceScatter,
  });
  const backwardEnd = finish({ weights, gradients, optimizer, activations: act.recompute, logits: 0, buffers: gathered + pr.dequantBytes + reduceScatter });
  const step = finish({ weights, gradients, optimizer, activations: 0, logits: 0, buffers: scratch });
  const phases: Record<Phase, Breakdown> = {
    forward_end: forwardEnd,
    backward: backwardStart.total >= backwardEnd.total ? backwardStart : backwardEnd,
    optimizer_step: step,
  };
  const phase = (Object.keys(phases) as Phase[]).reduce((a, b) => (phases[b].total > phases[a].total ? b : a));
  const peak = phases[phase];
  const perNode = i.gpusPerNode ?? Math.min(i.world, 8);
  return {
    input: i,
    params: { total: p.total, trainable: pr.trainable, frozen: pr.frozen },
    tokensPerMicroBatch: tokens,
    phases,
    phase,
    peak,
    reservedPeak: peak.total - overheadFixed,
    hostBytesPerGpu: host,
    hostBytesPerNode: host * perNode,
  };
}
