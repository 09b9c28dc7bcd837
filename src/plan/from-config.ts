// Turns a loaded config (LLaMA-Factory key names) and the model's config.json into planner input.
// Pure, and read structurally so it follows the config schema without depending on its types.
import { WhetError } from "../errors.ts";
import type { AttentionImpl, Checkpointing, LossImpl } from "./activations.ts";
import type { Method, PlanInput } from "./planner.ts";
import { shapeFromConfig } from "./shape.ts";
import { STAGES, type Offload, type Stage } from "./states.ts";

export interface FromConfig {
  input: PlanInput;
  /** What was assumed, in words, for the user. */
  notes: string[];
}

type Cfg = Record<string, unknown>;

const str = (c: Cfg, k: string): string | undefined => (typeof c[k] === "string" ? (c[k] as string) : undefined);
const num = (c: Cfg, k: string, fallback: number): number => (typeof c[k] === "number" ? (c[k] as number) : fallback);

function method(c: Cfg): Method {
  const kind = str(c, "finetuning_type") ?? "lora";
  const rank = num(c, "lora_rank", 8);
  const targets = (str(c, "lora_target") ?? "all").split(",").map((t) => t.trim()).filter(Boolean);
  if (kind === "full") return { kind: "full" };
  if (kind === "freeze") return { kind: "freeze", trainableLayers: Math.abs(num(c, "freeze_trainable_layers", 2)) };
  if (kind === "lora") {
    const bits = c.quantization_bit;
    if (bits === 4 || bits === 8) return { kind: "qlora", rank, targets, bits };
    return { kind: "lora", rank, targets };
  }
  throw new WhetError("CONFIG_INVALID", [{ where: "finetuning_type", message: `is "${kind}"; the planner knows full, freeze and lora.` }]);
}

function checkpointing(c: Cfg): Checkpointing {
  const v = c.gradient_checkpointing;
  if (v === true || v === "full") return { mode: "full" };
  if (v === false || v === "none") return { mode: "none" };
  if (typeof v === "string" && /^selective(\/\d+)?$/.test(v)) return { mode: "selective", every: Number(v.split("/")[1] ?? 2) };
  // LLaMA-Factory checkpoints unless told not to.
  return c.disable_gradient_checkpointing === true ? { mode: "none" } : { mode: "full" };
}

function attention(c: Cfg): AttentionImpl {
  const a = str(c, "attn_implementation");
  if (a === "eager" || a === "sdpa") return a;
  if (a === "flash_attention_2" || a === "varlen") return "flash";
  const fa = str(c, "flash_attn"); // LLaMA-Factory: auto | disabled | sdpa | fa2
  // Whetstone's auto is varlen (flash kernels, no padding) on GPUs, which is what the planner plans for.
  return fa === "disabled" ? "eager" : fa === "sdpa" ? "sdpa" : "flash";
}

/** Whetstone's worker fuses the head and the loss chunk by chunk (Llama-family heads are plain
 *  linears); "plain" (HF's fp32 logits) and "chunked" (the loss in chunks over whole logits) are
 *  for comparison. */
function loss(c: Cfg): LossImpl {
  return c.loss_impl === "plain" ? "plain" : c.loss_impl === "chunked" ? "chunked" : "fused";
}

/** sharding: none|ddp|zero1|zero2|zero3 and offload, or a LLaMA-Factory deepspeed file name (ds_z3_offload_config.json). */
function sharding(c: Cfg): { stage: Stage; offload: Offload } {
  const s = str(c, "sharding");
  const o = str(c, "offload");
  const ds = str(c, "deepspeed");
  let stage: Stage = "none";
  let offload: Offload = o === "optimizer" || o === "params+optimizer" ? o : "none";
  if (s === "ddp" || (s && (STAGES as string[]).includes(s))) stage = s === "ddp" ? "none" : (s as Stage);
  else if (ds) {
    const m = /z(\d)/.exec(ds);
    stage = m ? ((["none", "zero1", "zero2", "zero3"] as Stage[])[Number(m[1])] ?? "none") : "none";
    if (/offload/.test(ds)) offload = stage === "zero3" ? "params+optimizer" : "optimizer";
  }
  return { stage, offload };
}

export function planInputFromConfig(config: Cfg, modelConfig: Cfg, world: number, where = "config.json"): FromConfig {
  const notes: string[] = [];
  const shape = shapeFromConfig(modelConfig, where);
  const seqLen = num(config, "cutoff_len", 2048);
  const packing = typeof config.packing === "boolean" ? config.packing : config.stage === "pt";
  if (!packing) notes.push(`rows are padded, not packed: planned at cutoff_len ${seqLen} tokens per row (the worst case)`);
  const half = config.bf16 === true || config.fp16 === true;
  if (!half) notes.push("bf16 and fp16 are off: planned with float32 compute (twice the activations)");
  const { stage, offload } = sharding(config);
  const input: PlanInput = {
    shape,
    method: method(config),
    computeBytes: half ? 2 : 4,
    stage,
    offload,
    world,
    microBatch: num(config, "per_device_train_batch_size", 1),
    seqLen,
    gradientAccumulation: num(config, "gradient_accumulation_steps", 1),
    checkpointing: checkpointing(config),
    attention: attention(config),
    loss: loss(config),
  };
  return { input, notes };
}
