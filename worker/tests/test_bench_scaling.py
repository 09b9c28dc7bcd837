"""bench/scaling.py end to end on the CPU: the real CLI with gloo processes, a tiny model, 3 steps.

The GPU numbers come from a multi-GPU machine; here the plumbing is checked in one invocation: weak scaling on
1 and 2 processes with the Trainer baseline beside it, a 2-process run continued on 1 process from its
checkpoint, and a rank SIGKILLed mid-run. The JSON must carry what the issue asks for, its efficiencies must be
the ones its own step records give, and the resumed losses must equal the uninterrupted run's (float32 on the
CPU, the global batch kept: they agree to rounding).
"""

import json
import os
import statistics
import subprocess
import sys

import pytest

import shards

REPO = shards.REPO
SCRIPT = os.path.join(REPO, "bench", "scaling.py")
SHARED = os.path.dirname(os.path.dirname(shards.TOKENIZER_SRC))
STEPS, WARMUP = 3, 1


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    if not os.path.isfile(os.path.join(SHARED, "tokenizers", "SmolLM2-135M-Instruct", "tokenizer.json")):
        pytest.skip(f"no shared tokenizer at {SHARED}")
    tmp = tmp_path_factory.mktemp("scaling")
    out = os.path.join(tmp, "scaling.json")
    env = dict(os.environ, WHET_PYTHON=sys.executable, TOKENIZERS_PARALLELISM="false")
    for k in ("OUT", "WHET_FAULT", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--gpus", "1,2", "--steps", str(STEPS), "--warmup",
                        str(WARMUP), "--cases", "8b-full-zero3,resume-4-to-2-8,kill-rank", "--sides", "whet,baseline",
                        "--resume-to", "1", "--kill-modes", "sigkill", "--out", out, "--work", os.path.join(tmp, "work"),
                        "--shared", SHARED, "--budget-s", "400"],
                       env=env, capture_output=True, text=True, timeout=420)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    with open(out) as f:
        return json.load(f)


def case(result, name):
    return next(c for c in result["cases"] if c["case"] == name)


def test_one_json_with_hardware_versions_and_commands(result):
    assert result["complete"] is True and "interrupted" not in result
    assert "--device cpu" in result["command"]
    assert {"python", "torch", "transformers", "peft", "node"} <= set(result["versions"])
    assert result["hardware"]["cpus"] >= 1
    assert {"tokens_per_s_per_gpu", "efficiency_vs_1", "mfu", "mem_peak_gib", "predicted_peak_gib"} <= set(result["definitions"])
    assert [c["case"] for c in result["cases"]] == ["8b-full-zero3", "resume", "kill-rank"]
    for c in result["cases"]:
        for run in c["runs"]:
            assert " train " in run["command"] and "--device cpu" in run["command"]


def test_weak_scaling_runs_and_efficiency_from_the_measured_steps(result):
    c = case(result, "8b-full-zero3")
    assert c["status"] == "ok", json.dumps([r.get("stderr_tail") for r in c["runs"]])[-3000:]
    assert c["shape_name"] == "tiny" and c["config"]["sharding"] == "zero3" and c["config"]["random_init"] is True
    assert [r["n"] for r in c["runs"]] == [1, 2]
    per_gpu = {}
    for run in c["runs"]:
        n = run["n"]
        assert run["status"] == "ok" and run["stopped_by_bench"] == "measured"
        assert run["resolved"]["world_size"] == n and run["hello"]["world_size"] == n
        assert run["resolved"]["micro_batch_size"] == 1 and run["resolved"]["global_batch_rows"] == n  # weak scaling
        assert [s["step"] for s in run["steps"]] == list(range(1, STEPS + 1))
        assert run["plan"]["predicted_peak_gib"] > 0 and "--gpus %d" % n in run["plan"]["command"]
        s = run["summary"]
        timed = [st for st in run["steps"] if st["step"] > WARMUP]
        expect = statistics.median(st["tokens"] / st["step_time_s"] for st in timed) / n
        assert s["tokens_per_s_per_gpu"] == pytest.approx(expect, rel=1e-9)
        assert s["steps_timed"] == STEPS - WARMUP
        assert s["mem_peak_gib"] > 0 and s["predicted_peak_gib"] == run["plan"]["predicted_peak_gib"]
        assert s["comm_wait_time_p50_s"] is not None and s["mfu"] is None  # no GPU peak on the CPU
        per_gpu[n] = expect
    sc = c["scaling"]
    assert sc["tokens_per_s_per_gpu"] == {str(n): pytest.approx(v) for n, v in per_gpu.items()}
    assert sc["efficiency_vs_1"]["2"] == pytest.approx(per_gpu[2] / per_gpu[1])
    goal = sc["goals"]["1->2"]
    assert goal["value"] == pytest.approx(per_gpu[2] / per_gpu[1]) and goal["met"] == (goal["value"] >= 0.95)


