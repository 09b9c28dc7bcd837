"""AdamW with the usual decay exemptions, and the learning-rate schedule as a pure function."""

import math

import torch


def build_optimizer(model, t, device: torch.device) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Biases and norm scales are vectors: decaying them only hurts.
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    kwargs = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(
        groups, lr=t.learning_rate, betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_epsilon, **kwargs
    )


def lr_at(t, step: int) -> float:
    """Learning rate of optimizer step `step` (1-based)."""
    kind, base, warm, total = t.lr_scheduler_type, t.learning_rate, t.warmup_steps, t.max_steps
    if kind == "constant":
        return base
    if warm > 0 and step <= warm:
        return base * step / warm
    if kind == "constant_with_warmup":
        return base
    progress = min(1.0, (step - warm) / max(1, total - warm))
    floor = t.min_lr_ratio
    if kind == "cosine":
        factor = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    else:  # linear
        factor = floor + (1 - floor) * (1 - progress)
    return base * factor


class Schedule:
    """Sets each step's learning rate; its only state is the last step taken."""

    def __init__(self, optimizer, train_spec):
        self.optimizer = optimizer
        self.t = train_spec
        self.last_step = 0

    def apply(self, step: int) -> float:
        lr = lr_at(self.t, step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.last_step = step
        return lr

    def state_dict(self) -> dict:
        return {"type": self.t.lr_scheduler_type, "last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = int(state["last_step"])
