// The user config: one flat YAML mapping with LLaMA-Factory's key names where the concept exists.
// Descriptions become editor tooltips (schema/config.schema.json) and `whet train --help`.
// Defaults follow LLaMA-Factory / the HF Trainer; the config is what the user means, the RunSpec
// (src/spec/runspec.ts) is what the worker runs, and the resolver in src/runs/ goes between them.
import { z } from "zod";

const int = () => z.number().int();
const flag = (value: boolean, text: string) => z.boolean().default(value).describe(text);

const model = {
  model_name_or_path: z.string().min(1).describe("Local model folder (relative to this file) or a Hugging Face hub id like Qwen/Qwen3-0.6B."),
  random_init: flag(false, "Build the model from config.json with random weights (tests, benchmarks, the quickstart)."),
  attn_implementation: z
    .enum(["auto", "sdpa", "eager", "varlen"])
    .optional()
    .describe("Attention: varlen (each micro-batch's documents end to end, attention bounded per document, no padding computed), sdpa (PyTorch scaled dot-product over padded rows) or eager. Default auto: varlen with 16-bit compute on GPUs, else sdpa."),
  flash_attn: z
    .enum(["auto", "disabled", "sdpa", "fa2"])
    .optional()
    .describe("LLaMA-Factory's spelling, used when attn_implementation is not given: fa2 means varlen, disabled means eager."),
  torch_compile: z
    .union([z.boolean(), z.literal("auto")])
    .default("auto")
    .describe("torch.compile each decoder block; a block that fails to compile runs eagerly, with a warning. auto: on with GPUs, off on the CPU."),
};

const method = {
  stage: z.enum(["pt", "sft"]).default("sft").describe("pt: continued pre-training on raw text; sft: supervised fine-tuning on conversations."),
  do_train: flag(true, "Must be true: whetstone only trains."),
  finetuning_type: z.enum(["full", "lora"]).default("lora").describe("lora trains low-rank adapters on a frozen base; full trains every weight."),
  lora_rank: int().min(1).default(8).describe("LoRA rank r."),
  lora_alpha: z.number().positive().optional().describe("LoRA scale numerator (scale = alpha / rank). Default: 2 × lora_rank."),
  lora_dropout: z.number().min(0).lt(1).default(0).describe("Dropout on the LoRA input, in [0, 1).").meta({ examples: [0.05] }),
  lora_target: z.string().min(1).default("all").describe('Modules that get adapters, comma separated (q_proj,v_proj), or "all" for every linear layer but the head.'),
};

const dataset = {
  dataset: z.string().min(1).describe("Dataset names from dataset_dir/dataset_info.json, or data files, comma separated."),
  dataset_dir: z.string().min(1).default("data").describe("Folder holding dataset_info.json and the data files (relative to this file)."),
  template: z.string().min(1).optional().describe("Chat template name (llama3, qwen3, chatml, ...). Default: the tokenizer's own chat template."),
  cutoff_len: int().min(1).default(2048).describe("Longest sequence in tokens; longer samples are cut."),
  packing: z.boolean().optional().describe("Pack several samples into each row (attention stays inside each sample). Default: true for pt, false for sft."),
  train_on_prompt: flag(false, "Compute the loss on prompts too, not only on the assistant's answers."),
  mask_history: flag(false, "Train only on the last assistant turn of each conversation."),
  max_samples: int().min(1).optional().describe("Use at most this many samples of each dataset (the first ones).").meta({ examples: [1000] }),
  mix_strategy: z
    .enum(["concat", "interleave_under", "interleave_over"])
    .default("concat")
    .describe("How several datasets are mixed: concat (one after the other), interleave_under (alternate until the first runs out), interleave_over (alternate, repeating the shorter ones, until each was used whole)."),
  interleave_probs: z
    .string()
    .optional()
    .describe("With an interleave mix_strategy: the chance of drawing from each dataset, comma separated (0.7,0.3). Default: take them in turn.")
    .meta({ examples: ["0.7,0.3"] }),
  val_size: z
    .number()
    .min(0)
    .default(0)
    .describe("Hold out this fraction (below 1) or this many samples (a whole number) as a validation split, chosen with seed and tokenized into its own shard. No evaluation runs on it yet: the samples are only set aside.")
    .meta({ examples: [0.1] }),
  dataset_placeholders: z.record(z.string(), z.string()).optional().describe("Whetstone: values that fill {{name}} in the data, for example {name: Whet}."),
};

