// RunSpec: the one fully resolved description of a run that TypeScript hands to the worker
// (runs/<id>/spec.json). The worker never invents a default: every value it needs is here.
// The JSON Schema in schema/runspec.schema.json is generated from this file and pinned by a test;
// worker/whet_worker/spec.py mirrors it and a pytest checks the mirror against that schema.
import { z } from "zod";

export const SPEC_VERSION = 2;

const dtype = z.enum(["float32", "bfloat16", "float16"]);
export type Dtype = z.infer<typeof dtype>;

export const ModelSpec = z
  .object({
    path: z.string().describe("Local folder holding config.json (and weights unless random_init)."),
    random_init: z.boolean().describe("Build from config.json with random weights instead of loading weights."),
    tokenizer_path: z.string().describe("Folder holding tokenizer.json and tokenizer_config.json, copied beside the export."),
    architecture: z.string().describe("config.json's architectures[0], for example LlamaForCausalLM."),
    vocab_size: z.number().int().positive(),
    pad_token_id: z.number().int().nonnegative(),
    eos_token_id: z.number().int().nonnegative(),
    attn_implementation: z
      .enum(["sdpa", "eager", "varlen"])
      .describe("varlen: each micro-batch is one row of its documents end to end, attention bounded per document (no padding computed)."),
  })
  .strict();

export const LoraSpec = z
  .object({
    rank: z.number().int().positive(),
    alpha: z.number().positive(),
    dropout: z.number().min(0).max(1),
    targets: z.array(z.string()).min(1).describe("Module names, for example q_proj; 'all-linear' alone means every linear layer but the head."),
  })
  .strict();

export const MethodSpec = z
  .object({
    stage: z.enum(["pt", "sft"]),
    finetuning_type: z.enum(["full", "lora"]),
    lora: LoraSpec.nullable(),
  })
  .strict();

export const DataSpec = z
  .object({
    shard_dir: z.string().describe("Token shard folder (meta.json, tokens.bin, loss_mask.bin, doc_offsets.bin, row_docs.bin)."),
    seq_len: z.number().int().positive().describe("Row length in tokens: cutoff_len."),
    packing: z.boolean(),
    num_rows: z.number().int().positive(),
    num_tokens: z.number().int().positive(),
    trained_tokens: z.number().int().positive().describe("Tokens that carry loss in the whole shard."),
  })
  .strict();

export const TrainSpec = z
  .object({
    micro_batch_size: z.number().int().positive().describe("Rows per micro-batch per rank."),
    gradient_accumulation_steps: z.number().int().positive(),
    global_batch_rows: z.number().int().positive().describe("micro_batch_size × accumulation × world_size."),
    max_steps: z.number().int().positive().describe("Optimizer steps of the whole run."),
    steps_per_epoch: z.number().int().positive(),
    learning_rate: z.number().positive(),
    lr_scheduler_type: z.enum(["cosine", "linear", "constant", "constant_with_warmup"]),
    warmup_steps: z.number().int().nonnegative(),
    min_lr_ratio: z.number().min(0).max(1),
    weight_decay: z.number().nonnegative(),
    adam_beta1: z.number().min(0).lt(1),
    adam_beta2: z.number().min(0).lt(1),
    adam_epsilon: z.number().positive(),
    max_grad_norm: z.number().nonnegative().describe("0 turns clipping off."),
    seed: z.number().int().nonnegative(),
    logging_steps: z.number().int().positive(),
    flops_per_token: z
      .number()
      .nonnegative()
      .describe("Model FLOPs of one trained token, forward and backward without recomputation (docs/speed.md); 0 when the shape is unknown. The worker's mfu uses it."),
    compile: z.boolean().describe("torch.compile each decoder block (falls back to eager with a warning where compiling fails)."),
    activation_checkpointing: z
      .object({
        mode: z.enum(["none", "selective", "full"]).describe("none: keep every block's activations; full: recompute every block in backward; selective: every k-th block."),
        every: z.number().int().positive().describe("selective: checkpoint blocks 0, k, 2k, ...; 1 under full; ignored under none."),
        offload: z.boolean().describe("Keep the tensors saved for backward in host memory (CUDA only)."),
      })
      .strict(),
  })
  .strict();