def test_baseline_on_one_and_two_processes_trains_the_same_tokens(result):
    c = case(result, "8b-full-zero3")
    whet = {r["n"]: r for r in c["runs"]}
    runs = c["baseline_runs"]
    assert [r["n"] for r in runs] == [1, 2]
    for b in runs:
        assert b["status"] == "ok", (b.get("error"), b.get("log_tail"))
        assert b["settings"]["processes"] == b["n"]
        assert ("torch.distributed.run" in b["command"]) == (b["n"] > 1)
        # the same rows of the same shard each step: the same real tokens as whet's run on that many processes
        assert [s["tokens"] for s in b["steps"]] == [s["tokens"] for s in whet[b["n"]]["steps"]]
        assert b["summary"]["tokens_per_s_per_gpu"] > 0
        assert b["whet_over_baseline_tokens_per_s"] == pytest.approx(
            whet[b["n"]]["summary"]["tokens_per_s_per_gpu"] / b["summary"]["tokens_per_s_per_gpu"])
    assert "1->2" in c["baseline_scaling"]["goals"]


def test_resume_on_another_process_count_continues_the_uninterrupted_losses(result):
    c = case(result, "resume")
    assert c["from_n"] == 2 and c["to_n"] == [1] and c["rtol"] == 1e-4
    roles = {r["role"]: r for r in c["runs"]}
    ref, stopped, resumed = roles["uninterrupted"], roles["stopped"], roles["resumed"]
    save = c["checkpoint_step"]
    assert ref["status"] == "ok" and [s["step"] for s in ref["steps"]] == [1, 2, 3, 4]
    # stopped by the injected exit at the step after the checkpoint: the supervisor reports it and exits non-zero
    assert stopped["exit_code"] not in (0, None) and [s["step"] for s in stopped["steps"]] == list(range(1, save + 1))
    assert c["stopped_checkpoints"] == [f"step-{save}"]
    assert resumed["status"] == "ok" and resumed["resolved"]["world_size"] == 1
    assert resumed["resolved"]["global_batch_rows"] == ref["resolved"]["global_batch_rows"]
    assert resumed["start_steps"] == [save]
    comp = c["comparison"]["1"]
    assert comp["steps_compared"] == list(range(save + 1, 5))
    ref_loss = {s["step"]: s["loss"] for s in ref["steps"]}
    for s in resumed["steps"]:
        assert s["loss"] == pytest.approx(ref_loss[s["step"]], rel=1e-4)
        assert comp["loss_rel_diff"][str(s["step"])] == pytest.approx(abs(s["loss"] - ref_loss[s["step"]]) / ref_loss[s["step"]])
    assert comp["within_rtol"] is True and c["status"] == "ok"


def test_a_killed_rank_is_reported_and_no_rank_is_left(result):
    c = case(result, "kill-rank")
    (run,) = c["runs"]
    assert run["rank_killed"]["rank"] == 1 and run["rank_killed"]["pid"] and "error" not in run["rank_killed"]
    assert run["status"] == "failed" and run["exit_code"] not in (0, None) and run["stopped_by_bench"] is None
    assert run["workers_left_running"] == []
    (sup,) = c["supervisor"]
    assert "RANK_DIED" in sup["codes"]
    assert any("rank 1" in line and "SIGKILL" in line for line in sup["message"]), sup["message"]