const output = {
  output_dir: z.string().min(1).optional().describe("The run directory (relative to this file). Default: runs/<generated id>."),
  overwrite_output_dir: flag(false, "Start over in an output_dir that already holds a run."),
  logging_steps: int().min(1).default(500).describe("Report the loss every this many optimizer steps.").meta({ examples: [10] }),
  save_steps: int().min(0).default(500).describe("Save a checkpoint every this many steps; 0 saves none before the end."),
  save_total_limit: int().min(1).optional().describe("Keep at most this many checkpoints. Default: keep all.").meta({ examples: [3] }),
  export_merge_lora: flag(true, "Whetstone: merge LoRA into the exported weights; false exports a PEFT adapter folder."),
  report_to: z
    .union([
      z.string().regex(/^\s*(none|all|tensorboard|wandb|mlflow)(\s*,\s*(none|all|tensorboard|wandb|mlflow))*\s*$/, "write none, all, tensorboard, wandb, mlflow or a comma list of them"),
      z.array(z.enum(["none", "all", "tensorboard", "wandb", "mlflow"])),
    ])
    .default("none")
    .describe("Where metrics go besides events.jsonl, TensorBoard (always written) and the dashboard: none, wandb, mlflow, tensorboard, all, or a comma list. wandb and mlflow need their package in the worker's Python (pip install wandb / pip install mlflow).")
    .meta({ examples: ["wandb"] }),
};

const train = {
  per_device_train_batch_size: int().min(1).default(8).describe("Rows per micro-batch on each process."),
  gradient_accumulation_steps: int().min(1).default(1).describe("Micro-batches per optimizer step."),
  eval_steps: int().min(0).optional().describe("Evaluate the val_size split every this many steps; 0 only after the last step. Default: save_steps (or only at the end when save_steps is 0).").meta({ examples: [100] }),
  per_device_eval_batch_size: int().min(1).optional().describe("Rows per evaluation forward pass on each process. Default: per_device_train_batch_size."),
  global_batch_size: int().min(1).optional().describe("Whetstone: rows per optimizer step, kept whatever the number of processes; gradient_accumulation_steps is then derived (global / (per_device_train_batch_size × processes)).").meta({ examples: [64] }),
  learning_rate: z.number().positive().default(5e-5).describe("Peak learning rate of AdamW."),
  num_train_epochs: z.number().positive().default(3).describe("Passes over the data, used when max_steps is -1."),
  max_steps: int().min(-1).default(-1).describe("Optimizer steps of the whole run; -1 trains num_train_epochs instead.").meta({ examples: [100] }),
  lr_scheduler_type: z.enum(["linear", "cosine", "constant", "constant_with_warmup"]).default("linear").describe("Learning-rate schedule after warmup."),
  warmup_ratio: z.number().min(0).lt(1).default(0).describe("Fraction of the steps spent warming up, in [0, 1).").meta({ examples: [0.1] }),
  warmup_steps: int().min(0).default(0).describe("Warmup steps; when above 0 it wins over warmup_ratio."),
  weight_decay: z.number().min(0).default(0).describe("AdamW weight decay."),
  max_grad_norm: z.number().min(0).default(1).describe("Clip the gradient norm to this; 0 turns clipping off."),
  bf16: flag(false, "Compute in bfloat16 (GPUs from Ampere on)."),
  fp16: flag(false, "Compute in float16 with loss scaling (older GPUs)."),
  gradient_checkpointing: z
    .union([z.boolean(), z.string().regex(/^(auto|none|full|selective(\/[1-9]\d*)?)$/, 'write auto, true, false, none, full, selective or selective/K (every K-th block)')])
    .default("auto")
    .describe("Recompute activations in the backward pass to save memory: true or full (every block), false or none, selective/K (every K-th block; selective alone is selective/2). auto (default): on GPUs the least recomputation the memory planner predicts to fit (none, selective/4, selective/2, then full); on the CPU full, as LLaMA-Factory does.")
    .meta({ examples: ["selective/4"] }),
  offload_activations: flag(false, "Whetstone: keep the tensors saved for backward in host memory (CUDA only; slower, frees GPU memory)."),
  disable_gradient_checkpointing: z.boolean().optional().describe("LLaMA-Factory's spelling: true means gradient_checkpointing: false."),
  seed: int().min(0).default(42).describe("Random seed of weights, dropout and data order."),
  adam_beta1: z.number().min(0).lt(1).default(0.9).describe("AdamW beta1."),
  adam_beta2: z.number().min(0).lt(1).default(0.999).describe("AdamW beta2."),
  adam_epsilon: z.number().positive().default(1e-8).describe("AdamW epsilon."),
};