export const PrecisionSpec = z
  .object({
    compute_dtype: dtype.describe("autocast dtype of forward and backward."),
    master_dtype: dtype.describe("dtype of trainable weights and optimizer states."),
    frozen_dtype: dtype.describe("dtype of frozen base weights (LoRA)."),
    save_dtype: dtype.describe("dtype of exported weights."),
    loss_scaling: z.boolean().describe("Dynamic loss scaling, only with float16 compute."),
  })
  .strict();

export const DistributedSpec = z
  .object({
    device: z.enum(["cuda", "cpu"]),
    backend: z.enum(["nccl", "gloo"]),
    strategy: z
      .enum(["ddp", "zero1", "zero2", "zero3"])
      .describe("ddp: replicated; zero1: optimizer states sharded; zero2: + gradients; zero3: + weights (FSDP2 or DeepSpeed)."),
    offload: z
      .enum(["none", "optimizer", "params+optimizer"])
      .describe("optimizer: fp32 master weights and optimizer states live on the host and step there; params+optimizer: parameter shards too."),
    engine: z.enum(["torch", "deepspeed"]).describe("torch: DDP and FSDP2; deepspeed: the DeepSpeed engine with deepspeed_config."),
    deepspeed_config: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe("engine deepspeed: the DeepSpeed JSON with every \"auto\" value filled from this spec; null otherwise."),
    peak_flops_per_rank: z
      .number()
      .positive()
      .nullable()
      .describe("Dense bf16/fp16 tensor peak of one GPU in FLOP/s (datasheet), for mfu; null on the CPU, in float32 or for an unknown GPU."),
    world_size: z.number().int().positive(),
    nproc_per_node: z.number().int().positive(),
    nnodes: z.number().int().positive(),
  })
  .strict();

export const CheckpointSpec = z
  .object({
    dir: z.string().describe("runs/<id>/checkpoints; each checkpoint is step-N inside it, written as a temporary name then renamed."),
    save_steps: z.number().int().nonnegative().describe("0: only the final export, no intermediate checkpoints."),
    save_total_limit: z.number().int().nonnegative().describe("Keep at most this many checkpoints; 0 keeps all."),
    resume_from: z.string().nullable().describe("A step-N folder to continue from, or null."),
  })
  .strict();

export const ExportSpec = z
  .object({
    dir: z.string(),
    merge_lora: z.boolean().describe("Merge LoRA into the base weights; false writes a PEFT adapter folder."),
  })
  .strict();

export const EvalSpec = z
  .object({
    shard_dir: z.string().describe("The held-out split (val_size) as a token shard: <data.shard_dir>/eval."),
    num_rows: z.number().int().positive(),
    every_steps: z.number().int().nonnegative().describe("Evaluate after every this many optimizer steps; 0: only after the last step."),
    micro_batch_size: z.number().int().positive().describe("Rows per forward pass per rank."),
  })
  .strict();

export const FaultSpec = z
  .object({
    rank: z.number().int().nonnegative(),
    step: z.number().int().nonnegative(),
    kind: z.enum(["raise", "exit", "hang", "oom", "nan"]),
  })
  .strict()
  .describe("Test-only fault injection: rank K does this at step S.");

export const RunSpec = z
  .object({
    spec_version: z.literal(SPEC_VERSION),
    run_id: z.string(),
    run_dir: z.string(),
    events_path: z.string().describe("NDJSON file every rank appends its events to."),
    model: ModelSpec,
    method: MethodSpec,
    data: DataSpec,
    train: TrainSpec,
    precision: PrecisionSpec,
    distributed: DistributedSpec,
    checkpoint: CheckpointSpec,
    export: ExportSpec,
    eval: EvalSpec.nullable().describe("Evaluation on the held-out split; null without val_size."),
    fault: FaultSpec.nullable(),
  })
  .strict();

export type RunSpec = z.infer<typeof RunSpec>;
