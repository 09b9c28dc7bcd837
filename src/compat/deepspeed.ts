// Maps a DeepSpeed JSON config (as LLaMA-Factory users pass with `deepspeed: ds_z3_config.json`)
// onto Whetstone's sharding choices: ZeRO stage -> ddp/zero1/zero2/zero3 through FSDP2, offload
// -> CPU offload, "auto" values filled from the run config. What cannot be honoured is named.
// Pure: the caller reads the file.
import { WhetError, type Problem } from "../errors.ts";

export type Strategy = "ddp" | "zero1" | "zero2" | "zero3";
export type Offload = "none" | "optimizer" | "params+optimizer";

export interface RunBatch {
  microBatch: number;
  accumulation: number;
  worldSize: number;
  maxGradNorm: number;
  bf16: boolean;
  fp16: boolean;
}

export interface DeepSpeedMapping {
  strategy: Strategy;
  offload: Offload;
  bf16: boolean;
  fp16: boolean;
  /** The DeepSpeed config with every "auto" filled, for the DeepSpeed backend. */
  filled: Record<string, unknown>;
  warnings: Problem[];
  /** Keys FSDP2 tunes itself (bucket sizes, prefetch, persistence): accepted without effect. */
  tunedByFsdp: string[];
}

const STAGES: Record<number, Strategy> = { 0: "ddp", 1: "zero1", 2: "zero2", 3: "zero3" };

/** zero_optimization keys whose job FSDP2 does on its own; accepted quietly. */
const FSDP_TUNED = new Set([
  "allgather_partitions", "allgather_bucket_size", "overlap_comm", "reduce_scatter", "reduce_bucket_size",
  "contiguous_gradients", "round_robin_gradients", "sub_group_size", "stage3_prefetch_bucket_size",
  "stage3_param_persistence_threshold", "stage3_max_live_parameters", "stage3_max_reuse_distance",
  "stage3_gather_16bit_weights_on_model_save", "offload_optimizer", "offload_param", "stage",
]);

/** Top-level keys that are accepted quietly: handled below, or without effect on the result. */
const QUIET = new Set([
  "train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping",
  "fp16", "bf16", "zero_optimization", "zero_allow_untested_optimizer", "zero_force_ds_cpu_optimizer",
  "steps_per_print", "wall_clock_breakdown", "_comment",
]);

/** Top-level keys Whetstone does not honour, with what happens instead. */
const NOT_HONOURED: Record<string, string> = {
  tensor_parallel: "tensor parallelism is not supported; the run is data parallel with the same ZeRO stage",
  optimizer: "the optimizer comes from the run config (AdamW with learning_rate, weight_decay, adam_*)",
  scheduler: "the schedule comes from the run config (lr_scheduler_type, warmup_ratio)",
  comms_config: "communication logging is not available",
  monitor_config: "DeepSpeed's monitor is not used; events.jsonl and the dashboard carry the metrics",
  flops_profiler: "the FLOPs profiler is not available; step events carry tokens/s",
  activation_checkpointing: "use gradient_checkpointing in the run config",
  aio: "NVMe offload is not supported",
  compression_training: "compression training is not supported",
  data_efficiency: "curriculum and data efficiency are not supported",
};

