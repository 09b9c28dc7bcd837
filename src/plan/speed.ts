// A deliberately simple throughput model, used only to rank --fit candidates that process the
// same global batch: compute (with recomputation and a micro-batch efficiency curve), the part
// of collective traffic not hidden behind compute, and host transfers for offload.
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import { countParams, type ModelShape } from "./shape.ts";
import { stageLevel } from "./states.ts";
import type { Plan } from "./planner.ts";

export interface SpeedEstimate {
  stepSeconds: number;
  /** Tokens per second over all GPUs (padded rows count as full: worst case). */
  tokensPerSecond: number;
  computeSeconds: number;
  commSeconds: number;
  offloadSeconds: number;
}

export function estimateSpeed(plan: Plan, k: PlanConstants = DEFAULT_CONSTANTS): SpeedEstimate {
  const i = plan.input;
  const s = i.shape;
  const sp = k.speed;
  const p = countParams(s);
  const N = i.world;
  const tokensPerStep = plan.tokensPerMicroBatch * i.gradientAccumulation; // per GPU

  // Forward 2 FLOP per parameter per token; backward 2 for input grads + 2 for weight grads of
  // trainable weights. Attention scores add about 2·L·S·h forward (causal half of 4·L·S·h).
  const attnFwd = 2 * s.layers * i.seqLen * s.hidden;
  const fwd = 2 * p.total + attnFwd;
  const bwd = 2 * p.total + 2 * attnFwd + 2 * plan.params.trainable;
  const c = i.checkpointing;
  const recomputed = c.mode === "none" ? 0 : c.mode === "full" ? 1 : Math.floor(s.layers / c.every) / s.layers;
  const flopsPerToken = fwd * (1 + recomputed) + bwd;
  const efficiency = plan.tokensPerMicroBatch / (plan.tokensPerMicroBatch + sp.halfEfficiencyTokens);
  const computeSeconds = (tokensPerStep * flopsPerToken) / (sp.flops * efficiency);

  // Ring collectives move (N-1)/N of the buffer per GPU.
  const ring = N > 1 ? (N - 1) / N : 0;
  const gradBytes = 4 * plan.params.trainable;
  const paramBytes = p.total * i.computeBytes;
  const level = stageLevel(i.stage);
  let commBytes: number;
  if (level <= 1) commBytes = gradBytes; // one all-reduce (or reduce-scatter + all-gather) per step
  else if (level === 2) commBytes = i.gradientAccumulation * gradBytes + (plan.params.trainable / p.total) * paramBytes;
  else commBytes = i.gradientAccumulation * (2 * paramBytes + gradBytes); // gather for forward and backward
  const commSeconds = (sp.exposedCommFraction * ring * commBytes) / sp.collectiveBytesPerS;

  let offloadSeconds = 0;
  const shard = plan.params.trainable / (level >= 1 ? N : 1);
  if (i.offload !== "none") offloadSeconds += (6 * shard) / sp.hostBytesPerS + shard / sp.cpuAdamParamsPerS;
  if (i.offload === "params+optimizer") offloadSeconds += (i.gradientAccumulation * 2 * paramBytes) / N / sp.hostBytesPerS;

  const stepSeconds = computeSeconds + commSeconds + offloadSeconds;
  return { stepSeconds, tokensPerSecond: (tokensPerStep * N) / stepSeconds, computeSeconds, commSeconds, offloadSeconds };
}

/**
 * Model FLOPs of one trained token, forward and backward, without recomputation: what MFU
 * counts (docs/speed.md). M: weights of every matmul (block linears and the output head, plus
 * adapters); T: the trainable ones among them; attention: QKᵀ and AV over a causal context that
 * averages half the document, 2·L·h·doc forward.
 *   forward 2·M + attn, backward 2·M (input gradients) + 2·T (weight gradients) + 2·attn.
 */
export function trainFlopsPerToken(s: ModelShape, opts: { loraParams: number; meanDocTokens: number }): number {
  const p = countParams(s);
  const matmul = s.layers * p.perBlockLinear + s.vocab * s.hidden + opts.loraParams;
  const trainable = opts.loraParams > 0 ? opts.loraParams : matmul;
  const attn = 2 * s.layers * s.hidden * opts.meanDocTokens;
  return 4 * matmul + 2 * trainable + 3 * attn;
}
