// Turns a validated config plus what the data and the hardware say into the RunSpec the worker
// runs. Pure: no I/O. Every decision the worker would otherwise make is made here, visibly.
import { WhetError, type Problem } from "../errors.ts";
import { SPEC_VERSION, type RunSpec, type Dtype } from "../spec/runspec.ts";
import { deepSpeedConfigFor, type Offload, type Strategy } from "../compat/deepspeed.ts";
import { bf16Peak } from "../doctor/specs.ts";
import { loraParams, shapeFromConfig } from "../plan/shape.ts";
import { trainFlopsPerToken } from "../plan/speed.ts";
import { defaultSharding } from "../plan/states.ts";

/** The config fields the resolver reads (a subset of RunConfig). */
export interface ResolvableConfig {
  stage: "pt" | "sft";
  finetuning_type: "full" | "lora";
  lora_rank: number;
  lora_alpha?: number | undefined;
  lora_dropout: number;
  lora_target: string;
  cutoff_len: number;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  global_batch_size?: number | undefined;
  eval_steps?: number | undefined;
  per_device_eval_batch_size?: number | undefined;
  learning_rate: number;
  num_train_epochs: number;
  max_steps: number;
  lr_scheduler_type: "linear" | "cosine" | "constant" | "constant_with_warmup";
  warmup_ratio: number;
  warmup_steps: number;
  weight_decay: number;
  max_grad_norm: number;
  bf16: boolean;
  fp16: boolean;
  gradient_checkpointing: boolean | string;
  offload_activations?: boolean | undefined;
  sharding?: "auto" | Strategy | undefined;
  offload?: Offload | undefined;
  distributed_backend?: "fsdp2" | "deepspeed" | undefined;
  deepspeed_json?: Record<string, unknown> | undefined;
  logging_steps: number;
  save_steps: number;
  save_total_limit?: number | undefined;
  seed: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  attn_implementation?: "auto" | "sdpa" | "eager" | "varlen" | undefined;
  flash_attn?: "auto" | "disabled" | "sdpa" | "fa2" | undefined;
  torch_compile?: boolean | "auto" | undefined;
  export_merge_lora?: boolean | undefined;
}

export interface ResolveInput {
  config: ResolvableConfig;
  runId: string;
  runDir: string;
  model: { path: string; randomInit: boolean; tokenizerPath: string; config: Record<string, unknown> };
  tokenizer: { padId: number; eosId: number };
  data: {
    shardDir: string;
    seqLen: number;
    packing: boolean;
    numRows: number;
    numTokens: number;
    trainedTokens: number;
    numDocs?: number;
    /** The val_size split, when there is one. */
    eval?: { shardDir: string; numRows: number } | null;
  };
  /** gpuName: the GPUs' model as nvidia-smi names it, for the peak FLOP/s behind mfu. */
  hardware: { device: "cuda" | "cpu"; nprocPerNode: number; nnodes: number; gpuName?: string };
  resumeFrom: string | null;
  fault?: RunSpec["fault"];
}

export interface Resolved {
  spec: RunSpec;
  warnings: Problem[];
  /** Human lines saying what was decided and why (printed before launch). */
  notes: string[];
}

