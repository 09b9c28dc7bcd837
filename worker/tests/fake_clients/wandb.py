"""A stand-in for the wandb package in tests: records each call as a JSON line in $FAKE_CLIENT_LOG."""

import json
import os


def _record(*call):
    with open(os.environ["FAKE_CLIENT_LOG"], "a") as f:
        f.write(json.dumps(call) + "\n")


class _Run:
    def log(self, data, step=None):
        _record("log", data, step)

    def finish(self, exit_code=None):
        _record("finish", exit_code)


def init(**kwargs):
    _record("init", kwargs)
    return _Run()
