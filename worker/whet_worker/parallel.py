"""How distributed.strategy and distributed.offload become wrapped modules and an optimizer.

| strategy | model                                                         | optimizer (offload none)            |
| -------- | ------------------------------------------------------------- | ----------------------------------- |
| ddp      | DistributedDataParallel (world 1: the plain module)           | torch AdamW, replicated on each rank |
| zero1    | DistributedDataParallel (world 1: the plain module)           | ZeroRedundancyOptimizer over AdamW: each rank keeps and steps the states of its partition, then broadcasts the weights (ZeRO-1) |
| zero2    | FSDP2 fully_shard(reshard_after_forward=False) per decoder block, then the root | torch AdamW on the sharded DTensors |
| zero3    | FSDP2 fully_shard(reshard_after_forward=True) per decoder block, then the root  | torch AdamW on the sharded DTensors |

offload optimizer: the optimizer is offload.HostAdamW (inside ZeroRedundancyOptimizer for zero1):
fp32 masters and moments in host memory, the AdamW step on the CPU. Under zero2/zero3 the device
shards are kept in the compute dtype (bf16 halves them and their gradients); FSDP2 still reduces
gradients in fp32. Under ddp/zero1 they stay in the master dtype, because DDP reduces gradients in
the parameters' dtype and bf16 gradient all-reduce would lose precision.
offload params+optimizer: zero2/zero3 only, FSDP2's CPUOffloadPolicy (sharded weights and gradients
in host memory, torch AdamW steps there). DDP needs whole weights on the device, so ddp and zero1
refuse it.

Mixed precision: FSDP2 takes MixedPrecisionPolicy(param_dtype=compute dtype, reduce_dtype=float32)
when the compute dtype is 16-bit; the sharded weights stay in their master dtype, so no autocast is
needed. DDP keeps fp32 weights and computes under autocast. A float32 run has neither.

With train.compile each decoder block is compiled in place (compiling.py) after checkpointing wraps
it, so dynamo traces the checkpointed region whole, and before FSDP2 wraps it, so FSDP2's hooks stay
outside the compiled code.

Activation checkpointing wraps the chosen decoder blocks with checkpoint_wrapper (non-reentrant)
before FSDP2 wraps them, so FSDP2's hooks stay outside the recomputed region. Forward prefetch is
explicit (block i issues block i+1's all-gather when it starts); backward prefetch is FSDP2's
implicit one, which already gathers the next block to run backward (the previous one in forward
order) while the current one computes.
"""

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard
from torch.nn.parallel import DistributedDataParallel

from .compiling import CompileFailures, compile_blocks
from .errors import SpecError, WorkerError, EXIT_SPEC
from .model import DTYPES

FSDP_STRATEGIES = ("zero2", "zero3")
# checkpoint_wrapper nests a block one level down under this attribute; state dicts leave it out.
CHECKPOINT_WRAPPER = "_checkpoint_wrapped_module"


def uses_fsdp(spec) -> bool:
    return spec.distributed.strategy in FSDP_STRATEGIES


def trainable_dtype(spec) -> torch.dtype:
    """The dtype trainable parameters are kept in on the device (see the module docstring)."""
    p = spec.precision
    if uses_fsdp(spec) and spec.distributed.offload == "optimizer":
        return DTYPES[p.compute_dtype]
    return DTYPES[p.master_dtype]


def state_name(name: str) -> str:
    """A parameter or buffer name as state dicts give it (no checkpoint_wrapper level)."""
    return ".".join(part for part in name.split(".") if part != CHECKPOINT_WRAPPER)


def check(spec) -> None:
    """Combinations that cannot run, named before any model is loaded."""
    d = spec.distributed
    if d.offload == "params+optimizer" and not uses_fsdp(spec):
        raise SpecError(
            f"distributed.offload: params+optimizer needs strategy zero2 or zero3 (FSDP2 offloads sharded weights), "
            f"but strategy is {d.strategy}. Use zero3, or offload optimizer"
        )


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks, found through transformers' _no_split_modules (Llama, Qwen, Mistral...)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT's wrapper
    names = set(getattr(base, "_no_split_modules", None) or ())
    for module in base.modules():
        if isinstance(module, nn.ModuleList) and len(module) and all(type(m).__name__ in names for m in module):
            return module
    raise WorkerError(
        "MODEL_UNSUPPORTED",
        f"{type(base).__name__}: cannot find its decoder blocks (no ModuleList of {sorted(names) or 'any _no_split_modules'}); "
        "sharding and activation checkpointing wrap each block",
        EXIT_SPEC,
        phase="setup",
    )


