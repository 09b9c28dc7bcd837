"""Host-memory offload: the AdamW step on the CPU (ZeRO-Offload) and activations saved in host RAM.

HostAdamW keeps the fp32 master weights and both AdamW moments in host memory. The device keeps only
the parameters the model computes with and their gradients. step() moves the gradients to the host
chunk by chunk, runs torch.optim.AdamW there, and copies the updated weights back in the
parameters' own dtype, both ways through reusable pinned buffers. On a CPU-only run the same copies
are host to host, so CI runs the code path a GPU run takes. Parameters may be FSDP2 DTensors: the
host copies are of the local shard, and the state handed to checkpoints is wrapped back into
DTensors with the parameter's mesh and placements, so checkpoints stay world-size independent.
"""

from contextlib import nullcontext

import torch
from torch.distributed.tensor import DTensor

HYPERPARAMETERS = ("lr", "betas", "eps", "weight_decay")
# 64M elements: a 256 MiB fp32 pinned staging buffer (grown to the largest tensor if need be), small
# next to the states of any model worth offloading, large enough to keep the host step efficient.
CHUNK_NUMEL = 1 << 26


def local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if isinstance(t, DTensor) else t


def wrap_like(param: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """t, a tensor shaped like param's local part, as param's kind: a DTensor for a DTensor param."""
    if not isinstance(param, DTensor):
        return t
    return DTensor.from_local(t, param.device_mesh, param.placements, run_check=False, shape=param.shape, stride=param.stride())


class HostAdamW(torch.optim.Optimizer):
    """AdamW with fp32 master weights and moments in host memory; a drop-in torch Optimizer.

    param_groups hold the device parameters (so LR schedules, GradScaler and ZeroRedundancyOptimizer
    see an ordinary optimizer); self.host is a torch AdamW over the host masters.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 chunk_numel: int = CHUNK_NUMEL):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        params = [p for g in self.param_groups for p in g["params"]]
        self.pinned = any(local(p).is_cuda for p in params)
        # Masters start as copies of the device weights, in float32, as DeepSpeed creates its own.
        self.masters = {p: local(p).detach().to("cpu", torch.float32, copy=True) for p in params}
        # fused: the CPU kernel makes one pass over each tensor, foreach about ten.
        self.host = torch.optim.AdamW([{**self._hyper(g), "params": [self.masters[p] for p in g["params"]]} for g in self.param_groups],
                                      fused=True)
        self.chunks = self._chunk(params, chunk_numel)
        largest = max([sum(self.masters[p].numel() for p in c) for c in self.chunks], default=0)
        self.down = torch.empty(largest, dtype=torch.float32, pin_memory=self.pinned)
        self.up = {dt: torch.empty(largest, dtype=dt, pin_memory=self.pinned) for dt in {p.dtype for p in params}}

    @staticmethod
    def _hyper(group: dict) -> dict:
        return {k: group[k] for k in HYPERPARAMETERS}

    def _chunk(self, params, chunk_numel: int) -> list[list]:
        chunks, cur, used = [], [], 0
        for p in params:
            n = self.masters[p].numel()
            if cur and used + n > chunk_numel:
                chunks.append(cur)
                cur, used = [], 0
            cur.append(p)
            used += n
        return chunks + ([cur] if cur else [])

    def _wait(self) -> None:
        if self.pinned:
            torch.cuda.current_stream().synchronize()

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is None, "HostAdamW does not take a closure"
        # LR schedules and ZeroRedundancyOptimizer write hyperparameters into self.param_groups.
        for group, host_group in zip(self.param_groups, self.host.param_groups):
            host_group.update(self._hyper(group))
        for chunk in self.chunks:
            stepped = self._download_grads(chunk)
            self.host.step()  # steps exactly the masters given a .grad just now
            self._upload(stepped)
        self._wait()

    def _download_grads(self, chunk: list) -> list:
        stepped, offset = [], 0
        for p in chunk:
            if p.grad is None:
                continue
            m = self.masters[p]
            buf = self.down[offset : offset + m.numel()].view_as(m)
            buf.copy_(local(p.grad), non_blocking=self.pinned)
            m.grad = buf
            stepped.append(p)
            offset += m.numel()
        # Also orders this chunk after the previous chunk's uploads, which reuse self.up.
        self._wait()
        return stepped

    def _upload(self, stepped: list) -> None:
        offset = 0
        for p in stepped:
            m = self.masters[p]
            staged = self.up[p.dtype][offset : offset + m.numel()].view_as(m)
            staged.copy_(m)  # the cast to the device dtype happens on the host
            local(p).copy_(staged, non_blocking=self.pinned)
            m.grad = None
            offset += m.numel()

    # Checkpoints (checkpoint.py) read and fill these tensors in place.
    def param_states(self) -> dict:
        """Device parameter -> its AdamW state, in host memory, moments shaped like the parameter."""
        out = {}
        for p, m in self.masters.items():
            state = self.host.state.get(m)
            if state:
                out[p] = {k: v if k == "step" else wrap_like(p, v) for k, v in state.items()}
        return out

    def master_weights(self) -> dict:
        """Device parameter -> its fp32 master, shaped like the parameter."""
        return {p: wrap_like(p, m) for p, m in self.masters.items()}

    @torch.no_grad()
    def masters_to_params(self) -> None:
        """After a checkpoint filled the masters: the device weights follow them."""
        for p, m in self.masters.items():
            local(p).copy_(m)

    def state_dict(self):
        raise NotImplementedError("HostAdamW state is saved per parameter through param_states() (checkpoint.py)")


class _SaveActivationsOnHost(torch.autograd.graph.saved_tensors_hooks):
    """torch.autograd.graph.save_on_cpu without the parameters.

    save_on_cpu copies every tensor saved for backward, weights included; under FSDP2 that would copy
    every all-gathered weight to the host and back each step. Parameters stay where they are.
    """

    def __init__(self):
        def pack(t: torch.Tensor):
            if isinstance(t, torch.nn.Parameter) or not t.is_cuda:
                return t
            host = torch.empty(t.size(), dtype=t.dtype, layout=t.layout, pin_memory=True)
            host.copy_(t, non_blocking=True)
            return t.device, host

        def unpack(packed):
            if isinstance(packed, torch.Tensor):
                return packed
            device, host = packed
            return host.to(device, non_blocking=True)

        super().__init__(pack, unpack)


def activation_offload(enabled: bool, device: torch.device):
    """Context for forward and loss: tensors saved for backward live in host memory (CUDA only)."""
    return _SaveActivationsOnHost() if enabled and device.type == "cuda" else nullcontext()