export function resolveSpec(input: ResolveInput): Resolved {
  const { data, hardware } = input;
  const warnings: Problem[] = [];
  const notes: string[] = [];
  const worldSize = hardware.nprocPerNode * hardware.nnodes;
  const c = withDerivedAccumulation(input.config, worldSize, notes);
  const globalRows = c.per_device_train_batch_size * c.gradient_accumulation_steps * worldSize;
  if (data.numRows < globalRows) {
    throw new WhetError("CONFIG_INVALID", [
      {
        where: "per_device_train_batch_size",
        message: `one optimizer step needs ${globalRows} rows (${c.per_device_train_batch_size} × ${c.gradient_accumulation_steps} accumulation × ${worldSize} processes) but the data has only ${data.numRows}. Lower per_device_train_batch_size or gradient_accumulation_steps, or add data.`,
      },
    ]);
  }
  const stepsPerEpoch = Math.floor(data.numRows / globalRows);
  const maxSteps = c.max_steps > 0 ? c.max_steps : Math.max(1, Math.ceil(c.num_train_epochs * stepsPerEpoch));
  const warmupSteps = c.warmup_steps > 0 ? c.warmup_steps : Math.ceil(c.warmup_ratio * maxSteps);
  notes.push(
    `batch: ${c.per_device_train_batch_size} rows × ${c.gradient_accumulation_steps} accumulation × ${worldSize} processes = ${globalRows} rows per step; ${stepsPerEpoch} steps per epoch; ${maxSteps} steps`,
  );

  const precision = resolvePrecision(c, hardware.device, warnings);
  notes.push(
    `precision: compute ${precision.compute_dtype}, master weights ${precision.master_dtype}` +
      (c.finetuning_type === "lora" ? `, frozen base ${precision.frozen_dtype}` : "") +
      `, saved as ${precision.save_dtype}`,
  );

  const dist = resolveDistributed(c, { worldSize, globalRows, precision }, warnings, notes);

  const vocab = Number(input.model.config.vocab_size);
  const architectures = input.model.config.architectures;
  const spec: RunSpec = {
    spec_version: SPEC_VERSION,
    run_id: input.runId,
    run_dir: input.runDir,
    events_path: `${input.runDir}/events.jsonl`,
    model: {
      path: input.model.path,
      random_init: input.model.randomInit,
      tokenizer_path: input.model.tokenizerPath,
      architecture: Array.isArray(architectures) && typeof architectures[0] === "string" ? architectures[0] : "LlamaForCausalLM",
      vocab_size: Number.isInteger(vocab) && vocab > 0 ? vocab : 1,
      pad_token_id: input.tokenizer.padId,
      eos_token_id: input.tokenizer.eosId,
      attn_implementation: attention(c, hardware.device, precision.compute_dtype),
    },
    method: {
      stage: c.stage,
      finetuning_type: c.finetuning_type,
      lora:
        c.finetuning_type === "lora"
          ? {
              rank: c.lora_rank,
              alpha: c.lora_alpha ?? 2 * c.lora_rank,
              dropout: c.lora_dropout,
              targets: loraTargets(c.lora_target),
            }
          : null,
    },
    data: {
      shard_dir: data.shardDir,
      seq_len: data.seqLen,
      packing: data.packing,
      num_rows: data.numRows,
      num_tokens: data.numTokens,
      trained_tokens: data.trainedTokens,
    },
    train: {
      micro_batch_size: c.per_device_train_batch_size,
      gradient_accumulation_steps: c.gradient_accumulation_steps,
      global_batch_rows: globalRows,
      max_steps: maxSteps,
      steps_per_epoch: stepsPerEpoch,
      learning_rate: c.learning_rate,
      lr_scheduler_type: c.lr_scheduler_type,
      warmup_steps: Math.min(warmupSteps, maxSteps),
      min_lr_ratio: 0,
      weight_decay: c.weight_decay,
      adam_beta1: c.adam_beta1,
      adam_beta2: c.adam_beta2,
      adam_epsilon: c.adam_epsilon,
      max_grad_norm: c.max_grad_norm,
      seed: c.seed,
      logging_steps: c.logging_steps,
      flops_per_token: flopsPerToken(input),
      compile: c.torch_compile === undefined || c.torch_compile === "auto" ? hardware.device === "cuda" : c.torch_compile,
      activation_checkpointing: activationCheckpointing(c, hardware.device, warnings),
    },
    precision,
    distributed: {
      device: hardware.device,
      backend: hardware.device === "cuda" ? "nccl" : "gloo",
      ...dist,
      peak_flops_per_rank: peakFlops(hardware, precision),
      world_size: worldSize,
      nproc_per_node: hardware.nprocPerNode,
      nnodes: hardware.nnodes,
    },
    checkpoint: {
      dir: `${input.runDir}/checkpoints`,
      save_steps: c.save_steps,
      save_total_limit: c.save_total_limit ?? 0,
      resume_from: input.resumeFrom,
    },
    export: { dir: `${input.runDir}/export`, merge_lora: c.export_merge_lora ?? true },
    eval: resolveEval(c, data.eval ?? null, notes),
    fault: input.fault ?? null,
  };
  return { spec, warnings, notes };
}

/** Evaluation on the held-out split: every eval_steps (default: save_steps; 0: after the last step). */
function resolveEval(c: ResolvableConfig, held: { shardDir: string; numRows: number } | null, notes: string[]): RunSpec["eval"] {
  if (!held || held.numRows === 0) return null;
  const every = c.eval_steps ?? c.save_steps;
  const micro = c.per_device_eval_batch_size ?? c.per_device_train_batch_size;
  notes.push(`eval: loss on ${held.numRows} held-out rows ${every > 0 ? `every ${every} steps and ` : ""}after the last step`);
  return { shard_dir: held.shardDir, num_rows: held.numRows, every_steps: every, micro_batch_size: micro };
}

