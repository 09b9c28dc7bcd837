"""bench/speed.py end to end on the CPU (--tiny): both sides train the same weights on the same rows.

The GPU numbers come from the device; here the plumbing is checked: one JSON with the fields the
issue asks for, every step's rows equal on both sides, and losses that agree far inside the 1% the
issue allows (float32 on the CPU: the two sides differ only by rounding). The tiny model's weights are
large enough that the loss depends on them and on the rows, so a wrong row, order, schedule or LoRA
start shows.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

import shards

REPO = shards.REPO
SCRIPT = os.path.join(REPO, "bench", "speed.py")
SHARED = os.path.dirname(os.path.dirname(shards.TOKENIZER_SRC))


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_speed", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    if not os.path.isfile(os.path.join(SHARED, "llamafactory", "alpaca_en_demo.json")):
        pytest.skip(f"no shared data at {SHARED}")
    tmp = tmp_path_factory.mktemp("speed")
    out = os.path.join(tmp, "speed.json")
    env = dict(os.environ, OMP_NUM_THREADS="2", TOKENIZERS_PARALLELISM="false")
    env.pop("OUT", None)
    r = subprocess.run([sys.executable, SCRIPT, "--tiny", "--device", "cpu", "--out", out, "--work", os.path.join(tmp, "work"),
                        "--shared", SHARED], env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    with open(out) as f:
        return json.load(f)


def test_one_json_with_hardware_versions_and_both_sides(result):
    assert result["complete"] is True
    assert "--tiny" in result["command"]
    assert {"python", "torch", "transformers", "peft"} <= set(result["versions"])
    assert result["hardware"]["cpus"] >= 1
    assert {"tokens_per_s", "mfu", "peak_memory", "loss"} <= set(result["definitions"])
    names = [c["case"] for c in result["cases"]]
    assert names == ["tiny-lora-alpaca", "tiny-full-lognormal"]
    steps = result["options"]["steps"]
    for case in result["cases"]:
        assert case["status"] == "ok", json.dumps({k: case[k].get("error") for k in ("whetstone", "baseline")})
        assert case["data"]["packing"] is False and case["data"]["rows"] >= case["rows_per_step"]
        assert case["flops_per_token"] > 0
        for side in ("whetstone", "baseline"):
            s = case[side]["summary"]
            assert s["status"] == "ok" and s["steps_done"] == steps
            assert s["tokens_per_s"] > 0 and s["tokens_per_s_aggregate"] > 0
            assert len(s["step_times_s"]) == steps and all(t > 0 for t in s["step_times_s"])
            assert s["step_time_p50_s"] <= s["step_time_p90_s"]
            assert len(s["losses"]) == steps
            assert s["mfu"] is None  # no GPU peak on the CPU
            for k in ("peak_allocated_gib", "peak_reserved_gib", "steps_peak_allocated_gib", "host_rss_peak_gib"):
                assert k in s
            assert s["host_rss_peak_gib"] > 0
        c = case["comparison"]
        assert c["tokens_per_s_ratio"] > 0
        assert case["goals"]["loss_agreement"]["met"] is True
    lora = result["cases"][0]
    assert lora["baseline"]["lora_init"].startswith("copied from Whetstone")
    assert lora["baseline"]["summary"]["padding_fraction"] > 0  # the baseline pads; varlen does not


def test_same_rows_and_losses_agree(result):
    for case in result["cases"]:
        c = case["comparison"]
        assert c["steps_compared"] == result["options"]["steps"]
        assert c["same_rows_every_step"] is True and c["same_tokens_every_step"] is True
        w, b = case["whetstone"]["summary"]["losses"], case["baseline"]["summary"]["losses"]
        assert abs(w[0] - b[0]) / abs(b[0]) <= 0.01  # the bound, at step 1
        assert c["loss_rel_diff_max"] <= 1e-3, (case["case"], w, b)
        # The loss moves from step to step by far more than the sides differ: agreement is not luck.
        spread = max(b) - min(b)
        assert spread / abs(b[0]) > 10 * c["loss_rel_diff_max"] and spread / abs(b[0]) > 1e-3, b
        assert max(x for x in c["grad_norm_rel_diff"] if x is not None) <= 1e-3


def test_flops_per_token_counts_the_models_matmuls():
    """docs/speed.md's formula, with M and the adapters counted from the modules transformers and peft build."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    bench = load_bench()
    shape = bench.SHAPES["1b"]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(LlamaConfig(**shape))
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))  # blocks and the (tied) head
    d = 200.0
    attn = 2 * shape["num_hidden_layers"] * shape["hidden_size"] * d
    assert bench.model_flops_per_token(shape, 0, d) == pytest.approx(6 * linear + 3 * attn, rel=1e-12)
    with torch.device("meta"):
        lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=bench.LINEARS))
    adapters = sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)
    assert bench.model_flops_per_token(shape, 8, d) == pytest.approx(4 * (linear + adapters) + 2 * adapters + 3 * attn, rel=1e-12)
    # The 8B shape's full fine-tuning figure: about 6 x 7.5e9 matmul weights.
    assert 4.4e10 < bench.model_flops_per_token(bench.SHAPES["8b"], 0, 0) < 4.6e10


def test_llamafactory_cut_shares_the_cutoff():
    bench = load_bench()
    assert bench.llamafactory_cut(100, 50, 1024) == (100, 50)
    src, tgt = bench.llamafactory_cut(900, 700, 1024)
    assert src + tgt == 1024 and tgt == int(1024 * 700 / 1600)
    assert bench.llamafactory_cut(300, 900, 1024) == (300, 724)
