// planRun: bytes per GPU of one exact training run, by component and by phase. Pure.
// Three phases bound the peak: the end of forward (all activations kept), backward (its start,
// where logits gradients join the activations, or its end, where every gradient exists) and the
// optimizer step (states plus AdamW scratch). See docs/memory.md for the model.
import { WhetError } from "../errors.ts";
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import { activationBytes, logitsBytes, type AttentionImpl, type BlockLayout, type Checkpointing, type LossImpl } from "./activations.ts";
import { blockLinears, countParams, loraParams, loraTargetNames, type ModelShape } from "./shape.ts";
import { addPlaced, frozenWorkerLayout, placeStates, stageLevel, trainableLayout, type Offload, type PlacedStates, type Stage } from "./states.ts";

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
export type Breakdown = Record<Component, number> & {
  total: number;
  /** What torch counts as allocated in this phase: total less fragmentation, context and NCCL. */
  allocated: number;
};
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
  /** What torch.cuda.max_memory_allocated() should show: the largest sum of live tensors. */
  allocatedPeak: number;
  /** What torch.cuda.memory_allocated() should show between steps (gradients set to None):
   * weights, optimizer states and the runtime's own bytes. */
  allocatedAfterStep: number;
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
  states: PlacedStates;
  /** Bytes of one block's parameters as gathered for compute (zero3). */
  blockComputeBytes: number;
  /** Trainable parameters in one block (for the reduce-scatter buffer). */
  blockTrainable: number;
  /** Trainable head/embedding parameters, whose gradients appear first in backward. */
  headTrainable: number;
  /** Trainable parameters of FSDP2's root group (embedding, head, final norm): full fine-tuning. */
  rootTrainable: number;
  savedBlocks: number;
  /** QLoRA: one linear dequantised to 16 bits in forward and one in backward. */
  dequantBytes: number;
  layout: BlockLayout;
  adapter?: { rank: number; linears: number };
}

function parts(i: PlanInput, k: PlanConstants): Parts {
  const s = i.shape;
  const p = countParams(s);
  const cb = i.computeBytes;
  // ddp/zero1 keep fp32 trainable weights and compute under autocast; FSDP2 (zero2/zero3) casts
  // to the compute dtype itself (worker/whet_worker/parallel.py).
  const autocast = stageLevel(i.stage) < 2 && cb === 2;
  const trainable = (n: number) => placeStates(n, trainableLayout(cb, i.stage, i.offload), i.stage, i.world);
  const frozen = (n: number, bytes: number) => placeStates(n, frozenWorkerLayout(bytes, i.stage, i.offload), i.stage, i.world);
  const m = i.method;
  const fullLayout: BlockLayout = autocast ? "full-autocast" : "full";
  if (m.kind === "full") {
    return { trainable: p.total, frozen: 0, states: trainable(p.total), blockComputeBytes: p.perBlock * cb, blockTrainable: p.perBlock, headTrainable: p.head || p.embedding, rootTrainable: p.embedding + p.head + p.finalNorm, savedBlocks: s.layers, dequantBytes: 0, layout: fullLayout };
  }
  if (m.kind === "freeze") {
    const n = Math.min(Math.max(0, m.trainableLayers), s.layers);
    const t = n * p.perBlock;
    return { trainable: t, frozen: p.total - t, states: addPlaced(trainable(t), frozen(p.total - t, cb)), blockComputeBytes: p.perBlock * cb, blockTrainable: p.perBlock, headTrainable: 0, rootTrainable: 0, savedBlocks: n, dequantBytes: 0, layout: fullLayout };
  }
  const lora = loraParams(s, m.rank, m.targets);
  const adapter = { rank: m.rank, linears: loraTargetNames(m.targets).length };
  const layout: BlockLayout = autocast ? "adapter-autocast" : "adapter";
  if (m.kind === "lora") {
    return { trainable: lora, frozen: p.total, states: addPlaced(frozen(p.total, cb), trainable(lora)), blockComputeBytes: p.perBlock * cb, blockTrainable: lora / s.layers, headTrainable: 0, rootTrainable: 0, savedBlocks: s.layers, dequantBytes: 0, layout, adapter };
  }
  // QLoRA: block linears quantised; embeddings, head, norms and biases stay 16-bit.
  const quantised = p.perBlockLinear * s.layers;
  const qBytes = m.bits === 4 ? k.nf4BytesPerParam : k.int8BytesPerParam;
  const base = addPlaced(frozen(quantised, qBytes), frozen(p.total - quantised, cb));
  const largest = Math.max(...blockLinears(s).map((l) => l.in * l.out));
  return {
    trainable: lora,
    frozen: p.total,
    states: addPlaced(base, trainable(lora)),
    blockComputeBytes: p.perBlockLinear * qBytes + (p.perBlock - p.perBlockLinear) * cb,
    blockTrainable: lora / s.layers,
    headTrainable: 0,
    rootTrainable: 0,
    savedBlocks: s.layers,
    dequantBytes: 2 * largest * cb,
    layout,
    adapter,
  };
}

