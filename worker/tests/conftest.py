import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # whet_worker without installing

import shards  # noqa: E402

WORKER_DIR = os.path.dirname(HERE)
PYTHON = sys.executable


def worker_env(threads: int = 2) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = WORKER_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_worker(spec_path: str, nproc: int = 1, timeout: int = 180) -> subprocess.CompletedProcess:
    if nproc == 1:
        cmd = [PYTHON, "-m", "whet_worker", "train", "--spec", spec_path]
        env = worker_env(2)
    else:
        cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", str(nproc),
               "--max-restarts", "0", "-m", "whet_worker", "train", "--spec", spec_path]
        env = worker_env(1)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return shards.write_model(str(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="session")
def events_schema():
    with open(os.path.join(shards.REPO, "schema", "events.schema.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def validate_event(events_schema):
    import jsonschema

    validator = jsonschema.Draft202012Validator(events_schema)

    def check(ev: dict):
        errors = list(validator.iter_errors(ev))
        assert not errors, f"{ev.get('type')} event invalid: {errors[0].message}\n{ev}"

    return check
