"""The torch engine: forward, backward and optimizer step of any strategy, and its states.

train.py drives an engine through these methods; ds_engine.DeepSpeedEngine offers the same ones.
parallel.py says how each strategy wraps the model, optim.py which optimizer it gets.
"""

from contextlib import ExitStack

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from . import checkpoint, parallel
from .loss import chunked_ce_sum, fused_head
from .model import build_model, param_counts
from .offload import activation_offload, local
from .optim import build_for_strategy


def clip_grad_norm(params, max_norm: float, device: torch.device, sharded: bool) -> torch.Tensor:
    """torch's clip_grad_norm_ for replicated and sharded gradients alike; returns the total norm.

    Sharded (FSDP2): each rank holds a shard of every gradient, so squared norms are summed over
    ranks. Local tensors throughout, so host-resident shards (params+optimizer offload) need no
    collective on the CPU.
    """
    grads = [local(p.grad) for p in params if p.grad is not None]
    sq = torch.zeros((), dtype=torch.float32, device=device)
    for g in grads:
        sq += torch.linalg.vector_norm(g, dtype=torch.float32).square().to(device)
    if sharded and dist.is_initialized():
        dist.all_reduce(sq)
    norm = sq.sqrt()
    if max_norm > 0:
        coef = (max_norm / (norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.device))
    return norm


def _full_tensor(t: DTensor, device: torch.device) -> torch.Tensor:
    # Shards kept on the host (CPU offload, HostAdamW masters) are gathered through the device.
    on_device = DTensor.from_local(t.to_local().to(device), t.device_mesh, t.placements, run_check=False,
                                   shape=t.shape, stride=t.stride())
    return on_device.full_tensor()


def _grad_scaler(spec, d):
    if not (spec.precision.loss_scaling and d.device.type == "cuda"):
        return None
    if parallel.uses_fsdp(spec):
        from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

        # Each rank sees only its gradient shards; this scaler agrees on inf/NaN across ranks.
        return ShardedGradScaler("cuda")
    return torch.amp.GradScaler("cuda")


class TorchEngine:
    name = "torch"

    def __init__(self, spec, d):
        parallel.check(spec)
        self.spec, self.d = spec, d
        model = build_model(spec, d.device, parallel.trainable_dtype(spec))
        self.trainable_params, self.total_params = param_counts(model)
        self.wrapped = parallel.parallelize(model, spec, d)
        self.model = self.wrapped.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_for_strategy(self.model, spec)
        self.scaler = _grad_scaler(spec, d)
        self.head = fused_head(self.model)

    def describe(self) -> dict:
        """Fields of the hello event: what runs, as wrapped."""
        ac, dist_spec, w = self.spec.train.activation_checkpointing, self.spec.distributed, self.wrapped
        mp = parallel.mixed_precision(self.spec)
        return {
            "engine": self.name,
            "strategy": dist_spec.strategy,
            "offload": dist_spec.offload,
            "wrapping": {
                "module": w.kind,
                "optimizer": type(self.optimizer).__name__,
                "param_dtype": str(mp[0]).removeprefix("torch.") if mp else None,
                "reduce_dtype": str(mp[1]).removeprefix("torch.") if mp else None,
                "autocast": str(w.autocast).removeprefix("torch.") if w.autocast else None,
                "compiled_blocks": w.num_blocks if w.compile_failures else 0,
                "fused_loss": self.head is not None,
            },
            "activation_checkpointing": {
                "mode": ac.mode,
                "every": ac.every,
                "offload": ac.offload and self.d.device.type == "cuda",
                "checkpointed_blocks": len(w.checkpointed),
                "total_blocks": w.num_blocks,
            },
        }

    def train(self) -> None:
        self.wrapped.net.train()

    def eval(self) -> None:
        self.wrapped.net.eval()

    def micro_batch(self, last: bool):
        """Context for one micro-batch's forward, loss and backward."""
        stack = ExitStack()
        stack.enter_context(self.wrapped.accumulate(sync=last))
        stack.enter_context(activation_offload(self.spec.train.activation_checkpointing.offload, self.d.device))
        return stack

    def loss_sum(self, mb) -> torch.Tensor:
        """Forward of one micro-batch and its token losses summed (float32 scalar).

        With the fused head (loss.FusedHead) the head computes the loss chunk by chunk inside the
        model's forward, so no [tokens, vocab] logits exist whole.
        """
        with self.wrapped.autocast_context(self.d.device):
            if self.head is not None:
                self.head.labels = mb.labels
            try:
                # use_cache=False matters: with a cache transformers ignores the restarting position
                # ids and lets packed documents see each other.
                out = self.wrapped.net(input_ids=mb.input_ids, position_ids=mb.position_ids, use_cache=False,
                                       **mb.model_kwargs()).logits
            finally:
                if self.head is not None:
                    self.head.labels = None
        return out if self.head is not None else chunked_ce_sum(out, mb.labels)

    def compile_failures(self) -> list[str]:
        """Blocks that fell back to eager since the last call (compiling.py)."""
        f = self.wrapped.compile_failures
        return f.take() if f else []

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self) -> torch.Tensor:
        """Clip, step, zero the gradients; returns the gradient norm before clipping."""
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        norm = clip_grad_norm(self.params, self.spec.train.max_grad_norm, self.d.device, parallel.uses_fsdp(self.spec))
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    @property
    def loss_scaling(self) -> bool:
        return self.scaler is not None

    def save(self, schedule, step: int) -> dict:
        return checkpoint.save(self.d, self.model, self.optimizer, schedule, step, self.spec)

    def load(self, schedule, path: str, events) -> int:
        return checkpoint.load(self.d, self.model, self.optimizer, schedule, path, self.spec, events)

    def full_state_dict(self) -> dict:
        """Collective. On rank 0 every weight whole in host memory (fp32 masters where an offloaded
        optimizer holds them); elsewhere empty."""
        out = {}
        for name, t in checkpoint.model_state(self.model, self.optimizer).items():
            if isinstance(t, DTensor):
                t = _full_tensor(t, self.d.device)
            if self.d.is_main:
                out[name] = t.detach().to("cpu")
        return out

    def buffers(self) -> dict:
        """Every buffer by state-dict name, the non-persistent ones (rotary tables) included."""
        return {parallel.state_name(n): b for n, b in self.model.named_buffers()}
