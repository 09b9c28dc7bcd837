"""torch.compile of each decoder block, with an eager fallback.

Each block is compiled in place (its parameters and state-dict names stay as they are): after
activation checkpointing wraps it, so dynamo traces the checkpointed region as one unit (a
recomputation that re-entered compiled code from inside backward would not work), and before
FSDP2 wraps it, so FSDP2's hooks stay outside the compiled code. All blocks share one compiled graph
(same code, parameters as inputs), with dynamic shapes: flattened micro-batches differ in length.

A block whose compiled call raises (a model dynamo cannot trace, a missing compiler) runs eagerly
from then on; the failure is recorded once, and the trainer reports it as a COMPILE_FALLBACK
warning. Out-of-memory errors are not compile failures and propagate.
"""

import torch
from torch import nn


def root_cause(error: BaseException) -> BaseException:
    """The exception under dynamo's wrappers (BackendCompilerFailed keeps it as inner_exception)."""
    while getattr(error, "inner_exception", None) or error.__cause__:
        error = getattr(error, "inner_exception", None) or error.__cause__
    return error


class CompileFailures:
    """What failed to compile, reported once per distinct message."""

    def __init__(self):
        self.pending: list[str] = []
        self._seen: set[str] = set()
        self.blocks = 0

    def add(self, block: str, error: BaseException) -> None:
        self.blocks += 1
        root = root_cause(error)
        lines = str(root).strip().splitlines()
        msg = f"{type(root).__name__}: {lines[0] if lines else ''}"
        if msg not in self._seen:
            self._seen.add(msg)
            self.pending.append(f"{block} runs uncompiled: {msg}"[:800])

    def take(self) -> list[str]:
        out, self.pending = self.pending, []
        return out


class _Fallback:
    def __init__(self, module: nn.Module, name: str, failures: CompileFailures, **compile_kw):
        self.module, self.name, self.failures = module, name, failures
        self.compiled = torch.compile(module._call_impl, **compile_kw)
        self.eager = False

    def __call__(self, *args, **kwargs):
        if self.eager:
            return self.module._call_impl(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any compile failure falls back; eager re-raises real errors
            if isinstance(e, torch.OutOfMemoryError) or isinstance(root_cause(e), torch.OutOfMemoryError):
                raise
            self.eager = True
            self.failures.add(self.name, e)
            return self.module._call_impl(*args, **kwargs)


def compile_blocks(blocks: nn.ModuleList, failures: CompileFailures, **compile_kw) -> None:
    compile_kw.setdefault("dynamic", True)
    for i, block in enumerate(blocks):
        block._compiled_call_impl = _Fallback(block, f"block {i} ({type(block).__name__})", failures, **compile_kw)
