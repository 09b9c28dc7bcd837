// Activation and logits memory of one micro-batch. The per-block formula counts the tensors
// autograd saves in a Llama block (derivation in docs/memory.md); its coefficients are data.
import type { PlanConstants } from "./constants.ts";
import type { ModelShape } from "./shape.ts";

export type Checkpointing = { mode: "none" } | { mode: "full" } | { mode: "selective"; every: number };
/**
 * - "flash": the worker's varlen attention, torch's flash kernel over flattened micro-batches;
 * - "varlen-fallback": the worker's varlen attention where the flash kernel cannot run (float32
 *   compute, or q/k not in the compute dtype): each document alone through sdpa;
 * - "sdpa": sdpa over padded or packed rows with a mask; "eager": softmax(QKᵀ) materialised.
 */
export type AttentionImpl = "sdpa" | "flash" | "varlen-fallback" | "eager";
export type LossImpl = "plain" | "chunked" | "fused";

/**
 * How a block computes, which decides what autograd keeps:
 * - "full": trainable weights, 16-bit in compute (FSDP2's mixed precision, zero2/zero3);
 * - "full-autocast": trainable fp32 weights under autocast (ddp/zero1): an fp32 residual stream;
 * - "adapter": LoRA on a frozen base, everything 16-bit in compute (zero2/zero3);
 * - "adapter-autocast": fp32 LoRA weights under autocast on a frozen 16-bit base (ddp/zero1).
 * With fp32 compute there is no autocast: "full" and "adapter" with every tensor doubled.
 */
export type BlockLayout = "full" | "full-autocast" | "adapter" | "adapter-autocast";

export function checkpointingLabel(c: Checkpointing): string {
  return c.mode === "selective" ? `selective/${c.every}` : c.mode;
}

export interface BlockOptions {
  attention: AttentionImpl;
  /** Keys each query attends over at most (the row length). */
  seqLen: number;
  computeBytes: number;
  layout: BlockLayout;
  /** LoRA rank and the number of adapted linears per block (adapter layouts). */
  adapter?: { rank: number; linears: number };
}

/** Saved bytes per token of one block without checkpointing, as counted (before activationFactor). */
export function blockBytesPerToken(s: ModelShape, k: PlanConstants, o: BlockOptions): number {
  const a = k.blockActivation;
  const kv = s.kvHeads * s.headDim;
  const q = s.heads * s.headDim;
  const scale = o.computeBytes / 2; // the coefficients are for 16-bit compute
  const autocast = o.computeBytes === 2 && o.layout.endsWith("-autocast");
  let hidden = a.hidden;
  if (o.layout === "full-autocast" && autocast) hidden += k.fp32ResidualExtraPerHidden;
  if (o.layout.startsWith("adapter")) hidden += autocast ? k.adapterHiddenDelta.autocast : k.adapterHiddenDelta.sharded;
  const rank = o.layout.startsWith("adapter") && o.adapter ? k.adapterRankBytes * o.adapter.rank * o.adapter.linears : 0;
  const base = hidden * s.hidden + a.kv * kv + a.mlp * s.intermediate + a.heads * s.heads + rank;
  // varlen falls back to one sdpa call per document where its flash kernel cannot run (float32).
  const perDocument = o.attention === "varlen-fallback" || (o.attention === "flash" && o.computeBytes === 4);
  // Every path keeps K and V repeated to every head: sdpa with a mask, eager, the per-document
  // path, and the flash kernel too, as torch's varlen_attn takes no grouped-query flag and the
  // worker repeats K and V before calling it.
  const repeatedKv = 4 * (q - kv);
  // The per-document path keeps each document's output for sdpa's backward and the assembled
  // output, o_proj's input, besides.
  const outputTwice = perDocument ? 2 * q : 0;
  const mask = o.attention === "sdpa" ? k.sdpaMaskBytes * o.seqLen : 0;
  // Eager attention materialises softmax(QKᵀ) per head: S keys for every query token.
  const scores = o.attention === "eager" ? k.eagerScoreBytes * s.heads * o.seqLen : 0;
  return (base + repeatedKv + outputTwice + mask + scores) * scale;
}

export interface ActivationBytes {
  /** Saved from forward for backward, present at the end of forward. */
  kept: number;
  /** One block's activations rebuilt during backward when checkpointing (0 without). */
  recompute: number;
  /** The temporaries of one block's backward (the gradients of its activations), while it runs. */
  backwardScratch: number;
}

/**
 * @param savedBlocks blocks that save anything: all of them, except under freeze where blocks
 *   before the first trainable one see no input that requires grad and keep nothing.
 */
