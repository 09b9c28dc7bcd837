"""The final Hugging Face folder: weights in save_dtype, config, generation config, tokenizer.

The engine gathers every weight whole onto rank 0 (a collective); rank 0 fills an unwrapped copy
of the model in host memory with them and exports that, so DDP, FSDP2 shards, offloaded masters and
DeepSpeed all end in the same code. Written to a temporary folder and renamed, then loaded back
with transformers and compared with the trained weights, and test-generated; a model that fails
this is not called done.
"""

import os
import shutil

import torch

from .errors import WorkerError
from .model import DTYPES, build_model

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
)


def _fail(message: str):
    return WorkerError("EXPORT_FAILED", message, phase="export")


def rebuild(spec, state: dict, buffers: dict):
    """The trained model, unwrapped, in host memory: weights from `state`, buffers copied (the
    non-persistent ones, such as rotary tables, are in no state dict)."""
    model = build_model(spec, torch.device("cpu"), DTYPES[spec.precision.master_dtype], empty=True)
    bad = [k for k, v in state.items() if v.numel() == 0]
    if bad:
        raise _fail(f"gathered weights {bad[:4]} are empty")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes that do not match the config
        raise _fail(f"gathered weights do not fit the model: {e}") from e
    # A tied weight may come under one of its names only; tie_weights() restores the other.
    model.tie_weights()
    missing = [k for k in missing if k not in _tied_names(model)]
    if missing or unexpected:
        raise _fail(f"gathered weights do not fit the model: missing {missing[:4]}, unexpected {unexpected[:4]}")
    with torch.no_grad():
        for name, buf in model.named_buffers():
            buf.copy_(buffers[name])
    return model


def _tied_names(model) -> set[str]:
    seen, tied = {}, set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if p in seen:
            tied.add(name)
        seen.setdefault(p, name)
    return tied


def export(spec, model, device: torch.device, log=print) -> str:
    out = os.path.abspath(spec.export.dir)
    tmp = out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_dtype = DTYPES[spec.precision.save_dtype]
    model.eval()
    is_lora = spec.method.finetuning_type == "lora"
    adapter_only = is_lora and not spec.export.merge_lora
    if is_lora and not adapter_only:
        model = model.merge_and_unload()
    if not adapter_only:
        model = model.to(save_dtype)
        model.config.use_cache = True
    # One file, the name the contract and vLLM expect.
    model.save_pretrained(tmp, safe_serialization=True, max_shard_size="1000GB")
    _ensure_generation_config(model, tmp, spec)
    for name in TOKENIZER_FILES:
        src = os.path.join(spec.model.tokenizer_path, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(tmp, name))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    log(f"exported to {out}")
    if adapter_only:
        _verify_adapter(model, out)
        _smoke_generate(model, out, device, spec)
    else:
        _verify_full(model, out, device, save_dtype, spec)
    return out


def _ensure_generation_config(model, folder: str, spec) -> None:
    if os.path.isfile(os.path.join(folder, "generation_config.json")):
        return
    from transformers import GenerationConfig

    GenerationConfig(eos_token_id=spec.model.eos_token_id, pad_token_id=spec.model.pad_token_id).save_pretrained(folder)


def _trained_state(model) -> dict:
    return {k: v.detach() for k, v in model.state_dict().items()}


def _verify_full(model, folder: str, device, save_dtype, spec) -> None:
    from transformers import AutoModelForCausalLM

    if not os.path.isfile(os.path.join(folder, "model.safetensors")):
        raise _fail(f"{folder} has no model.safetensors")
    try:
        loaded, info = AutoModelForCausalLM.from_pretrained(folder, dtype=save_dtype, output_loading_info=True)
    except Exception as e:
        raise _fail(f"transformers cannot load {folder}: {e}") from e
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise _fail(f"loading {folder} reported {bad}")
    loaded = loaded.to(device)
    want = _trained_state(model)
    got = loaded.state_dict()
    for name, w in want.items():
        g = got.get(name)
        if g is None or g.numel() == 0 or g.shape != w.shape:
            raise _fail(f"{folder}: tensor {name} is missing, empty or misshapen after loading")
        # The export is the trained weights cast to save_dtype, so the round trip must be exact.
        if not torch.equal(g.to(w.dtype), w):
            diff = (g.float() - w.float()).abs().max().item()
            raise _fail(f"{folder}: tensor {name} differs from the trained weights (max abs diff {diff:g})")
    _smoke_generate(loaded, folder, device, spec)
    del loaded


def _verify_adapter(model, folder: str) -> None:
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    path = os.path.join(folder, "adapter_model.safetensors")
    if not os.path.isfile(path):
        raise _fail(f"{folder} has no adapter_model.safetensors")
    saved = load_file(path)
    trained = get_peft_model_state_dict(model)
    if not saved or set(saved) != set(trained):
        raise _fail(f"{folder}: adapter tensors {sorted(saved)[:4]}... do not match the trained LoRA tensors")
    for name, t in saved.items():
        if t.numel() == 0:
            raise _fail(f"{folder}: adapter tensor {name} is empty")
        if not torch.equal(t, trained[name].detach().to("cpu", t.dtype)):
            raise _fail(f"{folder}: adapter tensor {name} differs from the trained weights")


def _smoke_generate(model, folder: str, device, spec) -> None:
    ids = None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(folder)
        ids = tok("The", return_tensors="pt").input_ids
    except Exception:
        pass
    if ids is None or ids.numel() == 0:
        ids = torch.tensor([[spec.model.eos_token_id]])
    ids = ids.to(device)
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=8,
                do_sample=False,
                pad_token_id=spec.model.pad_token_id,
            )
    except Exception as e:
        raise _fail(f"test generation with the exported model failed: {e}") from e
    if out.shape[1] <= ids.shape[1]:
        raise _fail("test generation produced no tokens")
