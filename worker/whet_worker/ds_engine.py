"""DeepSpeed as the optional engine (distributed.engine: deepspeed), with TorchEngine's methods.

The TypeScript side maps the user's DeepSpeed JSON and fills every "auto" value from the spec
(distributed.deepspeed_config); it is handed to deepspeed.initialize unchanged, and DeepSpeed owns
precision, ZeRO partitioning, offload, gradient clipping and when the optimizer steps. Two things
keep our loss semantics: backward runs with scale_wrt_gas=False, because the loss is already divided
by the trained tokens of the whole global batch, and DeepSpeed's averaging over data-parallel ranks
is undone by train.py's × world size, as under DDP. engine.step() runs after every micro-batch (it
counts them); the one after the last is the optimizer step.
"""

import sys

import torch

from . import checkpoint, parallel
from .errors import SpecError, WorkerError, EXIT_SPEC
from .loss import chunked_ce_sum
from .model import DTYPES, build_model, param_counts
from .offload import activation_offload
from .optim import build_optimizer, param_groups

TAG = "deepspeed"  # the sub-folder of our step-N folder that DeepSpeed writes


def require_deepspeed(spec):
    try:
        import deepspeed
    except ImportError:
        d = spec.distributed
        raise WorkerError(
            "DEEPSPEED_MISSING",
            f"distributed_backend is deepspeed but the deepspeed package is not installed for {sys.executable}. "
            f"Install it there (pip install deepspeed), or set distributed_backend: fsdp2 to run the same sharding "
            f"on PyTorch's FSDP2 (sharding: {d.strategy}, offload: {d.offload})",
            EXIT_SPEC,
            phase="setup",
        ) from None
    return deepspeed


def _offloads_optimizer(config: dict) -> bool:
    device = config.get("zero_optimization", {}).get("offload_optimizer", {}).get("device", "none")
    return device not in ("none", None)


def _client_optimizer(deepspeed, model, spec):
    """Our AdamW when the config names none: DeepSpeed's CPU Adam if its states live on the host."""
    if not _offloads_optimizer(spec.distributed.deepspeed_config):
        return build_optimizer(model, spec.train)
    t = spec.train
    return deepspeed.ops.adam.DeepSpeedCPUAdam(param_groups(model, t), lr=t.learning_rate, betas=(t.adam_beta1, t.adam_beta2),
                                               eps=t.adam_epsilon, adamw_mode=True)


class DeepSpeedEngine:
    name = "deepspeed"

    def __init__(self, spec, d):
        self.deepspeed = require_deepspeed(spec)
        if not spec.distributed.deepspeed_config:
            raise SpecError("distributed.deepspeed_config: null, but distributed.engine is deepspeed")
        self.spec, self.d = spec, d
        config = spec.distributed.deepspeed_config
        model = build_model(spec, d.device, DTYPES[spec.precision.master_dtype])
        self.trainable_params, self.total_params = param_counts(model)
        blocks = parallel.decoder_blocks(model)
        self.checkpointed = parallel.checkpointed_indices(len(blocks), spec.train.activation_checkpointing)
        self.num_blocks = len(blocks)
        parallel.apply_activation_checkpointing(blocks, self.checkpointed)
        optimizer = None if "optimizer" in config else _client_optimizer(self.deepspeed, model, spec)
        self.engine, self.optimizer, _, _ = self.deepspeed.initialize(
            model=model, model_parameters=param_groups(model, spec.train) if optimizer is None else None, optimizer=optimizer,
            config=config,
        )
        self.model = self.engine.module
        self.loss_scaling = bool(config.get("fp16", {}).get("enabled"))

    def describe(self) -> dict:
        ac = self.spec.train.activation_checkpointing
        return {
            "engine": self.name,
            "strategy": self.spec.distributed.strategy,
            "offload": self.spec.distributed.offload,
            "wrapping": {"module": "DeepSpeed", "zero_stage": self.engine.zero_optimization_stage(), "optimizer": type(self.optimizer).__name__},
            "activation_checkpointing": {"mode": ac.mode, "every": ac.every, "offload": ac.offload and self.d.device.type == "cuda",
                                         "checkpointed_blocks": len(self.checkpointed), "total_blocks": self.num_blocks},
        }

    def train(self) -> None:
        self.engine.train()

    def eval(self) -> None:
        self.engine.eval()

    def micro_batch(self, last: bool):
        return activation_offload(self.spec.train.activation_checkpointing.offload, self.d.device)

    def loss_sum(self, mb) -> torch.Tensor:
        logits = self.engine(input_ids=mb.input_ids, position_ids=mb.position_ids, use_cache=False, **mb.model_kwargs()).logits
        return chunked_ce_sum(logits, mb.labels)

    def compile_failures(self) -> list[str]:
        return []

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        self.engine.backward(loss, scale_wrt_gas=False)
        if not last:
            self.engine.step()

    def step(self):
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return None if norm is None else torch.as_tensor(norm)

    def save(self, schedule, step: int) -> dict:
        return checkpoint.save_atomic(self.d, schedule, step, self.spec, lambda tmp: self.engine.save_checkpoint(tmp, tag=TAG))

    def load(self, schedule, path: str, events) -> int:
        def read():
            loaded, _ = self.engine.load_checkpoint(path, tag=TAG, load_optimizer_states=True, load_lr_scheduler_states=False)
            if loaded is None:
                raise WorkerError("CHECKPOINT_INVALID", f"{path} holds no DeepSpeed checkpoint ({TAG}/); it was written by the torch engine",
                                  EXIT_SPEC, phase="setup")

        return checkpoint.load_atomic(self.d, schedule, path, self.spec, events, read)

    def full_state_dict(self) -> dict:
        """Collective: every weight whole on rank 0 (in DeepSpeed's 16-bit compute copy under ZeRO-3)."""
        if self.engine.zero_optimization_stage() == 3:
            state = self.engine._zero3_consolidated_16bit_state_dict()  # gathers on every rank, keeps on rank 0
        else:
            state = self.model.state_dict()
        if not self.d.is_main:
            return {}
        return {parallel.state_name(k): v.detach().to("cpu") for k, v in state.items()}

    def buffers(self) -> dict:
        return {parallel.state_name(n): b for n, b in self.model.named_buffers()}
