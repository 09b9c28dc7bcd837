"""Test helper: one worker run from a fresh shard and spec, with its events read back."""

import os

import shards
from conftest import run_worker


def setup_run(tmp, model_dir, name="run", ndocs=64, seq_len=48, packing=True, **over):
    shard_dir = os.path.join(tmp, "shard")
    if not os.path.exists(os.path.join(shard_dir, "meta.json")):
        shards.write_shard(shard_dir, shards.synthetic_docs(ndocs), seq_len, packing)
    import json

    with open(os.path.join(shard_dir, "meta.json")) as f:
        meta = json.load(f)
    run_dir = os.path.join(tmp, name)
    spec = shards.make_spec(run_dir, model_dir, shard_dir, meta, **over)
    return spec, shards.write_spec(run_dir, spec)


def train(tmp, model_dir, name="run", nproc=1, expect_rc=0, **over):
    spec, path = setup_run(tmp, model_dir, name=name, **over)
    r = run_worker(path, nproc=nproc)
    events = shards.read_events(spec["events_path"])
    assert r.returncode == expect_rc, f"rc {r.returncode}\n{r.stderr[-4000:]}\n{events[-2:]}"
    return spec, events, r


def losses(events) -> dict:
    return {e["step"]: e["loss"] for e in events if e["type"] == "step"}
