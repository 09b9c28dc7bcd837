"""Kill-and-resume: a run resumed from a checkpoint continues with bit-identical losses on CPU."""

import json
import os

import pytest

from runs import losses, train

LORA = {"rank": 4, "alpha": 8, "dropout": 0.2, "targets": ["q_proj", "v_proj", "down_proj"]}


@pytest.mark.parametrize("finetuning", ["full", "lora"])
def test_resume_is_exact(tmp_path, model_dir, validate_event, finetuning):
    common = {"train.max_steps": 8, "train.logging_steps": 1}
    if finetuning == "lora":
        # Dropout > 0 makes the result depend on the restored RNG state too.
        common.update({"method.finetuning_type": "lora", "method.lora": LORA, "train.learning_rate": 1e-2})
    full, ev_full, _ = train(str(tmp_path), model_dir, name="full", **common,
                             **{"checkpoint.save_steps": 3, "checkpoint.save_total_limit": 2})
    ckdir = full["checkpoint"]["dir"]
    # save_total_limit 2 keeps the newest two of step-3 and step-6; no temporary folder is left.
    assert sorted(os.listdir(ckdir)) == ["step-3", "step-6"]
    ck = [e for e in ev_full if e["type"] == "checkpoint"]
    assert [e["step"] for e in ck] == [3, 6] and all(e["size_bytes"] > 0 for e in ck)
    with open(os.path.join(ckdir, "step-3", "trainer_state.json")) as f:
        assert json.load(f)["step"] == 3

    _, ev_res, _ = train(str(tmp_path), model_dir, name="resumed", **common,
                         **{"checkpoint.resume_from": os.path.join(ckdir, "step-3")})
    for e in ev_res:
        validate_event(e)
    assert ev_res[0]["type"] == "hello" and ev_res[0]["start_step"] == 3
    a, b = losses(ev_full), losses(ev_res)
    assert sorted(b) == [4, 5, 6, 7, 8]
    for s in b:
        assert a[s] == b[s], (s, a[s], b[s])  # bit for bit


def test_resume_on_another_world_size(tmp_path, model_dir):
    common = {"train.max_steps": 6, "train.logging_steps": 1}
    full, ev_full, _ = train(str(tmp_path), model_dir, name="full", micro_batch_size=2, accumulation=2, world_size=1,
                             **common, **{"checkpoint.save_steps": 3})
    _, ev_res, _ = train(str(tmp_path), model_dir, name="two", nproc=2, micro_batch_size=1, accumulation=2, world_size=2,
                         **common, **{"checkpoint.resume_from": os.path.join(full["checkpoint"]["dir"], "step-3")})
    # Rank 1 has no RNG state in a 1-rank checkpoint, and says so.
    assert [(e["code"], e["rank"]) for e in ev_res if e["type"] == "warning"] == [("RESUME_RNG", 1)]
    a, b = losses(ev_full), losses(ev_res)
    assert sorted(b) == [4, 5, 6]
    for s in b:
        assert abs(a[s] - b[s]) <= 1e-4 * abs(a[s]), (s, a[s], b[s])
