"""Injected faults end as the right error event and exit code; SIGTERM stops with a checkpoint;
the heartbeat ends with the exit code; kill -9 mid-save never leaves a partial checkpoint that
looks complete. (A hung rank's heartbeat and SIGUSR1 stack dump: tests/e2e/faults.test.ts.)"""

import json
import os
import random
import signal
import subprocess
import time

import pytest

import shards
from conftest import PYTHON, worker_env
from runs import setup_run, train


@pytest.mark.parametrize(
    "kind, rc, code, phase",
    [("oom", 3, "OOM", "forward"), ("nan", 4, "NAN_LOSS", "forward"), ("raise", 1, "FAULT_INJECTED", "forward"), ("exit", 7, None, None)],
)
def test_fault(tmp_path, model_dir, validate_event, kind, rc, code, phase):
    _, events, r = train(str(tmp_path), model_dir, expect_rc=rc, **{"train.max_steps": 4, "fault": {"rank": 0, "step": 2, "kind": kind}})
    for e in events:
        validate_event(e)
    assert [e["step"] for e in events if e["type"] == "step"] == [1]
    assert not [e for e in events if e["type"] == "done"]
    errors = [e for e in events if e["type"] == "error"]
    if code is None:  # os._exit: the process dies without a word, as a killed rank would
        assert errors == []
        return
    assert len(errors) == 1 and events[-1] is errors[0]
    err = errors[0]
    assert err["code"] == code and err["phase"] == phase and err["step"] == 2, err
    if kind == "oom":
        assert "mem_peak_gib" in err and "out of memory" in err["message"].lower()
    if kind == "nan":
        assert "float32" in err["message"] and err["lr"] > 0
    assert "Traceback" not in r.stdout


def test_sigterm_checkpoints_and_exits_0(tmp_path, model_dir, validate_event):
    spec, path = setup_run(str(tmp_path), model_dir, **{"train.max_steps": 10000, "train.logging_steps": 1})
    proc = subprocess.Popen([PYTHON, "-m", "whet_worker", "train", "--spec", path], env=worker_env(2),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(e["type"] == "step" for e in shards.read_events(spec["events_path"])):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    events = shards.read_events(spec["events_path"])
    for e in events:
        validate_event(e)
    last_step = max(e["step"] for e in events if e["type"] == "step")
    warn = [e for e in events if e["type"] == "warning" and e["code"] == "INTERRUPTED"]
    ck = [e for e in events if e["type"] == "checkpoint"]
    assert len(warn) == 1 and len(ck) == 1 and ck[0]["step"] == last_step < 10000
    assert os.path.isfile(os.path.join(ck[0]["path"], "trainer_state.json"))
    assert not [e for e in events if e["type"] == "done"]


def _beat(folder, rank=0):
    try:
        with open(os.path.join(folder, f"rank-{rank}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def test_heartbeat_ends_with_the_exit_code(tmp_path, model_dir):
    beats = str(tmp_path / "beats")
    spec, path = setup_run(str(tmp_path), model_dir, **{"train.max_steps": 3})
    env = {**worker_env(2), "WHET_HEARTBEAT_DIR": beats, "WHET_HEARTBEAT_S": "0.2"}
    r = subprocess.run([PYTHON, "-m", "whet_worker", "train", "--spec", path], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    b = _beat(beats)
    assert b["phase"] == "exited" and b["exit_code"] == 0 and b["step"] == 3 and b["rank"] == 0
    assert b["time"] >= b["progress_time"] and b["pid"] > 0
    assert not [f for f in os.listdir(beats) if f.endswith(".tmp")]


# A child that does nothing but write checkpoints as fast as it can, resuming from the newest
# complete one; the test kills it with SIGKILL at random moments. Children fork from a forkserver
# that imported torch once (and never ran an op, so no thread pool is inherited).
def _saver(spec_path: str, conn) -> None:
    import torch

    from whet_worker import checkpoint
    from whet_worker.dist import Dist
    from whet_worker.events import Events
    from whet_worker.spec import load_spec

    torch.set_num_threads(1)
    spec = load_spec(spec_path)
    d = Dist(0, 1, 0, torch.device("cpu"))
    torch.manual_seed(0)
    model, opt, sched = _saver_state(spec)
    done = checkpoint.complete_checkpoints(spec.checkpoint.dir)
    step = checkpoint.load(d, model, opt, sched, done[-1][1], spec, Events(None, 0)) if done else 0
    conn.send(step)
    while True:
        step += 1
        model(torch.randn(8, 256)).square().mean().backward()
        opt.step()
        opt.zero_grad()
        sched.apply(step)
        checkpoint.save(d, model, opt, sched, step, spec)


def _saver_state(spec):
    import torch

    from whet_worker.optim import Schedule

    model = torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(4)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, opt, Schedule(opt, spec.train)


def test_kill_9_during_checkpoint_writes_never_leaves_a_partial_latest(tmp_path):
    import multiprocessing as mp

    import torch

    from whet_worker import checkpoint
    from whet_worker.dist import Dist
    from whet_worker.events import Events
    from whet_worker.spec import load_spec

    model_dir = shards.write_model(str(tmp_path / "model"))
    _, path = setup_run(str(tmp_path), model_dir, **{"checkpoint.save_total_limit": 3})
    spec = load_spec(path)
    root = spec.checkpoint.dir
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "whet_worker.checkpoint"])
    rng = random.Random(6)
    latest, mid_write = 0, 0
    for _ in range(20):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_saver, args=(path, child), daemon=True)
        proc.start()
        assert parent.poll(120), "the saver did not start"
        assert parent.recv() == latest  # resumed from the newest complete checkpoint
        time.sleep(rng.uniform(0.02, 0.4))
        mid_write += any(n.startswith(".tmp-") for n in os.listdir(root)) if os.path.isdir(root) else 0
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
        done = checkpoint.complete_checkpoints(root)
        newest = max(int(n[5:]) for n in os.listdir(root) if n.startswith("step-"))
        # The newest step-N folder is always complete (a kill mid-prune may leave an older one
        # half deleted, never the newest); half-written ones only ever carry the temporary name.
        assert done and done[-1][0] == newest >= latest, (os.listdir(root), done)
        latest = newest
        with open(os.path.join(done[-1][1], "trainer_state.json")) as f:
            assert json.load(f)["step"] == latest
    assert mid_write >= 5, f"only {mid_write} of 20 kills landed inside a write"

    # The newest checkpoint loads here too: model, optimizer and schedule.
    model, opt, sched = _saver_state(spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = checkpoint.load(Dist(0, 1, 0, torch.device("cpu")), model, opt, sched, done[-1][1], spec, Events(None, 0))
    assert step == latest and sched.last_step == latest
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert len(opt.state) > 0
