// Model states (weights, gradients, optimizer states) per GPU under ZeRO-style sharding.
// One function, several layouts: DeepSpeed's published accounting (a test pins its figures) and
// the layouts Whetstone's worker uses, which differ in gradient dtype and in what zero3 keeps.

export type Stage = "none" | "zero1" | "zero2" | "zero3";
export type Offload = "none" | "optimizer" | "params+optimizer";

export const STAGES: Stage[] = ["none", "zero1", "zero2", "zero3"];
const LEVEL: Record<Stage, number> = { none: 0, zero1: 1, zero2: 2, zero3: 3 };

/** Bytes per parameter of each state. Optimizer states are sharded from zero1, gradients from
 * zero2, weights from zero3. */
export interface StateLayout {
  weight: number;
  /** zero3: "shard" keeps a weight shard (DeepSpeed); "gather-only" keeps none because the
   * bf16 compute copy is cast from the fp32 master shard at each all-gather (FSDP2). */
  weightAtZero3: "shard" | "gather-only";
  grad: number;
  /** Includes the fp32 master copy when the weight itself is 16-bit. */
  optimizer: number;
}

/** DeepSpeed ZeRO paper, mixed-precision Adam: 2Ψ fp16 params + 2Ψ grads + 12Ψ (master, m, v). */
export const DEEPSPEED_MIXED: StateLayout = { weight: 2, weightAtZero3: "shard", grad: 2, optimizer: 12 };

/** Full fine-tuning in Whetstone: bf16 compute copy, fp32 gradients (reduced in fp32), fp32
 * master + AdamW m and v. Under zero3 FSDP2 keeps only the fp32 master shard (16Ψ/N in all). */
export const WHET_FULL: StateLayout = { weight: 2, weightAtZero3: "gather-only", grad: 4, optimizer: 12 };

/** LoRA weights are fp32 and are their own masters: 4 + 4 grads + 8 AdamW. */
export const WHET_ADAPTER: StateLayout = { weight: 4, weightAtZero3: "shard", grad: 4, optimizer: 8 };

/** A frozen parameter stored at `bytes` per parameter (bf16 2, NF4 ~0.52), sharded under zero3. */
export function frozenLayout(bytes: number): StateLayout {
  return { weight: bytes, weightAtZero3: "shard", grad: 0, optimizer: 0 };
}

export interface StateBytes {
  weights: number;
  gradients: number;
  optimizer: number;
}

export function modelStates(params: number, layout: StateLayout, stage: Stage, world: number): StateBytes {
  const level = LEVEL[stage];
  const shard = (bytes: number, from: number) => (level >= from ? bytes / world : bytes);
  const weights = level >= 3 && layout.weightAtZero3 === "gather-only" ? 0 : shard(params * layout.weight, 3);
  return {
    weights,
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
