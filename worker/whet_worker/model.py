"""Builds the model the spec asks for: full fine-tuning or LoRA, in the spec's dtypes."""

import glob
import os

import torch

from .attention import model_attn_implementation
from .errors import WorkerError, EXIT_SPEC

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")


def has_weights(path: str) -> bool:
    return any(glob.glob(os.path.join(path, p)) for p in WEIGHT_PATTERNS)


def build_model(spec, device: torch.device, trainable_dtype: torch.dtype, empty: bool = False):
    """The model the spec asks for, trainable weights in trainable_dtype, a LoRA base in frozen_dtype.

    Random weights are drawn on `device` (fast, and every rank draws the same ones from the seed);
    pretrained weights load into host memory and move when the model is wrapped. empty: uninitialized
    host memory, to be filled from a state dict (export).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    m = spec.model
    if not os.path.isfile(os.path.join(m.path, "config.json")):
        raise WorkerError("MODEL_INVALID", f"{m.path} has no config.json", EXIT_SPEC, phase="setup")
    lora = spec.method.finetuning_type == "lora"
    load_dtype = DTYPES[spec.precision.frozen_dtype] if lora else trainable_dtype
    config = AutoConfig.from_pretrained(m.path)
    config.use_cache = False
    attn = model_attn_implementation(m.attn_implementation)
    if empty or m.random_init:
        torch.manual_seed(spec.train.seed)
        with torch.device("meta" if empty else device):
            model = AutoModelForCausalLM.from_config(config, dtype=load_dtype, attn_implementation=attn)
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
            m.path, config=config, dtype=load_dtype, attn_implementation=attn
        )
    if lora:
        model = _add_lora(model, spec, trainable_dtype)
    if empty:
        model.to_empty(device="cpu")
    return model


def _add_lora(model, spec, trainable_dtype: torch.dtype):
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
    # Adapter weights are trained in trainable_dtype (the fp32 master unless an offloaded optimizer
    # holds the master), whatever the frozen base is.
    for p in model.parameters():
        if p.requires_grad and p.dtype != trainable_dtype:
            p.data = p.data.to(trainable_dtype)
    return model


def param_counts(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
