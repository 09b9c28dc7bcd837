"""Process topology from torchrun's environment.

A plain process is world size 1, with no process group under DDP; sharded strategies and the
DeepSpeed engine need a group (a device mesh, collectives) even alone, so they get a one-rank group
on an in-memory store.
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .envcheck import check_same_environment
from .errors import SpecError


@dataclass
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def grouped(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        if self.grouped:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.grouped:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def close(self) -> None:
        if self.grouped:
            dist.destroy_process_group()


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def setup(spec) -> Dist:
    rank = env_rank()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    d = spec.distributed
    if world != d.world_size:
        raise SpecError(f"launched with {world} processes but distributed.world_size is {d.world_size}")
    if d.device == "cuda":
        if not torch.cuda.is_available():
            raise SpecError("distributed.device is cuda but torch sees no CUDA device")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    if world > 1:
        # The launcher sets WHET_COLLECTIVE_TIMEOUT_S below its stall watchdog, so a hung
        # collective ends as the backend's own error rather than a silent wait.
        timeout = timedelta(seconds=float(os.environ.get("WHET_COLLECTIVE_TIMEOUT_S", "1800")))
        dist.init_process_group(backend=d.backend, timeout=timeout, **kwargs)
        check_same_environment(world, device)
    elif d.strategy != "ddp" or d.engine == "deepspeed":
        dist.init_process_group(backend=d.backend, store=dist.HashStore(), rank=0, world_size=1, **kwargs)
    return Dist(rank, world, local, device)