def checkpointed_indices(num_blocks: int, ac) -> list[int]:
    if ac.mode == "none":
        return []
    every = 1 if ac.mode == "full" else ac.every
    return list(range(0, num_blocks, every))


def apply_activation_checkpointing(blocks: nn.ModuleList, indices: list[int]) -> None:
    for i in indices:
        # preserve_rng_state (the default): dropout in the recomputed forward draws the same masks.
        blocks[i] = checkpoint_wrapper(blocks[i])


def mixed_precision(spec) -> tuple[torch.dtype, torch.dtype] | None:
    """FSDP2's (param_dtype, reduce_dtype), or None where no cast is needed."""
    compute = DTYPES[spec.precision.compute_dtype]
    if not uses_fsdp(spec) or compute == torch.float32:
        return None
    return compute, torch.float32


def _shard(model: nn.Module, blocks: nn.ModuleList, spec, d) -> None:
    mesh = init_device_mesh(d.device.type, (d.world_size,))
    mp = mixed_precision(spec)
    policy = MixedPrecisionPolicy(param_dtype=mp[0], reduce_dtype=mp[1]) if mp else MixedPrecisionPolicy()
    offload = CPUOffloadPolicy(pin_memory=d.device.type == "cuda") if spec.distributed.offload == "params+optimizer" else OffloadPolicy()
    kw = dict(mesh=mesh, mp_policy=policy, offload_policy=offload)
    for block in blocks:
        fully_shard(block, reshard_after_forward=spec.distributed.strategy == "zero3", **kw)
    # None: FSDP2 keeps the root's weights (embeddings, head, final norm) gathered after forward,
    # because backward needs them first.
    fully_shard(model, reshard_after_forward=None, **kw)
    for block, following in zip(blocks, list(blocks)[1:]):
        block.set_modules_to_forward_prefetch([following])


@dataclass
class Wrapped:
    net: nn.Module  # what forward is called on (DDP, or the FSDP2 root)
    model: nn.Module  # the model under DDP's wrapper: what state dicts are taken from
    kind: str  # "FSDP2", "DDP" or "none"
    checkpointed: list[int]
    num_blocks: int
    autocast: torch.dtype | None  # DDP's compute dtype when it differs from the weights'
    compile_failures: CompileFailures | None = None  # None: blocks are not compiled

    def accumulate(self, sync: bool):
        """Context for one micro-batch's forward and backward: DDP reduces only on the last one."""
        if sync or not isinstance(self.net, DistributedDataParallel):
            return nullcontext()
        return self.net.no_sync()

    def autocast_context(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.autocast) if self.autocast else nullcontext()


def parallelize(model: nn.Module, spec, d) -> Wrapped:
    """Activation checkpointing, then DDP or FSDP2, as the module docstring says. Call once."""
    blocks = decoder_blocks(model)
    checkpointed = checkpointed_indices(len(blocks), spec.train.activation_checkpointing)
    apply_activation_checkpointing(blocks, checkpointed)
    failures = None
    if spec.train.compile:
        failures = CompileFailures()
        compile_blocks(blocks, failures)
    if uses_fsdp(spec):
        _shard(model, blocks, spec, d)
        return Wrapped(model, model, "FSDP2", checkpointed, len(blocks), None, failures)
    model.to(d.device)
    compute = DTYPES[spec.precision.compute_dtype]
    autocast = compute if compute != torch.float32 else None
    net = model
    if d.world_size > 1:
        net = DistributedDataParallel(
            model,
            device_ids=[d.device.index] if d.device.type == "cuda" else None,
            broadcast_buffers=False,
            gradient_as_bucket_view=True,
        )
    return Wrapped(net, model, "DDP" if net is not model else "none", checkpointed, len(blocks), autocast, failures)
