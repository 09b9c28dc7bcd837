"""python -m whet_worker.sink --events runs/<id>/events.jsonl --to wandb|mlflow --run-name <id>
                             [--config runs/<id>/spec.json]

A sidecar beside the training job: follows the run's events file and logs its step and eval
metrics (at their steps) and the resolved config to Weights & Biases or MLflow, through their own
client libraries. It never imports torch and never touches the job; `whet train` starts one per
`report_to` backend (src/sinks/) and stops it with SIGTERM when the run ends.

It stops after the done event, on SIGTERM or SIGINT (after logging what is already written), when
its parent dies, and, run by hand, a few quiet seconds after an error event (with --managed,
whet train's, an error does not end it: a recovery may start another attempt in the same file). It remembers the external run
and the byte offset it reached in runs/<id>/sinks/<to>.json, so `whet train --resume` continues the
same W&B or MLflow run without logging a line twice. A client that is not installed, or that fails,
is a warning on stderr ("whet sink: warning: ..."), never a failure of the training run.
"""

import argparse
import json
import os
import signal
import sys
import time
import uuid

WARN = "whet sink: warning: "
POLL_S = 0.5
QUIET_AFTER_ERROR_S = 3.0
SAVE_EVERY_S = 2.0

# The tag rule of src/tensorboard/sink.ts (scalarsOf); a TS test checks that both agree.
NOT_METRICS = {"type", "time", "rank", "step", "total_steps"}
TRAIN = {"loss", "lr", "grad_norm", "epoch", "trained_tokens", "tokens"}


def _step_tag(name):
    if name.startswith("mem_"):
        return "memory/" + name[4:]
    return ("train/" if name in TRAIN else "perf/") + name


