"""The export holds what was trained, checked from outside the worker.

- Full fine-tuning: every exported tensor equals the final checkpoint's trained float32 weight
  cast to the save dtype (bfloat16 here), bit for bit; none is empty or missing.
- LoRA merged: every exported weight is base + B·A·scale within bfloat16 rounding, with B and A
  from the adapter-only export of the same (deterministic) run; the unmerged weights are not.
- LoRA-only export (merge_lora false): a PEFT adapter folder that peft loads onto the base, and
  that gives the merged export's logits.
"""

import os

import pytest
import torch
from safetensors.torch import load_file

import shards
from runs import train

BF16 = {"compute_dtype": "bfloat16", "master_dtype": "float32", "frozen_dtype": "bfloat16", "save_dtype": "bfloat16",
        "loss_scaling": False}
LORA = {"rank": 8, "alpha": 16, "dropout": 0.0, "targets": ["q_proj", "v_proj", "down_proj"]}
STEPS = 8


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """A tiny Llama with saved random weights, so the base of a LoRA run is a file we can read."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = shards.write_model(str(tmp_path_factory.mktemp("export-base")))
    cfg = shards.tiny_config()
    cfg["initializer_range"] = 0.1
    torch.manual_seed(3)
    LlamaForCausalLM(LlamaConfig(**{k: v for k, v in cfg.items() if k != "architectures"})).save_pretrained(folder)
    return folder


def _run(tmp, base, name, **over):
    return train(tmp, base, name=name, **{"model.random_init": False, "train.max_steps": STEPS, "precision": BF16, **over})


def _tensors(folder: str, name: str) -> dict:
    t = load_file(os.path.join(folder, name))
    empty = [k for k, v in t.items() if v.numel() == 0]
    assert t and not empty, f"{folder}/{name}: empty tensors {empty}"
    return t


def test_full_export_is_the_trained_weights(tmp_path, weights_dir):
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    spec, events, _ = _run(str(tmp_path), weights_dir, "full", **{"checkpoint.save_steps": STEPS, "train.learning_rate": 3e-3})
    assert events[-1]["type"] == "done"
    exported = _tensors(spec["export"]["dir"], "model.safetensors")
    flat = os.path.join(str(tmp_path), "ckpt.pt")
    dcp_to_torch_save(os.path.join(spec["checkpoint"]["dir"], f"step-{STEPS}"), flat)
    trained = torch.load(flat, weights_only=False)["model"]
    base = load_file(os.path.join(weights_dir, "model.safetensors"))
    assert set(exported) == set(base), set(exported) ^ set(base)
    for name, w in exported.items():
        t = trained[name]
        assert t.dtype == torch.float32 and w.dtype == torch.bfloat16, (name, t.dtype, w.dtype)
        assert torch.equal(w, t.to(torch.bfloat16)), f"{name}: export differs from the trained weight cast to bfloat16"
    moved = [n for n in exported if not torch.equal(exported[n], base[n].to(torch.bfloat16))]
    assert len(moved) == len(exported), f"untrained tensors in the export: {set(exported) - set(moved)}"


def test_lora_merged_is_base_plus_scaled_product_and_adapter_loads_in_peft(tmp_path, weights_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    lora = {"method.finetuning_type": "lora", "method.lora": LORA, "train.learning_rate": 2e-2}
    merged_spec, ev1, _ = _run(str(tmp_path), weights_dir, "merged", **lora)
    adapter_spec, ev2, _ = _run(str(tmp_path), weights_dir, "adapter", **lora, **{"export.merge_lora": False})
    assert [e["loss"] for e in ev1 if e["type"] == "step"] == [e["loss"] for e in ev2 if e["type"] == "step"], \
        "the two runs must be the same run"

    merged = _tensors(merged_spec["export"]["dir"], "model.safetensors")
    adapter_dir = adapter_spec["export"]["dir"]
    adapter = _tensors(adapter_dir, "adapter_model.safetensors")
    base = {k: v.to(torch.bfloat16) for k, v in load_file(os.path.join(weights_dir, "model.safetensors")).items()}
    assert set(merged) == set(base), set(merged) ^ set(base)
    assert not any("lora" in k for k in merged)

    scale = LORA["alpha"] / LORA["rank"]
    layers = shards.tiny_config()["num_hidden_layers"]
    merged_names = set()
    for key, a in adapter.items():
        if ".lora_A." not in key:
            continue
        b = adapter[key.replace(".lora_A.", ".lora_B.")]
        # base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight -> model.layers.0.self_attn.q_proj.weight
        name = key.replace("base_model.model.", "", 1).replace(".lora_A.weight", ".weight")
        delta = (b.float() @ a.float()) * scale
        want = base[name].float() + delta
        got = merged[name].float()
        # bfloat16 keeps 8 significant bits: the merged weight may be off by one rounding of the
        # sum (and one of the product, where it was rounded first).
        tol = 2.0**-8 * (want.abs() + delta.abs()) + 1e-6
        assert ((got - want).abs() <= tol).all(), f"{name}: max error {(got - want).abs().max():.3g}"
        # The check can fail: the adapters moved the weights by much more than a rounding.
        assert not ((base[name].float() - want).abs() <= tol).all(), f"{name}: the adapter barely changed it"
        merged_names.add(name)
    assert len(merged_names) == layers * len(LORA["targets"]), sorted(merged_names)
    for name in set(merged) - merged_names:
        assert torch.equal(merged[name], base[name]), f"{name} has no adapter but changed"

    # peft loads the adapter folder onto the base and computes what the merged export computes.
    ids = torch.tensor([[1, 300, 1000, 1037, 1074, 2]])
    base_model = AutoModelForCausalLM.from_pretrained(weights_dir, dtype=torch.bfloat16)
    peft_model = PeftModel.from_pretrained(base_model, adapter_dir).eval()
    merged_model = AutoModelForCausalLM.from_pretrained(merged_spec["export"]["dir"], dtype=torch.bfloat16).eval()
    plain = AutoModelForCausalLM.from_pretrained(weights_dir, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        got, want, untouched = (m(input_ids=ids).logits.float() for m in (peft_model, merged_model, plain))
    err, effect = (got - want).abs().max().item(), (want - untouched).abs().max().item()
    assert err < 0.1 * effect, f"peft on the adapter export vs merged export: {err:.3g}; the adapter's effect {effect:.3g}"
