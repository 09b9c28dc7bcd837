"""The W&B / MLflow sidecar, on CPU, with test doubles of the client packages (fake_clients/)."""

import json
import os
import signal
import subprocess
import sys
import time

from whet_worker import sink

HERE = os.path.dirname(__file__)
WORKER_DIR = os.path.dirname(HERE)
FAKES = os.path.join(HERE, "fake_clients")


def ev(type_, rank=0, **fields):
    return {"type": type_, "time": 1700000000.0, "rank": rank, **fields}


def step(n, loss, **extra):
    return ev("step", step=n, total_steps=4, epoch=n / 4, loss=loss, lr=1e-4, grad_norm=0.5, trained_tokens=10, tokens=20,
              tokens_per_s=1000.0, step_time_s=0.5, data_time_s=0.01, mem_allocated_gib=1.0, mem_reserved_gib=2.0,
              mem_peak_gib=3.0, **extra)


HELLO = ev("hello", protocol=1, world_size=2, hostname="h", device="cpu", versions={}, trainable_params=1, total_params=1,
           start_step=0)


def write(path, events, mode="a"):
    with open(path, mode) as f:
        for e in events:
            f.write(json.dumps(e) + "\n")


def start(tmp_path, to, fakes=FAKES):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps({"run_id": "run-1", "train": {"learning_rate": 1e-4, "max_steps": 4}}))
    env = dict(os.environ, FAKE_CLIENT_LOG=str(tmp_path / "calls.jsonl"), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([fakes, WORKER_DIR]))
    argv = [sys.executable, "-m", "whet_worker.sink", "--events", str(run_dir / "events.jsonl"), "--to", to,
            "--run-name", "run-1", "--config", str(run_dir / "spec.json")]
    return run_dir, subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)


def calls(tmp_path):
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(what, ok, timeout=20):
    end = time.time() + timeout
    while not ok():
        assert time.time() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_tags_follow_the_shared_rule():
    s, scalars = sink.scalars_of(step(3, 1.5, mfu=0.4, comm_wait_time_s=0.1, note="x", flag=True))
    assert s == 3
    assert scalars["train/loss"] == 1.5 and scalars["memory/peak_gib"] == 3.0 and scalars["perf/mfu"] == 0.4
    assert scalars["perf/comm_wait_time_s"] == 0.1 and "perf/note" not in scalars and "perf/flag" not in scalars
    assert "perf/total_steps" not in scalars and "train/step" not in scalars
    assert sink.scalars_of(ev("eval", step=2, eval_loss=2.5)) == (2, {"eval/loss": 2.5})
    assert sink.scalars_of(step(3, 1.5) | {"rank": 1}) is None
    assert sink.scalars_of(HELLO) is None


def test_wandb_gets_every_step_and_eval_then_finishes_at_done(tmp_path):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    write(run_dir / "events.jsonl", [HELLO, HELLO | {"rank": 1}, step(1, 3.0), step(2, 2.0)])
    with open(run_dir / "events.jsonl", "a") as f:
        f.write("garbage that is not JSON\n")
    _, p = start(tmp_path, "wandb")
    wait_for("two steps", lambda: len([c for c in calls(tmp_path) if c[0] == "log"]) == 2)
    write(run_dir / "events.jsonl", [step(3, 1.5, mfu=0.41), ev("eval", step=3, eval_loss=1.7), step(4, 1.2),
                                     ev("done", run_dir=str(run_dir), steps=4, first_loss=3.0, last_loss=1.2, export_dir=None,
                                        elapsed_s=1.0)])
    assert p.wait(timeout=20) == 0, p.stderr.read()
    got = calls(tmp_path)
    init = got[0]
    assert init[0] == "init"
    assert init[1]["name"] == "run-1" and init[1]["resume"] == "allow" and init[1]["project"] == "whetstone"
    assert init[1]["config"]["train"]["max_steps"] == 4
    logs = [(c[2], c[1]) for c in got if c[0] == "log"]
    assert [s for s, _ in logs] == [1, 2, 3, 3, 4]
    assert logs[0][1]["train/loss"] == 3.0 and logs[2][1]["perf/mfu"] == 0.41 and logs[3][1] == {"eval/loss": 1.7}
    assert got[-1] == ["finish", 0]
    state = json.loads((run_dir / "sinks" / "wandb.json").read_text())
    assert state["run_id"] == init[1]["id"] and state["offset"] == os.path.getsize(run_dir / "events.jsonl")


def test_stopped_then_resumed_continues_the_same_run_without_repeating(tmp_path):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    write(run_dir / "events.jsonl", [HELLO, step(1, 3.0), step(2, 2.0)])
    _, p = start(tmp_path, "wandb")
    wait_for("two steps", lambda: len([c for c in calls(tmp_path) if c[0] == "log"]) == 2)
    write(run_dir / "events.jsonl", [step(3, 1.5)])  # written just before the stop: still logged
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 0
    first = calls(tmp_path)
    assert [c[2] for c in first if c[0] == "log"] == [1, 2, 3]
    assert first[-1] == ["finish", 0], "stopped to be resumed: not a failure"

    write(run_dir / "events.jsonl", [HELLO | {"start_step": 3}, step(4, 1.2),
                                     ev("done", run_dir=str(run_dir), steps=4, first_loss=3.0, last_loss=1.2, export_dir=None,
                                        elapsed_s=1.0)])
    _, p = start(tmp_path, "wandb")
    assert p.wait(timeout=20) == 0
    second = calls(tmp_path)[len(first):]
    assert second[0][1]["id"] == first[0][1]["id"], "the resumed run continues the same W&B run"
    assert [c[2] for c in second if c[0] == "log"] == [4]
    assert second[-1] == ["finish", 0]


def test_mlflow_gets_flat_params_metrics_and_a_failed_status(tmp_path):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    write(run_dir / "events.jsonl", [HELLO, step(1, 3.0),
                                     ev("error", code="OOM", message="out of memory", phase="forward", step=2, traceback=None)])
    _, p = start(tmp_path, "mlflow")
    assert p.wait(timeout=20) == 0, "an error event ends the sidecar after a quiet moment"
    got = calls(tmp_path)
    assert got[0] == ["start_run", None, "run-1"]
    assert got[1] == ["log_params", {"run_id": "run-1", "train.learning_rate": "0.0001", "train.max_steps": "4"}]
    assert got[2][0] == "log_metrics" and got[2][2] == 1 and got[2][1]["train/loss"] == 3.0
    assert got[-1] == ["end_run", "FAILED"]


def test_a_missing_client_is_a_warning_naming_pip_install(tmp_path):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    write(run_dir / "events.jsonl", [HELLO, step(1, 3.0)])
    absent = tmp_path / "absent"  # "not installed", even where the real package is
    absent.mkdir()
    (absent / "wandb.py").write_text("raise ImportError(\"No module named 'wandb'\")\n")
    _, p = start(tmp_path, "wandb", fakes=str(absent))
    assert p.wait(timeout=20) == 0
    err = p.stderr.read()
    assert "whet sink: warning: report_to: wandb is set, but the wandb package is not installed" in err
    assert "pip install wandb" in err
    assert calls(tmp_path) == []
