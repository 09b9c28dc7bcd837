// The model's shape, read from a Hugging Face config.json, and the parameter counts it implies.
// Llama-family decoders only (Llama, Qwen2, Mistral, SmolLM): the planner's formulas assume
// RMSNorm, rotary attention with grouped KV heads and a SwiGLU MLP.
import { WhetError } from "../errors.ts";

export interface ModelShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tiedEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2). */
  qkvBias: boolean;
}

export interface Linear {
  name: string;
  in: number;
  out: number;
}

export const LINEAR_NAMES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

/** Builds a shape from the fields every Llama-family config.json has. */
export function shapeFromConfig(cfg: Record<string, unknown>, where = "config.json"): ModelShape {
  const int = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new WhetError("MODEL_INVALID", [{ where: `${where} ${key}`, message: `is ${JSON.stringify(v)}; the planner needs a positive integer. Use a Llama-family config.json.` }]);
    }
    return v;
  };
  const hidden = int("hidden_size");
  const heads = int("num_attention_heads");
  return {
    hidden,
    layers: int("num_hidden_layers"),
    heads,
    kvHeads: int("num_key_value_heads", heads),
    headDim: int("head_dim", Math.floor(hidden / heads)),
    intermediate: int("intermediate_size"),
    vocab: int("vocab_size"),
    // LlamaConfig's default is untied; SmolLM and small Qwen models say true explicitly.
    tiedEmbeddings: cfg.tie_word_embeddings === true,
    qkvBias: cfg.attention_bias === true || cfg.model_type === "qwen2",
  };
}

/** The linear layers of one block, as HF names them. */
export function blockLinears(s: ModelShape): Linear[] {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  return [
    { name: "q_proj", in: s.hidden, out: q },
    { name: "k_proj", in: s.hidden, out: kv },
    { name: "v_proj", in: s.hidden, out: kv },
    { name: "o_proj", in: q, out: s.hidden },
    { name: "gate_proj", in: s.hidden, out: s.intermediate },
    { name: "up_proj", in: s.hidden, out: s.intermediate },
    { name: "down_proj", in: s.intermediate, out: s.hidden },
  ];
}

export interface ParamCounts {
  embedding: number;
  /** 0 when tied to the embedding. */
  head: number;
  perBlock: number;
  /** Of perBlock: the weights of linear layers (what 4-bit quantisation shrinks). */
  perBlockLinear: number;
  blocks: number;
  finalNorm: number;
  total: number;
}

export function countParams(s: ModelShape): ParamCounts {
  const linear = blockLinears(s).reduce((n, l) => n + l.in * l.out, 0);
  const bias = s.qkvBias ? (s.heads + 2 * s.kvHeads) * s.headDim : 0;
  const perBlock = linear + bias + 2 * s.hidden; // + two RMSNorm weights
  const embedding = s.vocab * s.hidden;
  const head = s.tiedEmbeddings ? 0 : s.vocab * s.hidden;
  const blocks = perBlock * s.layers;
  return { embedding, head, perBlock, perBlockLinear: linear, blocks, finalNorm: s.hidden, total: embedding + head + blocks + s.hidden };
}

/** Which linear names a lora_target value selects; "all"/"all-linear" is every block linear. */
export function loraTargetNames(targets: string[]): string[] {
  if (targets.length === 0 || targets.some((t) => t === "all" || t === "all-linear")) return [...LINEAR_NAMES];
  const unknown = targets.filter((t) => !(LINEAR_NAMES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new WhetError("CONFIG_INVALID", [{ where: "lora_target", message: `names unknown module(s) ${unknown.join(", ")}. Use all, or some of ${LINEAR_NAMES.join(", ")}.` }]);
  }
  return targets;
}

/** Trainable LoRA parameters: rank · (in + out) for each targeted linear of each block. */
export function loraParams(s: ModelShape, rank: number, targets: string[]): number {
  const names = new Set(loraTargetNames(targets));
  const perBlock = blockLinears(s)
    .filter((l) => names.has(l.name))
    .reduce((n, l) => n + rank * (l.in + l.out), 0);
  return perBlock * s.layers;
}

/** Shapes the docs and tests use (config.json figures). */
export const KNOWN_SHAPES: Record<string, ModelShape> = {
  "SmolLM2-135M": { hidden: 576, layers: 30, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocab: 49152, tiedEmbeddings: true, qkvBias: false },
  "Llama-3-8B": { hidden: 4096, layers: 32, heads: 32, kvHeads: 8, headDim: 128, intermediate: 14336, vocab: 128256, tiedEmbeddings: false, qkvBias: false },
  "Qwen2.5-14B": { hidden: 5120, layers: 48, heads: 40, kvHeads: 8, headDim: 128, intermediate: 13824, vocab: 152064, tiedEmbeddings: false, qkvBias: true },
  "Qwen2.5-32B": { hidden: 5120, layers: 64, heads: 40, kvHeads: 8, headDim: 128, intermediate: 27648, vocab: 152064, tiedEmbeddings: false, qkvBias: true },
  "Llama-3-70B": { hidden: 8192, layers: 80, heads: 64, kvHeads: 8, headDim: 128, intermediate: 28672, vocab: 128256, tiedEmbeddings: false, qkvBias: false },
};
