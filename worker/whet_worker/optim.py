"""AdamW with the usual decay exemptions, laid out per strategy (parallel.py's table), the helpers
checkpoints use to reach its states, and the learning-rate schedule as a pure function."""

import math

import torch
from torch.distributed.optim import ZeroRedundancyOptimizer

from .offload import HostAdamW
from .parallel import uses_fsdp


def param_groups(model, t) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Biases and norm scales are vectors: decaying them only hurts.
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [g for g in ({"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]


def _hyper(t) -> dict:
    return {"lr": t.learning_rate, "betas": (t.adam_beta1, t.adam_beta2), "eps": t.adam_epsilon}


def build_optimizer(model, t) -> torch.optim.AdamW:
    """torch AdamW over the model's trainable parameters."""
    # fused: one kernel pass over each tensor, on CUDA and on the CPU alike.
    return torch.optim.AdamW(param_groups(model, t), **_hyper(t), fused=True)


def build_for_strategy(model, spec):
    """The optimizer of parallel.py's table, over the wrapped (possibly sharded) model's parameters."""
    # params+optimizer needs nothing here: FSDP2 keeps those shards on the host and AdamW steps them there.
    cls, hyper = HostAdamW, _hyper(spec.train)
    if spec.distributed.offload != "optimizer":
        # GradScaler hands its scale to fused kernels, which fail on DTensor shards; foreach works.
        fused = not (spec.precision.loss_scaling and uses_fsdp(spec))
        cls = torch.optim.AdamW
        hyper.update(fused=fused, foreach=not fused)
    groups = param_groups(model, spec.train)
    if spec.distributed.strategy == "zero1":
        return ZeroRedundancyOptimizer(groups, optimizer_class=cls, **hyper)
    return cls(groups, **hyper)


def local_optimizer(optimizer):
    """The optimizer that holds this rank's states (ZeroRedundancyOptimizer's partition)."""
    return optimizer.optim if isinstance(optimizer, ZeroRedundancyOptimizer) else optimizer


def host_optimizer(optimizer):
    opt = local_optimizer(optimizer)
    return opt if isinstance(opt, HostAdamW) else None


def param_states(optimizer) -> dict:
    """Parameter -> its AdamW state tensors, for the parameters whose states this rank holds."""
    host = host_optimizer(optimizer)
    if host is not None:
        return host.param_states()
    opt = local_optimizer(optimizer)
    return {p: opt.state[p] for g in opt.param_groups for p in g["params"] if opt.state.get(p)}


@torch.no_grad()
def init_states(optimizer) -> None:
    """Allocates every state a step creates, changing no weight: a step with zero gradients at lr 0.

    Collective under ZeroRedundancyOptimizer (its step broadcasts). Checkpoints then load in place.
    """
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for p in params:
        p.grad = torch.zeros_like(p)
    lrs = [g["lr"] for g in optimizer.param_groups]
    for g in optimizer.param_groups:
        g["lr"] = 0.0
    optimizer.step()
    for g, lr in zip(optimizer.param_groups, lrs):
        g["lr"] = lr
    optimizer.zero_grad(set_to_none=True)


def lr_at(t, step: int) -> float:
    """Learning rate of optimizer step `step` (1-based).

    Hugging Face Trainer (and so LLaMA-Factory) runs optimizer step s at its schedule's
    lambda(s - 1): warmup starts at 0 and the last step stays just above the floor. The same
    convention here keeps per-step losses equal to Trainer's (worker/tests/test_parity.py).
    """
    kind, base, warm, total = t.lr_scheduler_type, t.learning_rate, t.warmup_steps, t.max_steps
    s = step - 1
    if kind == "constant":
        return base
    if warm > 0 and s < warm:
        return base * s / warm
    if kind == "constant_with_warmup":
        return base
    progress = min(1.0, (s - warm) / max(1, total - warm))
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
