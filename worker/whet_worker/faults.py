"""Test-only fault injection (spec.fault) and graceful stop on SIGTERM/SIGINT.

A fault is set with WHET_FAULT=kind:rank:step on `whet train` and fires once: the supervisor
drops it from the spec of every restart (an OOM retry, an auto_resume, a --resume), so a
recovered run shows what recovery does rather than failing again the same way.
"""

import os
import signal
import time

import torch

from .errors import EXIT_FAULT_EXIT, FaultInjected
from .events import log


class Faults:
    def __init__(self, fault, rank: int):
        self.fault = fault if fault is not None and fault.rank == rank else None

    def _due(self, step: int, kinds) -> bool:
        return self.fault is not None and self.fault.step == step and self.fault.kind in kinds

    def before_forward(self, step: int, rank: int) -> None:
        if not self._due(step, ("raise", "exit", "hang", "oom")):
            return
        kind = self.fault.kind
        log(rank, f"injecting fault {kind!r} at step {step}")
        if kind == "raise":
            raise FaultInjected(f"injected fault: rank {rank} raised at step {step}")
        if kind == "exit":
            os._exit(EXIT_FAULT_EXIT)
        if kind == "hang":
            while True:
                time.sleep(3600)
        if kind == "oom":
            # The same class a real CUDA OOM raises (torch.OutOfMemoryError exists on CPU builds too).
            raise torch.OutOfMemoryError(f"CUDA out of memory (injected on rank {rank} at step {step})")

    def poison_loss(self, step: int, loss: torch.Tensor) -> torch.Tensor:
        return loss * float("nan") if self._due(step, ("nan",)) else loss


class StopFlag:
    """First SIGTERM/SIGINT: stop after the current step with a checkpoint. Second: exit now."""

    def __init__(self, rank: int):
        self.rank = rank
        self.requested = False
        self.signum = None

    def install(self) -> None:
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            log(self.rank, f"second signal {signum}: exiting at once")
            os._exit(128 + signum)
        self.requested = True
        self.signum = signum
        log(self.rank, f"signal {signum}: finishing this step, then saving a checkpoint")
