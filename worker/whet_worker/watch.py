"""What the supervisor's watchdog reads: a heartbeat file per rank, and stacks on request.

The heartbeat is a daemon thread that rewrites WHET_HEARTBEAT_DIR/rank-K.json every
WHET_HEARTBEAT_S seconds with where the rank is (step and phase, from train.Progress) and when
that last changed. It proves progress, not mere liveness: a rank stuck in a collective keeps its
thread beating but its step and phase stand still. The last beat, written on the way out, says
"exited" with the exit code, so a missing one means the process died without a word (os._exit,
SIGKILL). SIGUSR1 makes faulthandler write every thread's Python stack into the rank log.
"""

import faulthandler
import json
import os
import signal
import socket
import threading
import time


def install_stack_dump() -> None:
    """SIGUSR1 -> all threads' Python stacks on stderr (the rank log), even when the main thread
    is blocked in C code such as a collective."""
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)


class Heartbeat:
    def __init__(self, progress, rank: int, folder=None, interval_s=None):
        self.progress = progress
        self.rank = rank
        self.folder = folder if folder is not None else os.environ.get("WHET_HEARTBEAT_DIR")
        self.interval_s = interval_s if interval_s is not None else float(os.environ.get("WHET_HEARTBEAT_S", "1"))
        self.host = socket.gethostname()
        self._seen = None
        self._changed = time.time()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None

    @property
    def path(self):
        return os.path.join(self.folder, f"rank-{self.rank}.json") if self.folder else None

    def start(self) -> "Heartbeat":
        if not self.folder:
            return self
        os.makedirs(self.folder, exist_ok=True)
        self.beat()
        self._thread = threading.Thread(target=self._loop, name="whet-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except OSError:
                pass  # a full disk must not kill training; the supervisor sees a stale beat

    def beat(self, exit_code=None) -> None:
        if not self.folder:
            return
        with self._lock:
            now = time.time()
            where = (self.progress.step, self.progress.phase)
            if where != self._seen:
                self._seen, self._changed = where, now
            record = {
                "rank": self.rank,
                "pid": os.getpid(),
                "host": self.host,
                "step": where[0],
                "phase": "exited" if exit_code is not None else where[1],
                "time": now,
                "progress_time": self._changed,
                "exit_code": exit_code,
            }
            tmp = f"{self.path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f)
            os.replace(tmp, self.path)

    def stop(self, exit_code: int) -> None:
        """The last beat: this rank left on its own with exit_code."""
        self._stop.set()
        try:
            self.beat(exit_code=exit_code)
        except OSError:
            pass
