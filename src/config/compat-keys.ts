// LLaMA-Factory and HF Trainer keys that are not whetstone's own, as data, in three lists:
//   IGNORED      accepted silently: they change nothing about the trained weights here;
//   UNSUPPORTED  accepted with a warning: a feature whetstone lacks, but the run is still what was asked;
//   REFUSED      an error: ignoring them would train something other than what the config says.
// `off` lists values that mean the feature is off; such a value is accepted silently in any list.
// A null value is always dropped before these lists are consulted.

export interface CompatKey {
  /** IGNORED: why it is safe. UNSUPPORTED: what happens instead. REFUSED: what is wrong and what to use. */
  text: string;
  off?: unknown[];
}

export const IGNORED: Record<string, CompatKey> = {
  trust_remote_code: { text: "models load with transformers' own code" },
  report_to: { text: "metrics go to runs/<id>/events.jsonl and the dashboard" },
  plot_loss: { text: "the dashboard plots the loss" },
  logging_dir: { text: "logs go to runs/<id>/logs" },
  run_name: { text: "runs are named by their folder" },
  overwrite_cache: { text: "the token cache is keyed by a hash of every input" },
  preprocessing_num_workers: { text: "tokenization runs in the CLI" },
  dataloader_num_workers: { text: "rows are memory-mapped, no loader workers are needed" },
  dataloader_pin_memory: { text: "rows are memory-mapped" },
  ddp_timeout: { text: "the supervisor watches for hangs" },
  save_only_model: { text: "checkpoints always hold what an exact resume needs" },
  use_fast_tokenizer: { text: "tokenizer.json is always used" },
  cache_dir: { text: "models come from the Hugging Face cache" },
  neat_packing: { text: "packed samples never attend to each other" },
  gradient_checkpointing_kwargs: { text: "checkpointing is per block" },
  pref_beta: { text: "only used by preference stages" },
  pref_loss: { text: "only used by preference stages" },
  pref_ftx: { text: "only used by preference stages" },
  logging_first_step: { text: "the first step is always reported" },
};

export const UNSUPPORTED: Record<string, CompatKey> = {
  deepspeed: { text: "the run uses DDP", off: ["none"] },
  fsdp: { text: "the run uses DDP", off: ["", false] },
  fsdp_config: { text: "the run uses DDP" },
  val_size: { text: "all data is used for training, none is held out", off: [0] },
  eval_dataset: { text: "no evaluation runs" },
  do_eval: { text: "no evaluation runs", off: [false] },
  eval_strategy: { text: "no evaluation runs", off: ["no"] },
  evaluation_strategy: { text: "no evaluation runs", off: ["no"] },
  eval_steps: { text: "no evaluation runs" },
  per_device_eval_batch_size: { text: "no evaluation runs" },
  compute_accuracy: { text: "no evaluation runs", off: [false] },
  load_best_model_at_end: { text: "the last step is exported", off: [false] },
  flash_attn: { text: "the run uses attn_implementation (sdpa by default)", off: ["auto", "sdpa"] },
  enable_liger_kernel: { text: "the run uses its own fused loss", off: [false] },
  use_unsloth: { text: "the run uses its own kernels", off: [false] },
  torch_compile: { text: "the run is not compiled", off: [false] },
  tokenized_path: { text: "tokenized data is cached by whetstone itself" },
  push_to_hub: { text: "the export stays in runs/<id>/export", off: [false] },
  hub_model_id: { text: "the export stays in runs/<id>/export" },
  save_strategy: { text: "checkpoints follow save_steps", off: ["steps"] },
  ddp_find_unused_parameters: { text: "DDP settings are chosen by whetstone" },
};

export const REFUSED: Record<string, CompatKey> = {
  quantization_bit: { text: "QLoRA (a quantized base) is not supported. Remove it to train LoRA on the unquantized model" },
  quantization_method: { text: "quantized training is not supported. Remove it" },
  double_quantization: { text: "quantized training is not supported. Remove it", off: [false] },
  use_dora: { text: "DoRA is not supported. Remove it to train plain LoRA", off: [false] },
  use_rslora: { text: "rank-stabilized LoRA is not supported. Remove it, or set lora_alpha to get the scale you want", off: [false] },
  pissa_init: { text: "PiSSA initialization is not supported. Remove it to train plain LoRA", off: [false] },
  loraplus_lr_ratio: { text: "LoRA+ is not supported. Remove it to train plain LoRA" },
  additional_target: { text: "extra fully trained modules are not supported. Use finetuning_type: full, or remove it" },
  adapter_name_or_path: { text: "continuing a LoRA adapter is not supported. Merge the adapter into the model first and point model_name_or_path at the result" },
  create_new_adapter: { text: "continuing a LoRA adapter is not supported. Remove it", off: [false] },
  freeze_trainable_layers: { text: "freeze tuning is not supported. Use finetuning_type: lora or full" },
  freeze_trainable_modules: { text: "freeze tuning is not supported. Use finetuning_type: lora or full" },
  train_from_scratch: { text: "is spelled random_init here. Use random_init: true", off: [false] },
  neftune_noise_alpha: { text: "NEFTune noise is not supported. Remove it", off: [0] },
  use_galore: { text: "GaLore is not supported. Remove it to train with AdamW", off: [false] },
  use_apollo: { text: "APOLLO is not supported. Remove it to train with AdamW", off: [false] },
  use_badam: { text: "BAdam is not supported. Remove it to train with AdamW", off: [false] },
  use_llama_pro: { text: "LLaMA Pro is not supported. Remove it", off: [false] },
  optim: { text: "only AdamW is supported. Use optim: adamw_torch or remove it", off: ["adamw_torch", "adamw_torch_fused"] },
  label_smoothing_factor: { text: "label smoothing is not supported. Remove it", off: [0] },
  mix_strategy: { text: "only concatenating datasets is supported. Use mix_strategy: concat or remove it", off: ["concat"] },
  interleave_probs: { text: "interleaving datasets is not supported. Remove it" },
  rope_scaling: { text: "RoPE scaling is not supported. Remove it, or change config.json of the model" },
  shift_attn: { text: "shift short attention is not supported. Remove it", off: [false] },
  resume_from_checkpoint: { text: "resuming is not set in the config. Use 'whet train --resume RUN_DIR' or auto_resume: true" },
  do_predict: { text: "prediction is not supported; whetstone only trains. Remove it", off: [false] },
};

/** Values of whetstone's own keys that LLaMA-Factory accepts and whetstone refuses, with what to use. */
/** Values of whetstone's own keys that LLaMA-Factory accepts and whetstone refuses: why, and what to use. */
export const REFUSED_VALUES: Record<string, Record<string, string>> = {
  stage: {
    rm: "whetstone trains pt and sft only. Use stage: sft, or LLaMA-Factory for reward models",
    ppo: "whetstone trains pt and sft only. Use stage: sft, or LLaMA-Factory for PPO",
    dpo: "whetstone trains pt and sft only. Use stage: sft with supervised data, or LLaMA-Factory for DPO",
    kto: "whetstone trains pt and sft only. Use stage: sft with supervised data, or LLaMA-Factory for KTO",
  },
  finetuning_type: {
    freeze: "freeze tuning is not implemented. Use finetuning_type: lora or full",
  },
};

export function isOff(entry: CompatKey, value: unknown): boolean {
  return (entry.off ?? []).some((v) => v === value);
}