/** For mfu: the model FLOPs of a trained token; 0 when config.json is not a shape the planner reads. */
function flopsPerToken(input: ResolveInput): number {
  const c = input.config;
  try {
    const shape = shapeFromConfig(input.model.config, "config.json");
    const lora = c.finetuning_type === "lora" ? loraParams(shape, c.lora_rank, loraTargets(c.lora_target)) : 0;
    const meanDocTokens = input.data.numDocs ? input.data.numTokens / input.data.numDocs : input.data.seqLen;
    return trainFlopsPerToken(shape, { loraParams: lora, meanDocTokens });
  } catch {
    return 0;
  }
}

/** The datasheet's dense 16-bit tensor peak of the GPU; none for float32 compute or the CPU. */
function peakFlops(hardware: ResolveInput["hardware"], precision: RunSpec["precision"]): number | null {
  if (hardware.device !== "cuda" || precision.compute_dtype === "float32" || !hardware.gpuName) return null;
  const peak = bf16Peak(hardware.gpuName);
  return peak ? peak.tflops * 1e12 : null;
}

/**
 * global_batch_size keeps the rows per optimizer step fixed whatever the process count:
 * accumulation = global / (micro-batch × processes), which must come out whole.
 */
export function withDerivedAccumulation<C extends Pick<ResolvableConfig, "global_batch_size" | "per_device_train_batch_size" | "gradient_accumulation_steps">>(c: C, worldSize: number, notes: string[]): C {
  const global = c.global_batch_size;
  if (global === undefined) return c;
  const perStep = c.per_device_train_batch_size * worldSize;
  if (global % perStep !== 0) {
    const fits = [1, 2, 4, 8, 16, 32, 64].filter((m) => global % (m * worldSize) === 0).map((m) => `${m}`);
    throw new WhetError("CONFIG_INVALID", [
      {
        where: "global_batch_size",
        message: `is ${global}, which ${worldSize} process(es) × per_device_train_batch_size ${c.per_device_train_batch_size} (${perStep} rows) does not divide. ${fits.length ? `Use per_device_train_batch_size ${fits.join(", ")}, or` : "Use"} a global_batch_size that is a multiple of ${perStep}.`,
      },
    ]);
  }
  const accumulation = global / perStep;
  notes.push(`global_batch_size ${global}: accumulation ${accumulation} derived for ${worldSize} process(es) × micro-batch ${c.per_device_train_batch_size}`);
  return { ...c, gradient_accumulation_steps: accumulation };
}

/** gradient_checkpointing: true|full|auto, false|none, selective (every 2nd block) or selective/K. */
export function activationCheckpointing(c: Pick<ResolvableConfig, "gradient_checkpointing" | "offload_activations">, device: "cuda" | "cpu", warnings: Problem[]): RunSpec["train"]["activation_checkpointing"] {
  const v = c.gradient_checkpointing;
  const offload = c.offload_activations === true;
  if (offload && device === "cpu") warnings.push({ where: "offload_activations", message: "has no effect on the CPU: activations are already in host memory." });
  // auto reaches here only where the planner did not choose (the CPU): LLaMA-Factory's default.
  if (v === true || v === "full" || v === "auto") return { mode: "full", every: 1, offload };
  if (v === false || v === "none") return { mode: "none", every: 1, offload };
  const m = /^selective(?:\/(\d+))?$/.exec(v);
  if (!m) throw new WhetError("CONFIG_INVALID", [{ where: "gradient_checkpointing", message: `is ${JSON.stringify(v)}; write true, false, full, none, selective or selective/K.` }]);
  const every = Number(m[1] ?? 2);
  return every === 1 ? { mode: "full", every: 1, offload } : { mode: "selective", every, offload };
}

type DistChoice = Pick<RunSpec["distributed"], "strategy" | "offload" | "engine" | "deepspeed_config">;

/**
 * sharding auto: ddp on one process or for adapters (their states are small), zero3 for full
 * fine-tuning on several. The DeepSpeed engine gets the user's JSON, or one built from the same
 * choices, with its batch values set to this run's.
 */
