// Every number the planner assumes, as data, so a calibration run can replace them in one place.
// Provenance: the byte counts are first principles (derivations in docs/memory.md, checked by
// counting what autograd saves in a Llama block on the CPU); the factors marked "fitted" are
// what bench/calibrate-memory.ts measures on a GPU and fitConstants() (calibrate.ts) refits.
// `fit RESULTS.json --write` records the fitted factors, with the hardware and versions they came
// from, in calibrated.ts; DEFAULT_CONSTANTS is the first principles with those factors applied.
import { CALIBRATION } from "./calibrated.ts";

export interface PlanConstants {
  source: { hardware: string; versions: string; date: string; note: string };
  /** Saved activation bytes per token of one transformer block without checkpointing, for full
   * fine-tuning with 16-bit weights in compute (FSDP2's mixed precision), flash/varlen attention:
   * hidden·h + kv·(KV heads · head dim) + mlp·I + heads·(attention heads, the fp32 log-sum-exp). */
  blockActivation: { hidden: number; kv: number; mlp: number; heads: number };
  /** fp32 weights under autocast (full or freeze with ddp/zero1): the residual stream and the
   * RMSNorm outputs are fp32 and every projection keeps its own 16-bit copy of its input.
   * Extra bytes per token per block, per hidden unit (30h in all instead of 20h). */
  fp32ResidualExtraPerHidden: number;
  /** LoRA on a frozen 16-bit base, per hidden unit: frozen RMSNorm weights keep no normalised
   * output (−4h, FSDP2 computing the adapters in 16 bits: 16h); fp32 adapters under autocast
   * (ddp/zero1) keep a 16-bit copy of each adapted input (+8h over that: 24h). */
  adapterHiddenDelta: { sharded: number; autocast: number };
  /** LoRA: bytes per token per block per unit of rank per adapted linear (lora_A's 16-bit output). */
  adapterRankBytes: number;
  /** Bytes per token per block kept by a checkpointed block, per hidden unit of its 16-bit input
   * (the residual stream; doubled when the stream is fp32). */
  checkpointedBlockBytesPerHidden: number;
  /** Eager attention also keeps the fp32 softmax output and its bf16 copy: bytes per head per token per key. */
  eagerScoreBytes: number;
  /** sdpa over packed rows: transformers builds a [S, S] mask per row, sdpa turns it into a 16-bit
   * bias that each block keeps for backward (bytes per token per key), and K and V are repeated
   * to every head. */
  sdpaMaskBytes: number;
  /** Plain loss: bytes per token per vocab entry kept from forward to backward (bf16 logits 2 + fp32 log-probs 4). */
  logitsKeptBytes: number;
  /** Plain loss: extra bytes per token per vocab entry while backward runs through the loss (fp32 grads). */
  logitsBackwardBytes: number;
  /** Chunked loss (worker/whet_worker/loss.py): the 16-bit logits stay alive until the step's
   * backward is over; the fp32 work runs one chunk of clamp(lossChunkElements / V, 64, 8192)
   * tokens at a time. */
  lossChunkElements: number;
  /** Bytes per chunk element while a chunk's backward recomputes and differentiates it (fp32
   * upcast, log-softmax output and its gradient). */
  lossChunkScratchBytes: number;
  /** Bytes per chunk element while forward computes a chunk's loss (fp32 upcast and log-softmax). */
  lossForwardScratchBytes: number;
  /** FSDP2 zero3: blocks whose bf16 parameters are gathered at once (current + prefetched). */
  zero3GatheredBlocks: number;
  /** Unsharded gradient bytes per parameter of one block during reduce-scatter (bf16 grad + fp32 copy). */
  reduceScatterBytesPerParam: number;
  /** Optimizer step scratch per trainable parameter on this GPU: the worker's AdamW is fused=True
   * on CUDA (none); foreach AdamW would allocate about one fp32 copy (4). */
  optimizerStepScratchBytes: number;
  /** QLoRA 4-bit weights: bytes per quantised parameter (NF4 0.5 + double-quantised absmax). */
  nf4BytesPerParam: number;
  /** 8-bit (LLM.int8) weights: int8 plus an fp32 scale per row, about one byte. */
  int8BytesPerParam: number;
  /** Fitted: `none`, measured / counted saved activations of a block (what the count leaves out:
   * kernel workspaces, tensors the count merges); `backward`, the temporaries of one block's
   * backward while it runs (the gradients of its activations), as a share of the block's counted
   * saved bytes: they exist once, whatever the number of blocks, checkpointed or not. */
  activationFactor: { none: number; backward: number };
  /** Measured / counted logits and loss bytes; 1, not fitted (the loss chunk's scratch bytes are). */
  logitsFactor: number;
  /** Fitted: torch's caching allocator, reserved / allocated of the tensors the default stream
   * allocates and frees again every step (blocks cached in one size and requested in another):
   * activations and gradients (freed at each optimizer step, rebuilt by backward); the logits and
   * the loss chunks, whose sizes differ from one moment to the next; FSDP2's gathered parameters
   * and reduce-scatter inputs. FSDP2's gradients live in the reduce-scatter stream's pool, which
   * the planner counts whole (planner.ts), not here. */
  fragmentation: { churn: number; logits: number; buffers: number };
  /** Fitted: of FSDP2's root reduce-scatter input (the last and largest tensor of backward, see
   * planner.ts), the share of what no freed block can hold that the allocator maps as new memory.
   * First principles 1; the H200 matrix fits 1.00 too, which says the rule for freed blocks
   * holds. */
  rootReduceFresh: number;
  /** Fitted: bytes allocated besides the tensors the model names (cuBLAS workspaces, the
   * micro-batch, RoPE tables). */
  runtimeBytes: number;
  /** Fitted: bytes the caching allocator reserves beyond its largest allocation whatever the run
   * (segment rounding, the small-block pool). */
  reserveSlackBytes: number;
  /** Outside the caching allocator: CUDA context, kernels; not in torch's reserved figure. */
  cudaContextBytes: number;
  /** NCCL communicator buffers when more than one process takes part. */
  ncclBytes: number;
  /** Throughput model used only to rank --fit candidates (see docs/memory.md). */
  speed: {
    /** Sustained bf16 matmul rate of one GPU, FLOP/s. */
    flops: number;
    /** Micro-batch efficiency t / (t + halfTokens): small micro-batches leave the GPU idle. */
    halfEfficiencyTokens: number;
    /** Collective bandwidth per GPU, bytes/s (NVLink-class). */
    collectiveBytesPerS: number;
    /** Fraction of collective time not hidden behind compute. */
    exposedCommFraction: number;
    /** Host <-> GPU bandwidth, bytes/s (PCIe). */
    hostBytesPerS: number;
    /** CPU AdamW rate, parameters per second per process. */
    cpuAdamParamsPerS: number;
  };
}