export function activationBytes(
  s: ModelShape,
  k: PlanConstants,
  opts: BlockOptions & { tokens: number; savedBlocks: number; checkpointing: Checkpointing },
): ActivationBytes {
  const block = blockBytesPerToken(s, k, opts) * opts.tokens;
  const fp32Stream = opts.computeBytes === 4 || opts.layout === "full-autocast";
  const residualBytes = fp32Stream ? 4 : 2;
  const boundary = k.checkpointedBlockBytesPerHidden * s.hidden * opts.tokens * (residualBytes / 2);
  // The final RMSNorm keeps its fp32 input and its normalised output for its weight's gradient
  // (16-bit, or fp32 on an fp32 stream). A frozen norm (LoRA) keeps only what the head's input
  // costs, about what the first block, whose input needs no gradient, does not save.
  const finalNorm = (opts.layout.startsWith("adapter") ? 2 : 4 + 2 + residualBytes) * s.hidden * opts.tokens * (opts.computeBytes / 2);
  const c = opts.checkpointing;
  const checkpointed = c.mode === "none" ? 0 : c.mode === "full" ? opts.savedBlocks : Math.floor(opts.savedBlocks / Math.max(1, c.every));
  const plain = opts.savedBlocks - checkpointed;
  const f = k.activationFactor;
  return {
    kept: f.none * plain * block + checkpointed * boundary + (opts.savedBlocks > 0 ? finalNorm : 0),
    recompute: checkpointed > 0 ? f.none * block : 0,
    backwardScratch: opts.savedBlocks > 0 ? f.backward * block : 0,
  };
}

export interface LogitsBytes {
  /** The logits, alive from the head's forward until the micro-batch's backward is over. */
  kept: number;
  /** On top of `kept` while forward computes the loss. */
  forwardScratch: number;
  /** On top of `kept` while backward runs through the loss (its largest moment). */
  backward: number;
}

/** Tokens per loss chunk (worker/whet_worker/loss.py chunk_tokens). */
export function lossChunkTokens(k: PlanConstants, vocab: number): number {
  return Math.max(64, Math.min(8192, Math.floor(k.lossChunkElements / Math.max(1, vocab))));
}

/**
 * Logits and loss buffers of one micro-batch of `tokens` tokens.
 * - fused (the worker's default, loss.FusedHead): the head and the loss run together one chunk of
 *   c tokens at a time inside a checkpoint, so no [T, V] logits exist; forward holds one chunk's
 *   logits and fp32 work, backward recomputes a chunk and differentiates it. A trainable head
 *   also gets its weight's gradient chunk by chunk: `headGradBytes` (the 16-bit gradient of the
 *   chunk, and under autocast its fp32 cast and the fp32 sum it is added into).
 * - chunked (loss.chunked_ce_sum on whole logits): the 16-bit logits L stay alive until the
 *   micro-batch's backward is over; each chunk's gradient is a slice of a full-size [T, V]
 *   gradient added into the logits' gradient, so backward holds the running sum and the next
 *   full-size slice (2L), or the sum and one chunk's scratch; one chunk alone: scratch · T · V;
 *   then the head's backward holds the logits' gradient and a trainable head's weight gradient.
 * - plain (Hugging Face's loss, for comparison): 16-bit logits and fp32 log-probs kept, fp32
 *   gradients in backward.
 */
export function logitsBytes(s: ModelShape, k: PlanConstants, tokens: number, loss: LossImpl, computeBytes = 2, headGradBytes = 0): LogitsBytes {
  const tv = tokens * s.vocab;
  const f = k.logitsFactor;
  if (loss === "plain") {
    const kept = k.logitsKeptBytes * tv;
    return { kept: f * kept, forwardScratch: 0, backward: f * k.logitsBackwardBytes * tv };
  }
  const chunk = Math.min(tokens, lossChunkTokens(k, s.vocab));
  const cv = chunk * s.vocab;
  if (loss === "fused") {
    return { kept: 0, forwardScratch: f * k.lossForwardScratchBytes * cv, backward: f * k.lossChunkScratchBytes * cv + headGradBytes * s.vocab * s.hidden };
  }
  const L = computeBytes * tv;
  const chunks = tokens <= chunk ? k.lossChunkScratchBytes * tv : Math.max(2 * L, L + k.lossChunkScratchBytes * cv);
  // Then the head's backward: the logits' gradient (L) and the weight's.
  const head = L + headGradBytes * s.vocab * s.hidden;
  return { kept: f * L, forwardScratch: f * k.lossForwardScratchBytes * cv, backward: f * Math.max(chunks, head) };
}
