"""Builds the model the spec asks for: full fine-tuning or LoRA, in the spec's dtypes."""

import glob
import os

import torch

from .errors import WorkerError, EXIT_SPEC

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")


def has_weights(path: str) -> bool:
    return any(glob.glob(os.path.join(path, p)) for p in WEIGHT_PATTERNS)


def build_model(spec, device: torch.device):
    from transformers import AutoConfig, AutoModelForCausalLM

    m = spec.model
    if not os.path.isfile(os.path.join(m.path, "config.json")):
        raise WorkerError("MODEL_INVALID", f"{m.path} has no config.json", EXIT_SPEC, phase="setup")
    lora = spec.method.finetuning_type == "lora"
    # LoRA keeps the frozen base in frozen_dtype; full fine-tuning trains master_dtype weights.
    load_dtype = DTYPES[spec.precision.frozen_dtype if lora else spec.precision.master_dtype]
    config = AutoConfig.from_pretrained(m.path)
    config.use_cache = False
    if m.random_init:
        torch.manual_seed(spec.train.seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation=m.attn_implementation)
        model = model.to(load_dtype)
    else:
        if not has_weights(m.path):
            raise WorkerError(
                "MODEL_INVALID",
                f"{m.path} holds config.json but no weights (*.safetensors or pytorch_model*.bin); "
                "download the weights, or set random_init to train from scratch",
                EXIT_SPEC,
                phase="setup",
            )
        model = AutoModelForCausalLM.from_pretrained(
            m.path, config=config, dtype=load_dtype, attn_implementation=m.attn_implementation
        )
    model.to(device)

    if spec.train.gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) and with DDP.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    if lora:
        model = _add_lora(model, spec)
    return model


def _add_lora(model, spec):
    from peft import LoraConfig, get_peft_model

    lo = spec.method.lora
    for p in model.parameters():
        p.requires_grad_(False)
    targets = "all-linear" if "all-linear" in lo.targets else list(lo.targets)
    cfg = LoraConfig(
        r=lo.rank,
        lora_alpha=lo.alpha,
        lora_dropout=lo.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, cfg)
    # Adapter weights are the master copy: always float32, whatever the frozen base is.
    master = DTYPES[spec.precision.master_dtype]
    for p in model.parameters():
        if p.requires_grad and p.dtype != master:
            p.data = p.data.to(master)
    return model


def param_counts(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def base_model(model):
    """The module to save and export: unwraps DDP, keeps PEFT's wrapper."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model
