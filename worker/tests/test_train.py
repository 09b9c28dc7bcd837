"""Single-process training end to end: loss falls, events follow the schema, export loads."""

import json
import os

import pytest
import torch

from runs import losses, train

LORA = {"rank": 8, "alpha": 16, "dropout": 0.0, "targets": ["all-linear"]}


def _check_events(events, validate_event, steps):
    for e in events:
        validate_event(e)
    types = [e["type"] for e in events]
    assert types[0] == "hello" and types[-1] == "done", types
    assert not [e for e in events if e["type"] in ("error", "warning")]
    assert sorted(losses(events)) == list(range(1, steps + 1))


def _check_export(spec, finetuning):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = spec["export"]["dir"]
    for f in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert os.path.isfile(os.path.join(out, f)), f
    assert not os.path.exists(out + ".tmp")
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == spec["model"]["vocab_size"]
    if finetuning == "lora":
        assert not any("lora" in k for k in model.state_dict())
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("The", return_tensors="pt").input_ids
    gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False, pad_token_id=2)
    assert gen.shape[1] == ids.shape[1] + 4


@pytest.mark.parametrize("finetuning", ["full", "lora"])
def test_loss_falls_and_export_loads(tmp_path, model_dir, validate_event, finetuning):
    over = {"train.max_steps": 30, "train.logging_steps": 1}
    if finetuning == "lora":
        over.update({"method.finetuning_type": "lora", "method.lora": LORA, "train.learning_rate": 1e-2,
                     "train.activation_checkpointing": {"mode": "full", "every": 1, "offload": False}})
    spec, events, r = train(str(tmp_path), model_dir, **over)
    _check_events(events, validate_event, 30)
    assert r.stdout == ""  # events go to the file only; logs to stderr
    ls = losses(events)
    first, last = sum(ls[s] for s in (1, 2, 3)) / 3, sum(ls[s] for s in (28, 29, 30)) / 3
    assert last < first - (2.0 if finetuning == "full" else 0.3), (first, last)
    hello = events[0]
    assert hello["versions"]["torch"] == torch.__version__ and hello["start_step"] == 0
    if finetuning == "lora":
        assert 0 < hello["trainable_params"] < hello["total_params"] / 50
    else:
        assert hello["trainable_params"] == hello["total_params"]
    done = events[-1]
    assert done["steps"] == 30 and done["first_loss"] == ls[1] and done["last_loss"] == ls[30]
    _check_export(spec, finetuning)


def test_lora_adapter_export(tmp_path, model_dir):
    spec, events, _ = train(str(tmp_path), model_dir, **{
        "train.max_steps": 3, "method.finetuning_type": "lora", "method.lora": {**LORA, "targets": ["q_proj", "v_proj"]},
        "export.merge_lora": False})
    out = spec["export"]["dir"]
    assert events[-1]["type"] == "done"
    with open(os.path.join(out, "adapter_config.json")) as f:
        cfg = json.load(f)
    assert sorted(cfg["target_modules"]) == ["q_proj", "v_proj"] and cfg["r"] == 8
    assert os.path.isfile(os.path.join(out, "adapter_model.safetensors"))
    assert os.path.isfile(os.path.join(out, "tokenizer.json"))


def test_step_breakdown_and_mfu(tmp_path, model_dir):
    """Step events split the step into data, forward+backward and optimizer time, and carry mfu
    when the spec gives a peak: real tokens/s × flops_per_token / (peak × ranks)."""
    spec, events, _ = train(str(tmp_path), model_dir, **{
        "train.max_steps": 3, "train.flops_per_token": 1.0e6, "distributed.peak_flops_per_rank": 1.0e12})
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 3
    for e in steps:
        parts = e["data_time_s"] + e["fwd_bwd_time_s"] + e["optimizer_time_s"]
        assert e["fwd_bwd_time_s"] > 0 and e["optimizer_time_s"] > 0
        assert parts == pytest.approx(e["step_time_s"], rel=1e-6)
        assert 0 <= e["comm_wait_time_s"] <= e["optimizer_time_s"]
        assert e["mfu"] == pytest.approx(e["tokens_per_s"] * 1.0e6 / 1.0e12, rel=1e-9)
    _, plain, _ = train(str(tmp_path), model_dir, name="no-peak", **{"train.max_steps": 1})
    assert all("mfu" not in e for e in plain if e["type"] == "step")
