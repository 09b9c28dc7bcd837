"""Injected faults end as the right error event and exit code; SIGTERM stops with a checkpoint."""

import os
import signal
import subprocess
import time

import pytest

import shards
from conftest import PYTHON, worker_env
from runs import setup_run, train


@pytest.mark.parametrize(
    "kind, rc, code, phase",
    [("oom", 3, "OOM", "forward"), ("nan", 4, "NAN_LOSS", "forward"), ("raise", 1, "FAULT_INJECTED", "forward"), ("exit", 3, None, None)],
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