function isAuto(v: unknown): boolean {
  return v === "auto";
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export function mapDeepSpeedConfig(raw: unknown, file: string, run: RunBatch): DeepSpeedMapping {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new WhetError("CONFIG_INVALID", [{ where: file, message: "is not a DeepSpeed config (expected a JSON object). Check the deepspeed: path." }]);
  }
  const ds = raw as Record<string, unknown>;
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const at = (key: string) => `${file} ${key}`;

  const zero = (ds.zero_optimization ?? {}) as Record<string, unknown>;
  const stageValue = zero.stage ?? 0;
  const strategy = STAGES[Number(stageValue)];
  if (!strategy) errors.push({ where: at("zero_optimization.stage"), message: `must be 0, 1, 2 or 3, got ${JSON.stringify(stageValue)}.` });

  const offloadDevice = (k: string) => ((zero[k] ?? {}) as Record<string, unknown>).device;
  const optDev = offloadDevice("offload_optimizer");
  const paramDev = offloadDevice("offload_param");
  for (const [k, dev] of [["offload_optimizer", optDev], ["offload_param", paramDev]] as const) {
    if (dev === "nvme") warnings.push({ where: at(`zero_optimization.${k}.device`), message: "nvme offload is not supported; offloading to CPU memory instead." });
  }
  const offOpt = optDev === "cpu" || optDev === "nvme";
  const offParam = paramDev === "cpu" || paramDev === "nvme";
  if (offParam && strategy !== "zero3") {
    warnings.push({ where: at("zero_optimization.offload_param"), message: "needs ZeRO-3; parameters stay on the GPU at this stage." });
  }
  const offload: Offload = offParam && strategy === "zero3" ? "params+optimizer" : offOpt || offParam ? "optimizer" : "none";
  if (offParam && !offOpt && strategy === "zero3") {
    warnings.push({ where: at("zero_optimization.offload_param"), message: "without offload_optimizer: the optimizer states are offloaded too (FSDP2 offloads both together)." });
  }

  const tunedByFsdp = Object.keys(zero).filter((k) => FSDP_TUNED.has(k) && k !== "stage" && !k.startsWith("offload_"));
  for (const k of Object.keys(zero)) {
    if (!FSDP_TUNED.has(k)) warnings.push({ where: at(`zero_optimization.${k}`), message: "is not honoured by the FSDP2 engine. Remove it to silence this." });
  }
  for (const k of Object.keys(ds)) {
    if (QUIET.has(k)) continue;
    const why = NOT_HONOURED[k];
    warnings.push({ where: at(k), message: why ? `is not honoured: ${why}.` : "is not a DeepSpeed key Whetstone knows; it is ignored." });
  }

  // Precision: "auto" follows the run config; an explicit value must agree with it.
  const precision = (key: "bf16" | "fp16"): boolean => {
    const section = (ds[key] ?? {}) as Record<string, unknown>;
    const enabled = section.enabled;
    if (enabled === undefined || isAuto(enabled)) return run[key];
    if (typeof enabled !== "boolean") {
      errors.push({ where: at(`${key}.enabled`), message: `must be true, false or "auto", got ${JSON.stringify(enabled)}.` });
      return run[key];
    }
    if (enabled !== run[key]) {
      warnings.push({ where: at(`${key}.enabled`), message: `is ${enabled} but the run config says ${key}: ${run[key]}; using the DeepSpeed value.` });
    }
    return enabled;
  };
  const bf16 = precision("bf16");
  const fp16 = precision("fp16");
  if (bf16 && fp16) errors.push({ where: at("fp16.enabled"), message: "and bf16.enabled are both on. Enable one of them." });

  // Batch sizes: "auto" is filled; an explicit value must match, as the HF integration insists.
  const globalBatch = run.microBatch * run.accumulation * run.worldSize;
  const expect = (key: string, want: number, from: string) => {
    const v = ds[key];
    if (v === undefined || isAuto(v)) return;
    if (num(v) !== want) errors.push({ where: at(key), message: `is ${JSON.stringify(v)} but the run gives ${want} (${from}). Set it to "auto" or to ${want}.` });
  };
  expect("train_micro_batch_size_per_gpu", run.microBatch, "per_device_train_batch_size");
  expect("gradient_accumulation_steps", run.accumulation, "gradient_accumulation_steps");
  expect("train_batch_size", globalBatch, "micro-batch × accumulation × GPUs");
  const clip = ds.gradient_clipping;
  if (clip !== undefined && !isAuto(clip) && num(clip) !== run.maxGradNorm) {
    warnings.push({ where: at("gradient_clipping"), message: `is ${JSON.stringify(clip)} but max_grad_norm is ${run.maxGradNorm}; using max_grad_norm.` });
  }
  if (errors.length) throw new WhetError("CONFIG_INVALID", errors);

  const filled = fillAuto(ds, {
    train_batch_size: globalBatch,
    train_micro_batch_size_per_gpu: run.microBatch,
    gradient_accumulation_steps: run.accumulation,
    gradient_clipping: run.maxGradNorm,
  });
  (filled.bf16 as Record<string, unknown> | undefined) && ((filled.bf16 as Record<string, unknown>).enabled = bf16);
  (filled.fp16 as Record<string, unknown> | undefined) && ((filled.fp16 as Record<string, unknown>).enabled = fp16);
  return { strategy: strategy ?? "ddp", offload, bf16, fp16, filled, warnings, tunedByFsdp };
}

/** Replaces top-level "auto" values, and drops the bucket-size autos DeepSpeed sizes from the model. */
function fillAuto(ds: Record<string, unknown>, values: Record<string, number>): Record<string, unknown> {
  const out = structuredClone(ds);
  for (const [k, v] of Object.entries(values)) if (isAuto(out[k])) out[k] = v;
  const zero = out.zero_optimization as Record<string, unknown> | undefined;
  if (zero) for (const k of Object.keys(zero)) if (isAuto(zero[k])) delete zero[k];
  return out;
}

const STAGE_OF: Record<Strategy, number> = { ddp: 0, zero1: 1, zero2: 2, zero3: 3 };

/**
 * The config the DeepSpeed engine runs with: the user's JSON (autos already filled) or one built
 * from sharding and offload, with the batch, clipping and precision this run resolved to, so the
 * engine and the run can never disagree.
 */
export function deepSpeedConfigFor(
  json: Record<string, unknown> | undefined,
  run: { strategy: Strategy; offload: Offload; microBatch: number; accumulation: number; globalRows: number; maxGradNorm: number; precision: { compute_dtype: string } },
): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(json ?? {});
  const zero = { ...((out.zero_optimization as Record<string, unknown> | undefined) ?? {}) };
  zero.stage = STAGE_OF[run.strategy];
  if (!json) {
    if (run.offload !== "none") zero.offload_optimizer = { device: "cpu", pin_memory: true };
    if (run.offload === "params+optimizer") zero.offload_param = { device: "cpu", pin_memory: true };
  }
  out.zero_optimization = zero;
  out.train_batch_size = run.globalRows;
  out.train_micro_batch_size_per_gpu = run.microBatch;
  out.gradient_accumulation_steps = run.accumulation;
  out.gradient_clipping = run.maxGradNorm;
  out.bf16 = { ...((out.bf16 as Record<string, unknown> | undefined) ?? {}), enabled: run.precision.compute_dtype === "bfloat16" };
  out.fp16 = { ...((out.fp16 as Record<string, unknown> | undefined) ?? {}), enabled: run.precision.compute_dtype === "float16" };
  return out;
}
