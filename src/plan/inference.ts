// Inference memory: the weights plus the KV cache, which grows with context and batch.
// (A rule of thumb says "about twice the parameter bytes"; this says when that holds.)
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import { countParams, type ModelShape } from "./shape.ts";

export interface InferenceInput {
  shape: ModelShape;
  /** Bytes per weight: 2 for bf16, about 0.52 for NF4. */
  weightBytes: number;
  contextLen: number;
  batch: number;
  /** Bytes per cached key/value element: 2 for a bf16 cache. */
  kvBytes?: number;
}

export interface InferencePlan {
  weights: number;
  kvCache: number;
  /** KV cache bytes per token of context per sequence. */
  kvBytesPerToken: number;
  overhead: number;
  total: number;
}

export function planInference(i: InferenceInput, k: PlanConstants = DEFAULT_CONSTANTS): InferencePlan {
  const s = i.shape;
  const weights = countParams(s).total * i.weightBytes;
  // A key and a value vector per KV head, per layer, per token.
  const kvBytesPerToken = 2 * s.layers * s.kvHeads * s.headDim * (i.kvBytes ?? 2);
  const kvCache = kvBytesPerToken * i.contextLen * i.batch;
  const overhead = k.cudaContextBytes;
  return { weights, kvCache, kvBytesPerToken, overhead, total: weights + kvCache + overhead };
}
