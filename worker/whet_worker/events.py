"""Events: one JSON object per line, appended to the run's events.jsonl (src/events/schema.ts).

Every rank opens the file with O_APPEND and writes each line with a single os.write, so lines
from different ranks never interleave. Human-readable logs go to stderr, never to stdout.
"""

import json
import math
import os
import sys
import time
from typing import Optional

RANK0_ONLY = {"step", "eval", "checkpoint", "done"}


def _finite(v):
    # JSON has no NaN/Infinity; a non-finite metric becomes null rather than an unparseable line.
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def encode(event: dict) -> bytes:
    return (json.dumps(_finite(event), separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


class Events:
    def __init__(self, path: Optional[str], rank: int):
        self.rank = rank
        self.fd = None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, type_: str, **fields) -> Optional[dict]:
        if type_ in RANK0_ONLY and self.rank != 0:
            return None
        event = {"type": type_, "time": time.time(), "rank": self.rank, **fields}
        line = encode(event)
        if self.fd is not None:
            os.write(self.fd, line)
        else:
            # No events file known (the spec itself was unreadable): stderr is the only channel.
            sys.stderr.write(line.decode())
        return event

    def error(self, code: str, message: str, phase=None, step=None, traceback=None, **extra):
        return self.emit("error", code=code, message=message, phase=phase, step=step, traceback=traceback, **extra)

    def warning(self, code: str, message: str, **extra):
        return self.emit("warning", code=code, message=message, **extra)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def log(rank: int, msg: str) -> None:
    sys.stderr.write(f"[whet rank {rank}] {msg}\n")
    sys.stderr.flush()
