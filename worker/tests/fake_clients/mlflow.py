"""A stand-in for the mlflow package in tests: records each call as a JSON line in $FAKE_CLIENT_LOG."""

import json
import os


def _record(*call):
    with open(os.environ["FAKE_CLIENT_LOG"], "a") as f:
        f.write(json.dumps(call) + "\n")


class _Info:
    def __init__(self, run_id):
        self.run_id = run_id


class _ActiveRun:
    def __init__(self, run_id):
        self.info = _Info(run_id)


def start_run(run_id=None, run_name=None):
    _record("start_run", run_id, run_name)
    return _ActiveRun(run_id or "mlflow-run-1")


def log_params(params):
    _record("log_params", params)


def log_metrics(metrics, step=None):
    _record("log_metrics", metrics, step)


def end_run(status="FINISHED"):
    _record("end_run", status)
