// Recognises LLaMA-Factory (and neighbouring) YAML/JSON files that are not training configs, so
// `whet train` and `whet import` can say what the file is and what to use, instead of listing its
// keys as unknown. Pure: works on the parsed mapping.

export type ConfigKind = "train" | "export" | "inference" | "accelerate" | "deepspeed" | "preprocess";

export interface Recognised {
  kind: ConfigKind;
  /** The key that gave the kind away (for file:line in messages). */
  key?: string;
  /** What the file is and what to do instead; empty for "train". */
  message: string;
}

const has = (raw: Record<string, unknown>, key: string) => raw[key] !== undefined && raw[key] !== null;

export function recogniseConfig(raw: Record<string, unknown>): Recognised {
  const trains = has(raw, "dataset") || has(raw, "stage") || has(raw, "do_train");
  if (has(raw, "zero_optimization") || (has(raw, "train_micro_batch_size_per_gpu") && !has(raw, "model_name_or_path"))) {
    const key = has(raw, "zero_optimization") ? "zero_optimization" : "train_micro_batch_size_per_gpu";
    return {
      kind: "deepspeed",
      key,
      message:
        "this is a DeepSpeed JSON config, not a training config. Name it from the training config with deepspeed: <this file> (whet maps its ZeRO stage to sharding and its offload to offload), or write sharding: zero3 and offload: none there directly.",
    };
  }
  if (has(raw, "compute_environment") || has(raw, "distributed_type")) {
    const key = has(raw, "compute_environment") ? "compute_environment" : "distributed_type";
    return {
      kind: "accelerate",
      key,
      message:
        "this is an Accelerate launcher config (accelerate launch --config_file), not a training config. whet launches its processes itself with torchrun: in the training config, FULL_SHARD is sharding: zero3, SHARD_GRAD_OP is sharding: zero2, fsdp_offload_params: true is offload: params+optimizer, num_processes is nproc (or --nproc), num_machines is --nnodes.",
    };
  }
  if (!trains && has(raw, "export_dir")) {
    return {
      kind: "export",
      key: "export_dir",
      message:
        "this is a LLaMA-Factory merge/export config (llamafactory-cli export), not a training config. whet export (merging a LoRA adapter into its base model and writing safetensors) is not available yet; a whet run already exports runs/<id>/export with LoRA merged (export_merge_lora: true). Use llamafactory-cli export for this file.",
    };
  }
  if (!trains && (has(raw, "infer_backend") || has(raw, "adapter_name_or_path"))) {
    const key = has(raw, "infer_backend") ? "infer_backend" : "adapter_name_or_path";
    return {
      kind: "inference",
      key,
      message:
        "this is a LLaMA-Factory inference config (llamafactory-cli chat/webchat/api), not a training config. whet chat is not available yet; load a whet export (runs/<id>/export) with transformers or vLLM, or use llamafactory-cli chat for this file.",
    };
  }
  if (has(raw, "tokenized_path")) {
    return {
      kind: "preprocess",
      key: "tokenized_path",
      message:
        "LLaMA-Factory tokenizes into tokenized_path and stops; whet caches token shards by a hash of every input instead. Run whet train <file> --dry-run to tokenize only; a later run with the same data, template and tokenizer reuses the shards.",
    };
  }
  return { kind: "train", message: "" };
}
