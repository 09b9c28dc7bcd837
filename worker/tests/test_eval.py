"""Evaluation on the held-out split: the same eval loss on 1 and on 2 processes (zero3), with an
uneven number of rows per rank, reported every every_steps and after the last step."""

import os

import pytest

import shards
from runs import train


def _eval_spec(tmp, rows: int, mbs: int, every: int) -> dict:
    folder = os.path.join(tmp, "eval-shard")
    shards.write_shard(folder, shards.synthetic_docs(rows, seed=7), 48, False)
    return {"shard_dir": folder, "num_rows": rows, "every_steps": every, "micro_batch_size": mbs}


def _evals(events):
    return {e["step"]: e["eval_loss"] for e in events if e["type"] == "eval"}


def test_eval_loss_is_the_same_on_one_and_two_processes(tmp_path, model_dir):
    tmp = str(tmp_path)
    ev = _eval_spec(tmp, rows=7, mbs=2, every=2)  # 7 rows: 4 and 3 per rank, the last pass padded
    common = {"train.max_steps": 5, "micro_batch_size": 2, "eval": ev}
    _, one, _ = train(tmp, model_dir, name="one", **common)
    _, two, _ = train(tmp, model_dir, name="two", nproc=2, world_size=2,
                      **{**common, "micro_batch_size": 1, "distributed.strategy": "zero3"})
    a, b = _evals(one), _evals(two)
    assert sorted(a) == [2, 4, 5], "every 2 steps, and after the last"
    assert sorted(b) == sorted(a)
    for s in a:
        assert b[s] == pytest.approx(a[s], rel=1e-4), (s, a[s], b[s])
    assert [e["rank"] for e in two if e["type"] == "eval"] == [0, 0, 0], "rank 0 reports"
    assert a[5] < a[2], "the model learns the held-out documents' pattern too"