export function planRun(i: PlanInput, k: PlanConstants = DEFAULT_CONSTANTS): Plan {
  validateInput(i);
  const s = i.shape;
  const pr = parts(i, k);
  const level = stageLevel(i.stage);
  const fsdp = level >= 2;
  const cb = i.computeBytes;
  const tokens = i.microBatch * i.seqLen;
  const { weights, gradients, optimizer, host } = pr.states;
  const p = countParams(s);
  // Autocast keeps the 16-bit casts its linears save for backward, but the embedding is a lookup
  // (nothing cast), and the fused loss casts the head inside its checkpoint, one chunk at a time.
  const uncast = pr.layout === "full-autocast" && pr.rootTrainable > 0 ? p.embedding + p.head - (i.loss === "fused" ? 0 : p.head || p.embedding) : 0;
  const computeCopy = Math.max(0, pr.states.computeCopy - 2 * uncast);

  const act = activationBytes(s, k, { tokens, seqLen: i.seqLen, savedBlocks: pr.savedBlocks, checkpointing: i.checkpointing, attention: i.attention, computeBytes: cb, layout: pr.layout, adapter: pr.adapter });
  // A trainable head's weight gradient, built chunk by chunk inside the fused loss: the 16-bit
  // gradient of a chunk plus the sum it joins (fp32 under autocast, 16-bit under FSDP2).
  const headGrad = pr.headTrainable > 0 ? (pr.layout === "full-autocast" ? 6 : 4) : 0;
  const logits = logitsBytes(s, k, tokens, i.loss, cb, headGrad);
  const rootParams = p.embedding + p.head + p.finalNorm;
  // zero3: FSDP2 unshards a block while it runs and keeps the root's parameters (embedding, head,
  // final norm) unsharded from its forward through backward. With more than one process the next
  // block's all-gather is in flight meanwhile (zero3GatheredBlocks in all); one process has no
  // all-gather, FSDP2 copies each block's shard into its unsharded parameters when it runs.
  const gatheredBlocks = i.world > 1 ? k.zero3GatheredBlocks : 1;
  const gathered = level >= 3 ? gatheredBlocks * pr.blockComputeBytes + rootParams * cb : 0;
  // FSDP2's all-gather staging (more than one process): a stream of its own whose cached memory
  // holds its largest group, the root, gathered first, while the phases count one block in flight.
  const staging = fsdp && i.world > 1 ? Math.max(rootParams * cb, pr.blockComputeBytes) : 0;
  const stagingLive = level >= 3 && i.world > 1 ? pr.blockComputeBytes : 0;
  const reduceScatter = fsdp && pr.trainable > 0 ? k.reduceScatterBytesPerParam * pr.blockTrainable : 0;
  // FSDP2 reduces each group's gradients in fp32 on the reduce-scatter stream. The reduce output
  // is the sharded gradient itself when gradients are fp32; optimizer offload keeps 16-bit
  // gradients, cast from an fp32 output of the group's size. That stream's cached memory (the
  // gradients' bytes and such an output) serves no other stream: it stays reserved in every
  // phase, also while forward holds the activations.
  const deviceGradBytes = trainableLayout(cb, i.stage, i.offload).grad;
  const reduceOutput = (g: number) => (deviceGradBytes === 4 ? 0 : (4 * g) / i.world);
  const gradientPool = fsdp && pr.trainable > 0 ? gradients + reduceOutput(Math.max(pr.rootTrainable, pr.blockTrainable)) : 0;
  const scratch = i.offload === "none" ? (k.optimizerStepScratchBytes * pr.trainable) / (level >= 1 ? i.world : 1) : 0;
  const accumulating = i.gradientAccumulation > 1;
  // Gradients alive at the start of the blocks' backward: under DDP the head's (fp32, in the
  // gradients) and the last block's; under FSDP2 the head's unsharded 16-bit gradient, which waits
  // for the root's reduce at the very end.
  const headGrads = fsdp ? 0 : gradients * (pr.trainable > 0 ? pr.headTrainable / pr.trainable : 0);
  const firstBlockGrads = fsdp ? 0 : gradients * (pr.trainable > 0 ? pr.blockTrainable / pr.trainable : 0);
  const unshardedHeadGrad = fsdp ? pr.headTrainable * cb : 0;

  const overheadFixed = k.cudaContextBytes + (i.world > 1 ? k.ncclBytes : 0);
  const f = k.fragmentation;
  /**
   * One moment's breakdown. `pooled`: the gradient bytes alive in FSDP2's reduce-scatter pool
   * (what the pool holds beyond them is cached there). Fragmentation comes from the churn of
   * short-lived tensors in the default stream (states are allocated once, FSDP2's gradients live
   * in their own pool); the runtime's own bytes are allocated too: overhead, but in allocatedPeak.
   */
  const finish = (c: Omit<Breakdown, "overhead" | "total" | "allocated">, pooled: number, stagingInUse: number): Breakdown => {
    const allocated = c.weights + c.gradients + c.optimizer + c.activations + c.logits + c.buffers;
    const churned = c.activations + (fsdp ? c.gradients - pooled : c.gradients);
    const frag = (f.churn - 1) * churned + (f.logits - 1) * c.logits + (f.buffers - 1) * c.buffers;
    const cached = Math.max(0, gradientPool - pooled) + Math.max(0, staging - stagingInUse);
    const overhead = overheadFixed + k.runtimeBytes + k.reserveSlackBytes + frag + cached;
    return { ...c, overhead, total: allocated + overhead, allocated: allocated + k.runtimeBytes };
  };
  // Through forward and backward the 16-bit copies (autocast, FSDP2's zero2) join the weights.
  const live = weights + computeCopy;
  const held = accumulating ? gradients : 0;
  const buffers = gathered + pr.dequantBytes;
  const forwardEnd = finish({ weights: live, gradients: held, optimizer, activations: act.kept, logits: logits.kept + logits.forwardScratch, buffers }, held, stagingLive);
  // Backward: first through the loss (every activation still kept), then through the blocks
  // (a recomputed block joins them, gradients appear), ending with every gradient and the
  // 16-bit copies gone. The logits stay alive until the micro-batch's backward is over.
  const lossBackward = finish({ weights: live, gradients: held, optimizer, activations: act.kept, logits: logits.kept + logits.backward, buffers }, held, stagingLive);
  const blocksStart = finish({ weights: live, gradients: accumulating ? gradients : headGrads + firstBlockGrads, optimizer, activations: act.kept + act.recompute + act.backwardScratch, logits: logits.kept, buffers: buffers + reduceScatter + unshardedHeadGrad }, held, stagingLive);
  // The first block's backward: every other gradient exists (under FSDP2 the root's is still the
  // unsharded 16-bit one the head started: the root reduces last).
  const rootShard = (pr.rootTrainable * deviceGradBytes) / i.world;
  const endGrads = fsdp ? gradients - rootShard : gradients;
  const blocksEnd = finish({ weights, gradients: endGrads, optimizer, activations: act.recompute + act.backwardScratch, logits: logits.kept, buffers: buffers + reduceScatter + unshardedHeadGrad }, endGrads, stagingLive);
  const moments = [forwardEnd, lossBackward, blocksStart, blocksEnd];
  // Then a trainable embedding tied to the head gets a dense gradient of its own, added into the
  // head's (fp32 under autocast, 16-bit under FSDP2), once every block is done.
  if (s.tiedEmbeddings && pr.headTrainable > 0) {
    const tiedGrad = p.embedding * (pr.layout === "full-autocast" ? 4 : cb);
    moments.push(finish({ weights, gradients: endGrads + tiedGrad, optimizer, activations: 0, logits: logits.kept, buffers: buffers - (level >= 3 ? gatheredBlocks * pr.blockComputeBytes : 0) + unshardedHeadGrad }, endGrads, stagingLive));
  }
  // FSDP2 with a trainable root: its reduce ends backward, once every block's gradient exists: the
  // fp32 reduce-scatter input of the root's unsharded gradients, with first the 16-bit unsharded
  // gradients it is copied from, then the group's reduce output. The input is larger than any
  // tensor freed before it, so the allocator maps new memory for it on top of what forward and
  // backward left cached (rootReduceFresh of it: an expandable segment grows its free tail).
  if (fsdp && pr.rootTrainable > 0) {
    const input = 4 * pr.rootTrainable;
    const rootBuffers = input + Math.max(cb * pr.rootTrainable - rootShard, reduceOutput(pr.rootTrainable));
    const allocated = weights + gradients + optimizer + rootBuffers;
    // The allocator can place it in one free block at least as large: the activations forward
    // saved (allocated one after another, all freed by now), or with tied embeddings the two
    // 16-bit gradients just added into the root's (the head's and the embedding's dense one).
    // What does not fit there is new memory (rootReduceFresh of it: fitted).
    const reusable = Math.max(act.kept, s.tiedEmbeddings && pr.headTrainable > 0 ? 2 * p.embedding * cb : 0);
    const fresh = k.rootReduceFresh * Math.max(0, input - reusable);
    const reserved = Math.max(...moments.map((b) => b.total)) + fresh;
    const overhead = reserved - allocated;
    moments.push({ weights, gradients, optimizer, activations: 0, logits: 0, buffers: rootBuffers, overhead, total: reserved, allocated: allocated + k.runtimeBytes });
  }
  const step = finish({ weights, gradients, optimizer, activations: 0, logits: 0, buffers: scratch }, gradients, 0);
  const backward = moments.slice(1).reduce((a, b) => (b.total > a.total ? b : a));
  const phases: Record<Phase, Breakdown> = { forward_end: forwardEnd, backward, optimizer_step: step };
  const phase = (Object.keys(phases) as Phase[]).reduce((a, b) => (phases[b].total > phases[a].total ? b : a));
  const peak = phases[phase];
  const allocatedPeak = Math.max(...[...moments, step].map((b) => b.allocated));
  const perNode = i.gpusPerNode ?? Math.min(i.world, 8);
  return {
    input: i,
    params: { total: p.total, trainable: pr.trainable, frozen: pr.frozen },
    tokensPerMicroBatch: tokens,
    phases,
    phase,
    peak,
    reservedPeak: peak.total - overheadFixed,
    allocatedPeak,
    allocatedAfterStep: weights + optimizer + k.runtimeBytes,
    hostBytesPerGpu: host,
    hostBytesPerNode: host * perNode,
  };
}