export function resolveDistributed(
  c: Pick<ResolvableConfig, "sharding" | "offload" | "distributed_backend" | "deepspeed_json" | "finetuning_type" | "per_device_train_batch_size" | "gradient_accumulation_steps" | "max_grad_norm">,
  run: { worldSize: number; globalRows: number; precision: RunSpec["precision"] },
  warnings: Problem[],
  notes: string[],
): DistChoice {
  const asked = c.sharding ?? "auto";
  let strategy: Strategy = asked === "auto" ? defaultSharding(run.worldSize, c.finetuning_type) : asked;
  const offload: Offload = c.offload ?? "none";
  if (offload === "params+optimizer" && strategy !== "zero3") {
    if (asked !== "auto") {
      throw new WhetError("CONFIG_INVALID", [
        { where: "offload", message: `is params+optimizer, which needs sharded parameters; sharding is ${asked}. Use sharding: zero3, or offload: optimizer.` },
      ]);
    }
    strategy = "zero3";
  }
  const engine = c.distributed_backend === "deepspeed" ? "deepspeed" : "torch";
  if (c.deepspeed_json && engine === "torch") {
    notes.push(`deepspeed: the JSON's ZeRO stage runs on FSDP2 as ${strategy}${offload === "none" ? "" : ` with ${offload} offload`} (distributed_backend: deepspeed runs the DeepSpeed engine instead)`);
  }
  if (strategy !== "ddp" && run.worldSize === 1 && offload === "none" && engine === "torch") {
    warnings.push({ where: "sharding", message: `is ${strategy} on one process: nothing is sharded, only wrapped. Use ddp on one GPU unless you offload.` });
  }
  const why = asked === "auto" ? (run.worldSize === 1 ? " (one process)" : c.finetuning_type === "full" ? " (full fine-tuning on several processes)" : " (adapters: their states are small)") : "";
  notes.push(`parallelism: ${strategy}${why}, offload ${offload}, engine ${engine === "torch" ? (strategy === "ddp" || strategy === "zero1" ? "torch DDP" : "torch FSDP2") : "DeepSpeed"}`);
  const batch = { microBatch: c.per_device_train_batch_size, accumulation: c.gradient_accumulation_steps, globalRows: run.globalRows, maxGradNorm: c.max_grad_norm };
  const deepspeed_config = engine === "deepspeed" ? deepSpeedConfigFor(c.deepspeed_json, { strategy, offload, ...batch, precision: run.precision }) : null;
  return { strategy, offload, engine, deepspeed_config };
}

export function loraTargets(target: string): string[] {
  const names = target.split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length === 0 || names.includes("all")) return ["all-linear"];
  return names;
}

function resolvePrecision(c: ResolvableConfig, device: "cuda" | "cpu", warnings: Problem[]): RunSpec["precision"] {
  if (device === "cpu") {
    if (c.bf16 || c.fp16) {
      warnings.push({ where: c.bf16 ? "bf16" : "fp16", message: "is ignored on the CPU; the run computes in float32." });
    }
    return { compute_dtype: "float32", master_dtype: "float32", frozen_dtype: "float32", save_dtype: "float32", loss_scaling: false };
  }
  const compute: Dtype = c.bf16 ? "bfloat16" : c.fp16 ? "float16" : "float32";
  if (compute === "float32") {
    warnings.push({ where: "bf16", message: "is off, so the GPU computes in float32 (slow, twice the activation memory). Set bf16: true unless the GPU lacks bfloat16." });
  }
  return {
    compute_dtype: compute,
    master_dtype: "float32",
    frozen_dtype: c.finetuning_type === "lora" && compute !== "float32" ? compute : "float32",
    save_dtype: compute === "float32" ? "float32" : compute,
    loss_scaling: compute === "float16",
  };
}

const FLASH_ATTN = { auto: "auto", disabled: "eager", sdpa: "sdpa", fa2: "varlen" } as const;

/** attn_implementation (or LLaMA-Factory's flash_attn); auto is varlen where its kernel runs (a GPU,
 * 16-bit compute), sdpa elsewhere. varlen also runs on the CPU, one document at a time. */
export function attention(
  c: Pick<ResolvableConfig, "attn_implementation" | "flash_attn">,
  device: "cuda" | "cpu",
  compute: Dtype,
): RunSpec["model"]["attn_implementation"] {
  const a = c.attn_implementation ?? FLASH_ATTN[c.flash_attn ?? "auto"];
  if (a !== "auto") return a;
  return device === "cuda" && compute !== "float32" ? "varlen" : "sdpa";
}