def _numeric(event, tag):
    return {tag(k): float(v) for k, v in event.items()
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")}


def scalars_of(event):
    """(step, {tag: value}) for a rank-0 step, eval or checkpoint event, else None."""
    if event.get("rank") != 0 or not isinstance(event.get("step"), int):
        return None
    kind = event.get("type")
    if kind == "step":
        return event["step"], _numeric(event, _step_tag)
    if kind == "eval":
        return event["step"], _numeric(event, lambda k: "eval/" + (k[5:] if k.startswith("eval_") else k))
    if kind == "checkpoint" and isinstance(event.get("save_time_s"), (int, float)):
        return event["step"], {"checkpoint/save_time_s": float(event["save_time_s"])}
    return None


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
    return out


class Wandb:
    package = "wandb"

    def __init__(self, module):
        self.w = module
        self.run = None

    def start(self, name, run_dir, config, resume_id):
        run_id = resume_id or uuid.uuid4().hex[:12]
        self.run = self.w.init(project=os.environ.get("WANDB_PROJECT") or "whetstone", name=name, id=run_id,
                               resume="allow", dir=run_dir, config=config)
        return run_id

    def log(self, scalars, step):
        self.run.log(scalars, step=step)

    def finish(self, outcome):
        # W&B knows only finished (0) and failed (any other code); a stopped run, to be resumed
        # into this same W&B run, did not fail.
        self.run.finish(exit_code=1 if outcome == "failed" else 0)


class Mlflow:
    package = "mlflow"

    def __init__(self, module):
        self.m = module

    def start(self, name, run_dir, config, resume_id):
        if resume_id:
            return self.m.start_run(run_id=resume_id).info.run_id  # its params are already logged
        run = self.m.start_run(run_name=name)
        params = {k: str(v)[:500] for k, v in flatten(config).items()}
        items = sorted(params.items())
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per request
            self.m.log_params(dict(items[i:i + 100]))
        return run.info.run_id

    def log(self, scalars, step):
        self.m.log_metrics(scalars, step=step)

    def finish(self, outcome):
        self.m.end_run(status={"done": "FINISHED", "failed": "FAILED"}.get(outcome, "KILLED"))


CLIENTS = {"wandb": Wandb, "mlflow": Mlflow}


def warn(message):
    sys.stderr.write(WARN + message + "\n")
    sys.stderr.flush()


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_state(path, state):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def follow(path, offset, should_stop):
    """Yields (line, offset after it) for every complete line from offset on; returns once
    should_stop() says so and everything written so far has been read."""
    f = None
    partial = b""
    try:
        while True:
            if f is None and os.path.exists(path):
                f = open(path, "rb")
                f.seek(offset)
            chunk = f.read() if f is not None else b""
            if chunk:
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                for raw in lines:
                    offset += len(raw) + 1
                    yield raw.decode("utf-8", "replace"), offset
                continue
            if should_stop():
                return
            time.sleep(POLL_S)
    finally:
        if f is not None:
            f.close()


def run(events_path, to, run_name, config_path=None, state_path=None, managed=False):
    run_dir = os.path.dirname(os.path.abspath(events_path))
    state_path = state_path or os.path.join(run_dir, "sinks", f"{to}.json")
    stop = {"signal": False, "outcome": None, "error_at": None}
    parent = os.getppid()

    def on_signal(signum, _frame):
        stop["signal"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        module = __import__(CLIENTS[to].package)
    except ImportError:
        warn(f"report_to: {to} is set, but the {to} package is not installed in {sys.executable}; "
             f"metrics still go to events.jsonl, TensorBoard and the dashboard. Install it with: pip install {to}")
        return 0
    except Exception as e:  # noqa: BLE001 - a broken install is the user's to fix, not the run's
        warn(f"report_to: {to} could not be imported ({type(e).__name__}: {e}); the run trains without it.")
        return 0
    client = CLIENTS[to](module)
    state = load_json(state_path, {})
    state = state if isinstance(state, dict) else {}
    size = os.path.getsize(events_path) if os.path.exists(events_path) else 0
    offset = state.get("offset")
    offset = offset if isinstance(offset, int) and 0 <= offset <= size else 0  # a new or replaced file: from the start
    config = load_json(config_path, {}) if config_path else {}
    try:
        state["run_id"] = client.start(run_name, run_dir, config if isinstance(config, dict) else {}, state.get("run_id"))
    except Exception as e:  # noqa: BLE001 - a tracking service problem must not fail training
        warn(f"{to} could not start a run ({type(e).__name__}: {e}); the run trains without it.")
        return 0

    def should_stop():
        if stop["signal"] or os.getppid() != parent:
            return True
        return not managed and stop["error_at"] is not None and time.time() - stop["error_at"] > QUIET_AFTER_ERROR_S

    failing = False
    saved_at = 0.0
    for line, offset in follow(events_path, offset, should_stop):
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the supervisor reports unreadable lines; here they are just skipped
        if not isinstance(event, dict):
            continue
        s = scalars_of(event)
        if s and s[1]:
            try:
                client.log(s[1], s[0])
            except Exception as e:  # noqa: BLE001
                if not failing:
                    warn(f"{to} refused metrics at step {s[0]} ({type(e).__name__}: {e}); still trying.")
                failing = True
        if event.get("type") == "error":
            stop["outcome"] = "failed"
            stop["error_at"] = time.time()
        elif event.get("type") == "hello" and event.get("rank") == 0:
            stop["outcome"], stop["error_at"] = None, None  # a new attempt in the same file
        now = time.time()
        if now - saved_at > SAVE_EVERY_S:
            save_state(state_path, {**state, "offset": offset})
            saved_at = now
        if event.get("type") == "done":
            stop["outcome"] = "done"
            break
        if stop["error_at"] is not None:
            stop["error_at"] = time.time()  # quiet time counts from the last line
    save_state(state_path, {**state, "offset": offset})
    try:
        client.finish(stop["outcome"] or "stopped")
    except Exception as e:  # noqa: BLE001
        warn(f"{to} did not finish cleanly ({type(e).__name__}: {e}).")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m whet_worker.sink", description=__doc__.split("\n\n")[1])
    p.add_argument("--events", required=True, help="the run's events.jsonl")
    p.add_argument("--to", required=True, choices=sorted(CLIENTS))
    p.add_argument("--run-name", required=True)
    p.add_argument("--config", help="the resolved config to log (spec.json)")
    p.add_argument("--state", help="default: <run dir>/sinks/<to>.json")
    p.add_argument("--managed", action="store_true", help="started by whet train, which stops it: an error event does not end it")
    a = p.parse_args(argv)
    return run(a.events, a.to, a.run_name, a.config, a.state, a.managed)


if __name__ == "__main__":
    sys.exit(main())
