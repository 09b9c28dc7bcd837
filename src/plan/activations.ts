// Activation and logits memory of one micro-batch. The per-block formula counts the tensors
// autograd saves in a Llama block (derivation in docs/memory.md); its coefficients are data.
import type { PlanConstants } from "./constants.ts";
import type { ModelShape } from "./shape.ts";

export type Checkpointing = { mode: "none" } | { mode: "full" } | { mode: "selective"; every: number };
export type AttentionImpl = "sdpa" | "flash" | "eager";
export type LossImpl = "plain" | "chunked";

export function checkpointingLabel(c: Checkpointing): string {
  return c.mode === "selective" ? `selective/${c.every}` : c.mode;
}

/** Saved bytes per token of one block without checkpointing. */
export function blockBytesPerToken(s: ModelShape, k: PlanConstants, attention: AttentionImpl, seqLen: number, computeBytes: number, fp32Residual = false): number {
  const a = k.blockActivation;
  const kv = s.kvHeads * s.headDim;
  // The coefficients were derived for 16-bit compute; fp32 compute doubles every saved tensor.
  const residual = fp32Residual && computeBytes === 2 ? k.fp32ResidualExtraPerHidden * s.hidden : 0;
  const base = (a.hidden * s.hidden + a.kv * kv + a.mlp * s.intermediate) * (computeBytes / 2) + residual;
  // Eager attention materialises softmax(QKᵀ) per head: S keys for every query token.
  const scores = attention === "eager" ? k.eagerScoreBytes * s.heads * seqLen * (computeBytes / 2) : 0;
  return base + scores;
}

export interface ActivationBytes {
  /** Saved from forward for backward, present at the end of forward. */
  kept: number;
  /** One block's activations rebuilt during backward when checkpointing (0 without). */
  recompute: number;
}

/**
 * @param savedBlocks blocks that save anything: all of them, except under freeze where blocks
 *   before the first trainable one see no input that requires grad and keep nothing.
 */
export function activationBytes(
  s: ModelShape,
  k: PlanConstants,
  opts: { tokens: number; seqLen: number; savedBlocks: number; checkpointing: Checkpointing; attention: AttentionImpl; computeBytes: number; fp32Residual: boolean },
): ActivationBytes {
  const full = blockBytesPerToken(s, k, opts.attention, opts.seqLen, opts.computeBytes, opts.fp32Residual) * opts.tokens;
  const residualBytes = opts.fp32Residual ? 4 : opts.computeBytes;
  const boundary = k.checkpointedBlockBytesPerHidden * s.hidden * opts.tokens * (residualBytes / 2);
  // The final RMSNorm keeps its fp32 input, its normalised output and the head's 16-bit input.
  const finalNorm = (6 + residualBytes) * s.hidden * opts.tokens;
  const c = opts.checkpointing;
  const checkpointed = c.mode === "none" ? 0 : c.mode === "full" ? opts.savedBlocks : Math.floor(opts.savedBlocks / Math.max(1, c.every));
  const plain = opts.savedBlocks - checkpointed;
  return {
    kept: plain * full + checkpointed * boundary + (opts.savedBlocks > 0 ? finalNorm : 0),
    recompute: checkpointed > 0 ? full : 0,
  };
}

export interface LogitsBytes {
  forwardEnd: number;
  backward: number;
}

/** Logits and loss buffers: plain keeps fp32 B×S×V for backward; chunked (the worker's) keeps
 * 16-bit logits and does fp32 work one chunk at a time. */
export function logitsBytes(s: ModelShape, k: PlanConstants, tokens: number, loss: LossImpl, computeBytes = 2): LogitsBytes {
  const tv = tokens * s.vocab;
  if (loss === "plain") {
    const kept = k.logitsKeptBytes * tv;
    return { forwardEnd: kept, backward: kept + k.logitsBackwardBytes * tv };
  }
  const chunk = Math.min(tokens, Math.max(64, Math.min(8192, Math.floor(k.lossChunkElements / s.vocab))));
  const scratch = k.lossChunkScratchBytes * chunk * s.vocab;
  const logits = computeBytes * tv; // lm_head output, kept by each chunk's checkpoint
  return { forwardEnd: logits + scratch, backward: 2 * logits + scratch }; // + its gradient
}