const launch = {
  device: z.enum(["auto", "cuda", "cpu"]).default("auto").describe("Whetstone: cuda, cpu, or auto (cuda when a GPU is visible)."),
  nproc: z.union([int().min(1), z.literal("auto")]).default("auto").describe("Whetstone: processes per node; auto is one per visible GPU, or 1 on the CPU.").meta({ examples: [2] }),
  auto_resume: flag(false, "Whetstone: continue from the last checkpoint in output_dir when there is one, and restart from it after a rank dies or stalls."),
  max_retries: int().min(0).optional().describe("Whetstone: OOM retries and auto_resume restarts, at most this many each. Default 3."),
  stall_timeout_s: z.number().positive().optional().describe("Whetstone: a rank with no progress for max(stall_factor × median step time, this) seconds is stalled. Default 120."),
  stall_factor: z.number().positive().optional().describe("Whetstone: see stall_timeout_s. Default 10."),
};

const distributed = {
  sharding: z
    .enum(["auto", "ddp", "zero1", "zero2", "zero3"])
    .default("auto")
    .describe("Whetstone: ddp replicates everything; zero1 shards optimizer states, zero2 also gradients, zero3 also weights. auto: ddp for adapters or one process, zero3 for full fine-tuning on several."),
  offload: z
    .enum(["none", "optimizer", "params+optimizer"])
    .default("none")
    .describe("Whetstone: optimizer keeps fp32 master weights and optimizer states in host memory and steps there; params+optimizer also parameter shards (zero3)."),
  distributed_backend: z
    .enum(["fsdp2", "deepspeed"])
    .default("fsdp2")
    .describe("Whetstone: fsdp2 runs DDP and ZeRO on PyTorch's own FSDP2; deepspeed runs the DeepSpeed engine (the deepspeed package must be installed)."),
  deepspeed: z
    .string()
    .optional()
    .describe("A DeepSpeed JSON config (LLaMA-Factory's examples/deepspeed/ds_z3_config.json, relative to this file or a folder above). Its stage and offload set sharding and offload; its \"auto\" values come from this config.")
    .meta({ examples: ["examples/deepspeed/ds_z3_config.json"] }),
};

/** Keys in help order, grouped as LLaMA-Factory's example files group them. */
export const SECTIONS = { model, method, dataset, output, train, launch, distributed };

export const RunConfigSchema = z.object({ ...model, ...method, ...dataset, ...output, ...train, ...launch, ...distributed }).strict();

/** Keys whose absence is an error, with what to write instead. */
export const REQUIRED_HINT: Record<string, string> = {
  model_name_or_path: "<local folder or hub id>",
  dataset: "<dataset name or data file>",
};

type Parsed = z.output<typeof RunConfigSchema>;

/** The validated config with every default filled in (packing and lora_alpha decided). */
export type RunConfig = Omit<Parsed, "disable_gradient_checkpointing" | "packing" | "lora_alpha"> & {
  packing: boolean;
  lora_alpha: number;
  /** The JSON named by `deepspeed`, its "auto" values filled (set by loadConfig, not a YAML key). */
  deepspeed_json?: Record<string, unknown>;
};
