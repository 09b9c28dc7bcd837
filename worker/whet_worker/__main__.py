"""python -m whet_worker train --spec runs/<id>/spec.json

Every failure leaves the process as an error event plus an exit code (errors.py), never as a
bare traceback: the supervisor reads the event, torchrun reports the code.
"""

import argparse
import os
import sys
import traceback

from .errors import EXIT_INTERNAL, EXIT_OOM, EXIT_SPEC, FaultInjected, SpecError, WorkerError, is_oom, is_peer_failure
from .events import Events, log


def _exit(code: int) -> None:
    # os._exit: after a failure another rank may be stuck in a collective, and a normal
    # interpreter exit can hang in NCCL/gloo teardown.
    sys.stderr.flush()
    os._exit(code)


def cmd_train(spec_path: str) -> int:
    from .dist import env_rank
    from .spec import events_path_of, load_spec

    rank = env_rank()
    try:
        spec = load_spec(spec_path)
    except SpecError as e:
        Events(events_path_of(spec_path), rank).error(e.code, f"{spec_path}: {e.message}", phase="setup")
        log(rank, f"invalid spec: {e.message}")
        return EXIT_SPEC

    from .faults import StopFlag
    from .train import Progress
    from .watch import Heartbeat

    events = Events(spec.events_path, rank)
    stop = StopFlag(rank)
    stop.install()
    progress = Progress()
    heartbeat = Heartbeat(progress, rank).start()
    code = EXIT_INTERNAL
    try:
        code = _train(spec, rank, events, stop, progress)
    finally:
        heartbeat.stop(code)
    return code


def _train(spec, rank, events, stop, progress) -> int:
    d = None
    try:
        from . import dist, train

        d = dist.setup(spec)
        code = train.run(spec, d, events, stop, progress)
        d.close()
        return code
    except WorkerError as e:
        fields = dict(e.fields)
        phase = fields.pop("phase", progress.phase)
        events.error(e.code, e.message, phase=phase, step=progress.step, traceback=None, **fields)
        log(rank, f"{e.code}: {e.message}")
        return e.exit_code
    except BaseException as e:  # noqa: BLE001 - every failure must become an event
        tb = traceback.format_exc()
        if is_oom(e):
            from . import metrics

            mem = metrics.memory_detail(d.device) if d else {}
            events.error("OOM", f"out of memory in {progress.phase} at step {progress.step}: {e}", phase=progress.phase,
                         step=progress.step, traceback=tb, **mem)
            log(rank, f"OOM in {progress.phase}: {e}")
            return EXIT_OOM
        bad_weights = _bad_weights(e, spec) if progress.phase == "setup" else None
        if bad_weights:
            events.error("MODEL_INVALID", bad_weights, phase="setup", step=progress.step, traceback=tb)
            log(rank, tb)
            return EXIT_SPEC
        if isinstance(e, FaultInjected):
            code, message = "FAULT_INJECTED", str(e)
        elif is_peer_failure(e):
            code, message = "PEER_FAILED", f"a collective failed, most likely because another rank died first: {e}"
        else:
            code, message = "INTERNAL", f"{type(e).__name__}: {e}"
        events.error(code, message, phase=progress.phase, step=progress.step, traceback=tb)
        log(rank, tb)
        return EXIT_INTERNAL


def _bad_weights(e: BaseException, spec):
    """A model folder whose weight files cannot be read is the user's to fix, not a bug: the CLI
    checks that weight files exist, only loading them shows they are truncated or not weights."""
    name = type(e).__name__
    text = str(e)
    if name == "SafetensorError" or "safetensors" in type(e).__module__ or "deserializing header" in text or (
        isinstance(e, (OSError, ValueError, EOFError)) and spec.model.path in text
    ):
        return (f"{spec.model.path}: the weights could not be loaded ({name}: {text}). The files are damaged or not "
                "weights: check that the download finished (compare the file sizes), or download the model again.")
    return None


def _log_to_rank_file() -> None:
    """One log per rank (runs/<id>/logs/rank-K.log): the launcher names the directory, and every
    later write to stdout/stderr, Python's or a C library's, lands in this rank's file."""
    folder = os.environ.get("WHET_RANK_LOG_DIR")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, f"rank-{os.environ.get('RANK', '0')}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv=None) -> None:
    _log_to_rank_file()
    from .watch import install_stack_dump

    install_stack_dump()
    # The worker reads local folders only and must never reach for the network; progress bars
    # would only clutter the per-rank logs.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    p = argparse.ArgumentParser(prog="python -m whet_worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="run one training job from a RunSpec")
    t.add_argument("--spec", required=True)
    c = sub.add_parser("chat", help="generate for `whet chat`: NDJSON requests on stdin, tokens on stdout")
    c.add_argument("--model", required=True)
    c.add_argument("--base-model")
    c.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)
    if args.cmd == "chat":
        from . import chat

        sys.exit(chat.main(args.model, args.base_model, args.device))
    if args.cmd == "train":
        # os._exit on success too: every event, checkpoint and export is closed by now, and skipping
        # the interpreter's teardown avoids C++ destructors of communication threads aborting the
        # process ("terminate called without an active exception") after a clean run.
        _exit(cmd_train(args.spec))


if __name__ == "__main__":
    main()
