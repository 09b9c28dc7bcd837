// Model states (weights, gradients, optimizer states) per GPU under ZeRO-style sharding:
// DeepSpeed's published accounting (modelStates; a test pins its figures) and what Whetstone's
// worker keeps (trainableLayout, frozenWorkerLayout, placeStates), which differs in gradient
// dtype, in what zero2/zero3 shard under FSDP2, and in the 16-bit copies that live through
// forward and backward only.

export type Stage = "none" | "zero1" | "zero2" | "zero3";
export type Offload = "none" | "optimizer" | "params+optimizer";

export const STAGES: Stage[] = ["none", "zero1", "zero2", "zero3"];
const LEVEL: Record<Stage, number> = { none: 0, zero1: 1, zero2: 2, zero3: 3 };

/** Bytes per parameter of each state. Optimizer states are sharded from zero1, gradients from
 * zero2, weights from zero3. */
export interface StateLayout {
  weight: number;
  grad: number;
  /** Includes the fp32 master copy when the weight itself is 16-bit. */
  optimizer: number;
}

/** DeepSpeed ZeRO paper, mixed-precision Adam: 2Ψ fp16 params + 2Ψ grads + 12Ψ (master, m, v). */
export const DEEPSPEED_MIXED: StateLayout = { weight: 2, grad: 2, optimizer: 12 };

export interface StateBytes {
  weights: number;
  gradients: number;
  optimizer: number;
}

/** DeepSpeed-style accounting of one layout (the published ZeRO figures). */
export function modelStates(params: number, layout: StateLayout, stage: Stage, world: number): StateBytes {
  const level = LEVEL[stage];
  const shard = (bytes: number, from: number) => (level >= from ? bytes / world : bytes);
  return {
    weights: shard(params * layout.weight, 3),
    gradients: shard(params * layout.grad, 2),
    optimizer: shard(params * layout.optimizer, 1),
  };
}

/** `sharding: auto` without a plan (CPU runs, or nothing fits): ddp on one process or for
 *  adapters, whose states are small; zero3 for full fine-tuning on several processes. */
export function defaultSharding(world: number, finetuningType: unknown): "ddp" | "zero3" {
  return world > 1 && finetuningType === "full" ? "zero3" : "ddp";
}

export function stageLevel(stage: Stage): number {
  return LEVEL[stage];
}

export function addStates(a: StateBytes, b: StateBytes): StateBytes {
  return { weights: a.weights + b.weights, gradients: a.gradients + b.gradients, optimizer: a.optimizer + b.optimizer };
}

/**
 * What the worker keeps per parameter (worker/whet_worker/parallel.py), in bytes:
 * - weight, gradient, optimizer: on the GPU for the whole step (optimizer: AdamW's moments, and
 *   the fp32 master where the weight itself is not one);
 * - host: in host RAM (offload);
 * - computeCopy: a 16-bit copy of the whole weight that lives through forward and backward only
 *   (autocast's casts of fp32 weights under ddp/zero1; FSDP2's unsharded parameters under zero2).
 *   zero3 gathers block by block instead (the planner's buffers).
 * Sharding: weights and gradients are FSDP2 shards under zero2/zero3; optimizer and host states
 * are partitioned from zero1 on.
 */
export interface WorkerLayout {
  weight: number;
  grad: number;
  optimizer: number;
  host: number;
  computeCopy: number;
}

export interface PlacedStates extends StateBytes {
  host: number;
  computeCopy: number;
}

const fsdp = (stage: Stage) => LEVEL[stage] >= 2;

/** Trainable parameters (full fine-tuning, freeze's blocks, LoRA adapters): fp32 masters and AdamW. */
export function trainableLayout(computeBytes: number, stage: Stage, offload: Offload): WorkerLayout {
  const unsharded = stage === "zero3" ? 0 : stage === "zero2" ? computeBytes : computeBytes === 2 ? 2 : 0;
  if (offload === "params+optimizer") return { weight: 0, grad: 0, optimizer: 0, host: 16, computeCopy: unsharded };
  if (offload === "optimizer") {
    // HostAdamW: fp32 masters and moments on the host. FSDP2 keeps the device shards and their
    // gradients in the compute dtype; DDP keeps fp32 weights and gradients (it reduces in the
    // weights' dtype) and computes under autocast.
    if (fsdp(stage)) return { weight: computeBytes, grad: computeBytes, optimizer: 0, host: 12, computeCopy: unsharded };
    return { weight: 4, grad: 4, optimizer: 0, host: 12, computeCopy: unsharded };
  }
  return { weight: 4, grad: 4, optimizer: 8, host: 0, computeCopy: unsharded };
}

/** Frozen parameters stored at `bytes` each (16-bit base, NF4, int8). */
export function frozenWorkerLayout(bytes: number, stage: Stage, offload: Offload): WorkerLayout {
  if (offload === "params+optimizer") return { weight: 0, grad: 0, optimizer: 0, host: bytes, computeCopy: stage === "zero2" ? bytes : 0 };
  return { weight: bytes, grad: 0, optimizer: 0, host: 0, computeCopy: stage === "zero2" ? bytes : 0 };
}

export function placeStates(params: number, l: WorkerLayout, stage: Stage, world: number): PlacedStates {
  const shardedWeights = fsdp(stage) ? world : 1;
  const partitioned = LEVEL[stage] >= 1 ? world : 1;
  return {
    weights: (params * l.weight) / shardedWeights,
    gradients: (params * l.grad) / shardedWeights,
    optimizer: (params * l.optimizer) / partitioned,
    host: (params * l.host) / partitioned,
    computeCopy: params * l.computeCopy,
  };
}

export function addPlaced(a: PlacedStates, b: PlacedStates): PlacedStates {
  return { ...addStates(a, b), host: a.host + b.host, computeCopy: a.computeCopy + b.computeCopy };
}
