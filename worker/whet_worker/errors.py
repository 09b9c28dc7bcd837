"""Failures the worker reports as error events, each with its own process exit code.

The supervisor reads the code from the event and the exit code from torchrun; both must agree.
"""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_SPEC = 2
EXIT_OOM = 3
EXIT_NAN = 4
# The injected "exit" fault: a rank dying without a word. Deliberately none of the codes above,
# so the supervisor cannot mistake it for an OOM or a NaN.
EXIT_FAULT_EXIT = 7


class WorkerError(Exception):
    """An expected failure: a clear message, an event code and an exit code, no traceback."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_INTERNAL, **fields):
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.fields = fields


class SpecError(WorkerError):
    def __init__(self, message: str):
        super().__init__("SPEC_INVALID", message, EXIT_SPEC)


class NanLossError(WorkerError):
    def __init__(self, message: str, **fields):
        super().__init__("NAN_LOSS", message, EXIT_NAN, **fields)


class FaultInjected(Exception):
    """Raised by the test-only fault 'raise'; reported as FAULT_INJECTED."""


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # CPU allocators and some CUDA paths raise a plain RuntimeError instead.
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def is_peer_failure(exc: BaseException) -> bool:
    """A collective failed because another rank went away: that rank's own event is the cause."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("Connection closed by peer", "Connection reset by peer", "remote worker", "NCCL communicator was aborted")
    )