const GiB = 1024 ** 3;

export const FIRST_PRINCIPLES: PlanConstants = {
  source: {
    hardware: "none (first principles)",
    versions: "PyTorch 2.11 autograd saving rules, transformers 5 Llama modelling, peft 0.21, FSDP2, worker fused AdamW + chunked CE",
    date: "2026-12-03",
    note: "Counted from the tensors autograd saves in a Llama block (checked on the CPU with saved-tensor hooks); the fitted factors are 1 until bench/calibrate-memory.ts measures them.",
  },
  blockActivation: { hidden: 20, kv: 4, mlp: 8, heads: 4 },
  fp32ResidualExtraPerHidden: 10,
  adapterHiddenDelta: { sharded: -4, autocast: 4 },
  adapterRankBytes: 2,
  checkpointedBlockBytesPerHidden: 2,
  eagerScoreBytes: 6,
  sdpaMaskBytes: 2,
  logitsKeptBytes: 6,
  logitsBackwardBytes: 8,
  lossChunkElements: 2 ** 26,
  lossChunkScratchBytes: 12,
  lossForwardScratchBytes: 8,
  zero3GatheredBlocks: 2,
  reduceScatterBytesPerParam: 6,
  optimizerStepScratchBytes: 0,
  nf4BytesPerParam: 0.5 + 1 / 64 + 4 / (64 * 256),
  int8BytesPerParam: 1.01,
  activationFactor: { none: 1, backward: 0.5 },
  logitsFactor: 1,
  fragmentation: { churn: 1.05, logits: 1.25, buffers: 1.5 },
  rootReduceFresh: 1,
  runtimeBytes: 0.0625 * GiB,
  reserveSlackBytes: 0.0625 * GiB,
  cudaContextBytes: 0.6 * GiB,
  ncclBytes: 0.5 * GiB,
  speed: {
    flops: 400e12,
    halfEfficiencyTokens: 1024,
    collectiveBytesPerS: 150e9,
    exposedCommFraction: 0.3,
    hostBytesPerS: 20e9,
    cpuAdamParamsPerS: 1e9,
  },
};

/** The constants a calibration fits; everything else stays first principles. */
export const FITTED_KEYS = ["activationFactor", "lossChunkScratchBytes", "fragmentation", "rootReduceFresh", "runtimeBytes", "reserveSlackBytes"] as const;
export type FittedConstants = Pick<PlanConstants, (typeof FITTED_KEYS)[number]>;

export interface Calibration {
  source: PlanConstants["source"];
  /** The measurements, relative to the repository root. */
  results: string;
  factors: FittedConstants;
}

export function withCalibration(k: PlanConstants, c: Calibration): PlanConstants {
  // A calibration recorded before a factor existed leaves that factor at first principles.
  return { ...k, ...c.factors, source: c.source };
}

export function fittedOf(k: PlanConstants): FittedConstants {
  return { activationFactor: { ...k.activationFactor }, lossChunkScratchBytes: k.lossChunkScratchBytes, fragmentation: { ...k.fragmentation }, rootReduceFresh: k.rootReduceFresh, runtimeBytes: k.runtimeBytes, reserveSlackBytes: k.reserveSlackBytes };
}

/** What the planner uses: first principles, with the recorded calibration's factors if there is one. */
export const DEFAULT_CONSTANTS: PlanConstants = CALIBRATION ? withCalibration(FIRST_PRINCIPLES, CALIBRATION) : FIRST_PRINCIPLES;
