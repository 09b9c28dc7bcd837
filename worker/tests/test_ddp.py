"""Two gloo processes under torchrun give the same per-step loss as one process, same global batch."""

import os

from runs import losses, train


def test_two_ranks_match_one(tmp_path, model_dir, validate_event):
    common = {"train.max_steps": 6, "train.logging_steps": 1, "checkpoint.save_steps": 3}
    _, one, _ = train(str(tmp_path), model_dir, name="one", micro_batch_size=2, accumulation=2, world_size=1, **common)
    spec, two, r = train(str(tmp_path), model_dir, name="two", nproc=2, micro_batch_size=1, accumulation=2, world_size=2, **common)
    for e in two:
        validate_event(e)
    hellos = [e for e in two if e["type"] == "hello"]
    assert sorted(h["rank"] for h in hellos) == [0, 1] and all(h["world_size"] == 2 for h in hellos)
    assert all(e["rank"] == 0 for e in two if e["type"] in ("step", "checkpoint", "done"))
    assert [e["type"] for e in two].count("done") == 1
    a, b = losses(one), losses(two)
    assert sorted(a) == sorted(b) == list(range(1, 7))
    for s in a:
        assert abs(a[s] - b[s]) <= 1e-4 * abs(a[s]), (s, a[s], b[s])
    assert a[6] < a[1]
    # Checkpoints of a 2-rank run hold one RNG file per rank and nothing temporary.
    ckpts = sorted(os.listdir(spec["checkpoint"]["dir"]))
    assert ckpts == ["step-3", "step-6"], ckpts
    files = os.listdir(os.path.join(spec["checkpoint"]["dir"], "step-6"))
    assert {"rng-rank-0.pkl", "rng-rank-1.pkl", "trainer_state.json", "spec.json", ".metadata"} <= set(files)
