// Every number the planner assumes, as data, so a calibration run can replace them in one place.
// Provenance: first-principles values (derivations in docs/memory.md), not yet measured.
// bench/calibrate-memory.ts measures real runs and fitConstants() (calibrate.ts) refits the
// fields marked "fitted"; record the hardware and versions of that run in `source` when you do.

export interface PlanConstants {
  source: { hardware: string; versions: string; date: string; note: string };
  /** Saved activation bytes per token per transformer block without checkpointing, with
   * sdpa/flash attention and 16-bit compute: hidden·h + kv·(kv heads · head dim) + mlp·I. Fitted. */
  blockActivation: { hidden: number; kv: number; mlp: number };
  /** Bytes per token per block kept by a checkpointed block: its input (the residual stream). Fitted. */
  checkpointedBlockBytesPerHidden: number;
  /** Eager attention also keeps the fp32 softmax output and its bf16 copy: bytes per head per token per key. */
  eagerScoreBytes: number;
  /** Plain loss: bytes per token per vocab entry kept from forward to backward (bf16 logits 2 + fp32 log-probs 4). Fitted. */
  logitsKeptBytes: number;
  /** Plain loss: extra bytes per token per vocab entry while backward runs through the loss (fp32 grads). Fitted. */
  logitsBackwardBytes: number;
  /** Chunked loss (worker/whet_worker/loss.py): the whole 16-bit logits are kept (2 bytes per token
   * per vocab entry) and get a 16-bit gradient; fp32 work happens one chunk of
   * clamp(lossChunkElements / V, 64, 8192) tokens at a time, this many bytes per chunk element. */
  lossChunkElements: number;
  lossChunkScratchBytes: number;
  /** Full fine-tuning keeps fp32 weights under autocast, so the residual stream is fp32: each
   * RMSNorm keeps an fp32 normalised output (+2h each, two per block) and a checkpointed block
   * keeps a 4h input. Extra bytes per token per block, per hidden unit. */
  fp32ResidualExtraPerHidden: number;
  /** FSDP2 zero3: blocks whose bf16 parameters are gathered at once (current + prefetched). */
  zero3GatheredBlocks: number;
  /** Unsharded gradient bytes per parameter of one block during reduce-scatter (bf16 grad + fp32 copy). */
  reduceScatterBytesPerParam: number;
  /** Optimizer step scratch per trainable parameter on this GPU: the worker's AdamW is fused=True
   * on CUDA (none); foreach AdamW would allocate about one fp32 copy (4). Fitted. */
  optimizerStepScratchBytes: number;
  /** QLoRA 4-bit weights: bytes per quantised parameter (NF4 0.5 + double-quantised absmax). */
  nf4BytesPerParam: number;
  /** 8-bit (LLM.int8) weights: int8 plus an fp32 scale per row, about one byte. */
  int8BytesPerParam: number;
  /** torch caching allocator: reserved / allocated of short-lived tensors (activations, logits, buffers). Fitted. */
  fragmentation: number;
  /** Outside the caching allocator: CUDA context, cuBLAS workspaces, kernels. Fitted. */
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

export const DEFAULT_CONSTANTS: PlanConstants = {
  source: {
    hardware: "none (first principles)",
    versions: "PyTorch 2.5+ autograd saving rules, transformers 4.4x Llama modelling, FSDP2, worker fused AdamW + chunked CE",
    date: "2025-01-01",
    note: "Derived by counting the tensors autograd saves in a Llama block; refit with bench/calibrate-memory.ts.",
  },
  blockActivation: { hidden: 20, kv: 4, mlp: 8 },
  checkpointedBlockBytesPerHidden: 2,
  eagerScoreBytes: 6,
  logitsKeptBytes: 6,
  logitsBackwardBytes: 8,
  lossChunkElements: 2 ** 26,
  lossChunkScratchBytes: 12,
  fp32ResidualExtraPerHidden: 4,
  zero3GatheredBlocks: 2,
  reduceScatterBytesPerParam: 6,
  optimizerStepScratchBytes: 0,
  nf4BytesPerParam: 0.5 + 1 / 64 + 4 / (64 * 256),
  int8BytesPerParam: 1.01,
  fragmentation: 1.15,
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
