"""Speed side by side: Whetstone and a Hugging Face Trainer baseline on one GPU, in one invocation.

One file on purpose: the GPU machine is bare and runs this script alone, and each side re-invokes
this same file in its own process (--side), so the parent, both sides and the tiny CPU test share
one set of definitions (shapes, data, FLOPs, JSON layout) that would otherwise be passed around.

Each case (shape, method, data) trains the same random-weight Llama twice, for a few optimizer steps:

  whetstone  whet_worker's Trainer, driven step by step from a RunSpec (the code `whet train` runs);
  baseline   transformers' Trainer set up as LLaMA-Factory sets it up for one GPU: rows padded to the
             longest in the micro-batch (then to a multiple of 8), sdpa attention, gradient
             checkpointing (reentrant, LLaMA-Factory's default), bf16 autocast, fused AdamW; LoRA by
             peft with its adapters upcast to float32 over a bfloat16 base; full fine-tuning in pure
             bfloat16 (LLaMA-Factory's pure_bf16: an 8B model with float32 weights and states does not
             fit one GPU beside Trainer's activations).

Both sides load one folder of bfloat16 safetensors (built once from a fixed seed), read one token
shard without packing (one sample per row) and take, at every optimizer step, the rows Whetstone's
StepSampler gives that step, in that order: the baseline through a sampler over the same row list,
with gradient accumulation chosen so the rows per optimizer step are equal. Whetstone may split the
step into other micro-batches (varlen attention flattens each into one row of real tokens). LoRA's
random A matrices are copied from Whetstone's model into the baseline's, so the two start equal.

Each side runs in its own process (its peak memory is its own; an out-of-memory is a result, not a
crash); this process assembles ONE JSON file, rewritten after every side, so a run cut short by
--budget-s or by the caller still leaves what it measured: per side real tokens/s (median over the
steps after the warm-up), MFU, step times (all, p50, p90), peak allocated and reserved GPU memory,
loss, gradient norm and rows per step; per case the whet/baseline ratios, the per-step relative loss
difference, and the issue's goals with whether each was met. Hardware, versions and the command line
come with it.

The baseline side also runs under torchrun, one process per GPU (bench/scaling.py does that): Trainer
then runs DDP, every rank takes the same row order and accelerate deals the micro-batches out in turn,
so a step still covers the same rows; rank 0 writes the result, each step's tokens and loss summed over
the ranks. A plan with "random_init" builds the model from config.json (seeded) instead of loading weights.

Data: "alpaca" is alpaca_en_demo.json rendered with the SmolLM2 tokenizer's chat template (user:
instruction + "\\n" + input, assistant: output), loss on the answer only, cut at --cutoff as
LLaMA-Factory cuts; "lognormal" is random token ids with lengths drawn lognormal (median
--lognormal-median, sigma --lognormal-sigma) clipped to [16, --cutoff], loss on the second half of
each sample.

MFU (docs/speed.md): real tokens/s x model FLOPs of a token / --peak-tflops (989: H100/H200 dense
bf16), FLOPs = 4·M + 2·T + 3·attn with M the matmul weights (blocks, head, adapters), T the trained
ones, attn = 2·L·h·(mean sample length); recomputation is not counted. The same number for both sides.

  . bench/device/unpack.sh                                  # on the bare GPU machine ($WHET_SHARED)
  python bench/speed.py --out $OUT --budget-s 500           # 8b-lora-alpaca, 8b-full-alpaca
  python bench/speed.py --out $OUT --cases 8b-lora-alpaca,8b-lora-alpaca-mb4 --budget-s 500
  python bench/speed.py --out /tmp/speed.json --tiny        # the same plumbing, tiny model, CPU ok

Cases are <shape>-<method>-<data>[-mb<N>][-ac<none|full|selective>][-eager]: shape 8b (Llama-3-8B),
1b (Llama-3.2-1B) or tiny; method lora or full; data alpaca or lognormal; -acX sets Whetstone's
activation checkpointing and -eager turns its compile off for that case; -mbN sets Whetstone's micro-batch rows for that case (-mb4
equals the baseline's rows per micro-batch: the peak-memory comparison). Model weights, shards and run
folders live under --work (default /tmp/whet-speed) and are reused; only the JSON goes to --out.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
import traceback

import numpy as np

STARTED = time.time()
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "worker"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record import hardware, versions, write_json  # noqa: E402

GIB = float(1 << 30)
PAD, EOS = 2, 2  # SmolLM2's <|im_end|>: the shards' pad and end-of-sequence id
TOKENIZER = "SmolLM2-135M-Instruct"
TOKENIZER_VOCAB = 49152
LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # LLaMA-Factory's lora_target all
LORA = {"rank": 8, "alpha": 16.0, "dropout": 0.0}

SHAPES = {
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192,
               tie_word_embeddings=False, initializer_range=0.02),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192,
               tie_word_embeddings=True, initializer_range=0.02),
    # The tokenizer's vocabulary; weights large enough that the loss depends on them and on the data,
    # so agreement between the sides means something.
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=TOKENIZER_VOCAB, rope_theta=10000.0, max_position_embeddings=2048,
                 tie_word_embeddings=True, initializer_range=0.1),
}
CASE_RE = re.compile(r"^(8b|1b|tiny)-(lora|full)-(alpaca|lognormal)(?:-mb(\d+))?(?:-ac(none|full|selective))?(-eager)?$")
DEFAULT_CASES = "8b-lora-alpaca,8b-full-alpaca"
TINY_CASES = "tiny-lora-alpaca,tiny-full-lognormal"
# The goals, by case prefix: whet/baseline real tokens/s, and Whetstone's MFU.
GOALS = {"8b-lora": {"tokens_per_s_ratio_min": 5.0}, "8b-full": {"tokens_per_s_ratio_min": 4.0, "mfu_min": 0.45}}
MEMORY_RATIO_MAX = 0.7
LOSS_REL_MAX = 0.01


# ---------------------------------------------------------------------------------------------
# data: token shards (docs/contracts.md), one sample per row


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()


def _file_sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def llamafactory_cut(source_len: int, target_len: int, cutoff: int) -> tuple[int, int]:
    """How LLaMA-Factory's infer_seqlen shares cutoff_len between prompt and answer."""
    if target_len * 2 < cutoff:
        max_target = cutoff
    elif source_len * 2 < cutoff:
        max_target = cutoff - source_len
    else:
        max_target = int(cutoff * (target_len / (source_len + target_len)))
    new_target = min(max_target, target_len)
    new_source = min(max(cutoff - new_target, 0), source_len)
    return new_source, new_target


def alpaca_docs(shared: str, cutoff: int) -> list[tuple[list[int], list[int]]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(os.path.join(shared, "tokenizers", TOKENIZER))
    with open(os.path.join(shared, "llamafactory", "alpaca_en_demo.json"), encoding="utf-8") as f:
        records = json.load(f)
    docs = []
    for r in records:
        prompt = r["instruction"] + ("\n" + r["input"] if r.get("input") else "")
        user = [{"role": "user", "content": prompt}]
        head = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(user + [{"role": "assistant", "content": r["output"]}], tokenize=False)
        assert full.startswith(head), "the chat template does not extend the prompt"
        src = tok.encode(head, add_special_tokens=False)
        tgt = tok.encode(full[len(head):], add_special_tokens=False)
        ns, nt = llamafactory_cut(len(src), len(tgt), cutoff)
        src, tgt = src[:ns], tgt[:nt]
        docs.append((src + tgt, [0] * len(src) + [1] * len(tgt)))
    return docs


def lognormal_docs(rows: int, median: float, sigma: float, cutoff: int, seed: int) -> list[tuple[list[int], list[int]]]:
    rng = np.random.default_rng([seed, 250])
    lengths = np.clip(np.rint(median * np.exp(sigma * rng.standard_normal(rows))), 16, cutoff).astype(int)
    docs = []
    for n in lengths:
        ids = rng.integers(3, TOKENIZER_VOCAB, size=int(n)).tolist()
        docs.append((ids, [0] * (n // 2) + [1] * (n - n // 2)))
    return docs


def write_shard(folder: str, docs, cutoff: int, describe: dict) -> dict:
    """One document per row; meta.json last, so a folder with it is complete."""
    tmp = folder + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    tokens, mask, offsets = [], [], [0]
    for ids, m in docs:
        assert 0 < len(ids) <= cutoff
        tokens += ids
        mask += [0] + list(m[1:])  # a document's first token is never a target
        offsets.append(len(tokens))
    np.asarray(tokens, dtype="<u4").tofile(os.path.join(tmp, "tokens.bin"))
    np.asarray(mask, dtype="u1").tofile(os.path.join(tmp, "loss_mask.bin"))
    np.asarray(offsets, dtype="<u8").tofile(os.path.join(tmp, "doc_offsets.bin"))
    np.arange(len(docs) + 1, dtype="<u8").tofile(os.path.join(tmp, "row_docs.bin"))
    meta = {"format_version": 1, "cache_key": os.path.basename(folder), "tokenizer_hash": describe["tokenizer_hash"],
            "template": describe["template"], "stage": "sft", "cutoff_len": cutoff, "packing": False, "seq_len": cutoff,
            "num_docs": len(docs), "num_rows": len(docs), "num_tokens": len(tokens), "trained_tokens": int(sum(mask)),
            "pad_token_id": PAD, "eos_token_id": EOS, "packing_efficiency": 1.0, "datasets": describe["datasets"],
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump(meta, f)
    if os.path.isdir(folder):
        import shutil

        shutil.rmtree(folder)
    os.rename(tmp, folder)
    return meta


def ensure_shard(kind: str, o) -> tuple[str, dict]:
    tok_dir = os.path.join(o.shared, "tokenizers", TOKENIZER)
    tok_hash = _file_sha(os.path.join(tok_dir, "tokenizer.json"))
    if kind == "alpaca":
        src = os.path.join(o.shared, "llamafactory", "alpaca_en_demo.json")
        key = _sha("alpaca", o.cutoff, tok_hash, _file_sha(src), _file_sha(os.path.join(tok_dir, "tokenizer_config.json")))
        describe = {"tokenizer_hash": tok_hash, "template": "SmolLM2 chat template", "datasets": [src],
                    "loss": "answer tokens (assistant turn, <|im_end|> included)"}
    else:
        params = {"rows": o.lognormal_rows, "median": o.lognormal_median, "sigma": o.lognormal_sigma, "seed": o.seed}
        key = _sha("lognormal", o.cutoff, params)
        describe = {"tokenizer_hash": "none", "template": "none", "datasets": [f"lognormal {params}"],
                    "loss": "second half of each sample", **params}
    folder = os.path.join(o.work, "shards", f"{kind}-{key[:16]}")
    meta_path = os.path.join(folder, "meta.json")
    if not os.path.exists(meta_path):
        docs = alpaca_docs(o.shared, o.cutoff) if kind == "alpaca" else \
            lognormal_docs(o.lognormal_rows, o.lognormal_median, o.lognormal_sigma, o.cutoff, o.seed)
        write_shard(folder, docs, o.cutoff, describe)
    with open(meta_path) as f:
        meta = json.load(f)
    lengths = np.diff(np.fromfile(os.path.join(folder, "doc_offsets.bin"), dtype="<u8").astype(np.int64))
    summary = {"kind": kind, "shard": folder, "loss_on": describe["loss"], "rows": meta["num_rows"],
               "tokens": meta["num_tokens"], "trained_tokens": meta["trained_tokens"], "cutoff": o.cutoff, "packing": False,
               "length_mean": float(lengths.mean()), "length_p50": float(np.percentile(lengths, 50)),
               "length_p90": float(np.percentile(lengths, 90)), "length_max": int(lengths.max()),
               "length_min": int(lengths.min())}
    if kind == "lognormal":
        summary.update(median_param=o.lognormal_median, sigma=o.lognormal_sigma)
    return folder, summary


# ---------------------------------------------------------------------------------------------
# model FLOPs (docs/speed.md, src/plan/speed.ts trainFlopsPerToken)


def model_flops_per_token(shape: dict, lora_rank: int, mean_doc_tokens: float) -> float:
    h, L, V = shape["hidden_size"], shape["num_hidden_layers"], shape["vocab_size"]
    heads, kv = shape["num_attention_heads"], shape["num_key_value_heads"]
    hd = shape.get("head_dim") or h // heads
    I = shape["intermediate_size"]
    linears = [(h, heads * hd), (h, kv * hd), (h, kv * hd), (heads * hd, h), (h, I), (h, I), (I, h)]
    lora = L * sum(lora_rank * (i + o) for i, o in linears) if lora_rank else 0
    matmul = L * sum(i * o for i, o in linears) + V * h + lora
    trained = lora if lora_rank else matmul
    attn = 2 * L * h * mean_doc_tokens
    return float(4 * matmul + 2 * trained + 3 * attn)


# ---------------------------------------------------------------------------------------------
# children: the weights, and one side of a case each


def model_config(shape_name: str) -> dict:
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "rms_norm_eps": 1e-5,
            "bos_token_id": 1, "eos_token_id": EOS, "pad_token_id": PAD, "attention_bias": False, "attention_dropout": 0.0,
            "mlp_bias": False, "use_cache": False, **SHAPES[shape_name]}


def child_make_weights(folder: str, shape_name: str, seed: int, device: str) -> None:
    """Random weights from the seed, drawn on `device` in bfloat16, saved with the tokenizer files."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    tmp = folder + ".tmp"
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    config = LlamaConfig(**{k: v for k, v in model_config(shape_name).items() if k not in ("architectures", "model_type")})
    config.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.to("cpu").save_pretrained(tmp, max_shard_size="4GB")
    tok_dir = os.path.join(os.environ["WHET_SPEED_SHARED"], "tokenizers", TOKENIZER)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.isfile(os.path.join(tok_dir, name)):
            shutil.copyfile(os.path.join(tok_dir, name), os.path.join(tmp, name))
    os.rename(tmp, folder)


def _norm_name(name: str) -> str:
    """A parameter name without the wrappers' levels (checkpointing, compile, DDP)."""
    return ".".join(p for p in name.split(".") if p not in ("_checkpoint_wrapped_module", "_orig_mod", "_fsdp_wrapped_module"))


def _memory(res: dict, device: str, prefix: str = "") -> None:
    import resource

    import torch

    res["host_rss_peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    if device == "cuda":
        res[prefix + "peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
        res[prefix + "peak_reserved_gib"] = torch.cuda.max_memory_reserved() / GIB


def _fail(res: dict, e: BaseException, phase: str) -> None:
    from whet_worker.errors import is_oom

    res["status"] = "oom" if is_oom(e) else "error"
    res["error"] = f"{type(e).__name__} in {phase}: {str(e)[:3000]}"
    res["traceback"] = traceback.format_exc()[-6000:]


def whet_spec(p: dict) -> dict:
    from whet_worker import SPEC_VERSION

    w, m, cuda = p["whet"], p["shard_meta"], p["device"] == "cuda"
    compute = p["compute_dtype"]
    run_dir = w["run_dir"]
    lora = p["method"] == "lora"
    return {
        "spec_version": SPEC_VERSION, "run_id": os.path.basename(run_dir), "run_dir": run_dir,
        "events_path": os.path.join(run_dir, "events.jsonl"),
        "model": {"path": p["model_dir"], "random_init": False, "tokenizer_path": p["model_dir"], "architecture": "LlamaForCausalLM",
                  "vocab_size": p["shape"]["vocab_size"], "pad_token_id": PAD, "eos_token_id": EOS, "attn_implementation": w["attn"]},
        "method": {"stage": "sft", "finetuning_type": p["method"],
                   "lora": {**LORA, "targets": LINEARS} if lora else None},
        "data": {"shard_dir": p["shard_dir"], "seq_len": m["seq_len"], "packing": m["packing"], "num_rows": m["num_rows"],
                 "num_tokens": m["num_tokens"], "trained_tokens": m["trained_tokens"]},
        "train": {"micro_batch_size": w["micro_batch"], "gradient_accumulation_steps": w["accumulation"],
                  "global_batch_rows": p["rows_per_step"], "max_steps": p["steps"], "steps_per_epoch": p["steps_per_epoch"],
                  "learning_rate": p["lr"], "lr_scheduler_type": p["schedule"], "warmup_steps": 0, "min_lr_ratio": 0.0,
                  **p["optim"], "seed": p["seed"], "logging_steps": 1, "flops_per_token": p["flops_per_token"],
                  "compile": w["compile"],
                  "activation_checkpointing": {"mode": w["checkpointing"], "every": w["ac_every"], "offload": False}},
        "precision": {"compute_dtype": compute, "master_dtype": "float32", "frozen_dtype": compute, "save_dtype": compute,
                      "loss_scaling": False},
        "distributed": {"device": p["device"], "backend": "nccl" if cuda else "gloo", "strategy": w["strategy"], "offload": "none",
                        "engine": "torch", "deepspeed_config": None, "peak_flops_per_rank": p["peak_flops"] if cuda else None,
                        "world_size": 1, "nproc_per_node": 1, "nnodes": 1},
        "checkpoint": {"dir": os.path.join(run_dir, "checkpoints"), "save_steps": 0, "save_total_limit": 0, "resume_from": None},
        "export": {"dir": os.path.join(run_dir, "export"), "merge_lora": False},
        "eval": None,
        "fault": None,
    }


def child_whet(p: dict, result_path: str) -> None:
    import torch

    from whet_worker import dist, metrics
    from whet_worker.data import Shard
    from whet_worker.events import Events
    from whet_worker.spec import load_spec
    from whet_worker.train import Progress, Trainer

    w = p["whet"]
    res = {"side": "whetstone", "status": "running", "steps": [], "device_name": _device_name(p["device"]),
           "settings": {k: w[k] for k in ("micro_batch", "accumulation", "attn", "compile", "checkpointing", "ac_every", "strategy")}
           | {"precision": f"{p['compute_dtype']} compute, float32 master weights and AdamW states",
              "lora_base_dtype": p["compute_dtype"] if p["method"] == "lora" else None,
              "cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF")}}
    os.makedirs(w["run_dir"], exist_ok=True)
    spec_path = os.path.join(w["run_dir"], "spec.json")
    write_json(spec_path, whet_spec(p))
    res["spec"] = spec_path
    t0 = time.time()
    progress = Progress()
    phase = "setup"
    try:
        spec = load_spec(spec_path)
        d = dist.setup(spec)
        trainer = Trainer(spec, d, Events(spec.events_path, 0), progress)
        res["setup_s"] = time.time() - t0
        res["trainable_params"], res["total_params"] = trainer.engine.trainable_params, trainer.engine.total_params
        describe = getattr(trainer.engine, "describe", None)
        if describe:
            res["engine"] = describe()
        if p["method"] == "lora" and p.get("lora_init_path"):
            init = {}
            for name, t in trainer.engine.model.named_parameters():
                if t.requires_grad and "lora_" in name:
                    t = t.full_tensor() if hasattr(t, "full_tensor") else t
                    init[_norm_name(name)] = t.detach().float().cpu()
            torch.save(init, p["lora_init_path"])
            res["lora_init_saved"] = len(init)
        if p["device"] == "cuda":
            torch.cuda.synchronize()
            _memory(res, "cuda", "setup_")
            torch.cuda.reset_peak_memory_stats()
            res["peak_reset_before_step_1"] = True
        shard = Shard(p["shard_dir"])
        lengths = [shard.row_counts([r])[0] for r in range(shard.num_rows)]
        mbs, acc = w["micro_batch"], w["accumulation"]
        failures = getattr(trainer.engine, "compile_failures", None)
        phase = "training"
        for step in range(1, p["steps"] + 1):
            rows = [int(r) for r in trainer.sampler.step_rows(step)]
            r = trainer.step(step)
            padded = None
            if w["attn"] != "varlen":  # rows padded to the longest of their micro-batch
                padded = sum(len(rows[i * mbs:(i + 1) * mbs]) * max(lengths[x] for x in rows[i * mbs:(i + 1) * mbs])
                             for i in range(acc))
            g = float(r.grad_norm) if r.grad_norm is not None else None
            res["steps"].append({"step": step, "loss": r.loss, "grad_norm": g if g is None or math.isfinite(g) else None,
                                 "lr": r.lr, "step_time_s": r.step_time_s, "data_time_s": r.data_time_s,
                                 "fwd_bwd_time_s": r.fwd_bwd_time_s, "optimizer_time_s": r.optimizer_time_s,
                                 "real_tokens": r.real_tokens, "trained_tokens": r.trained_tokens, "padded_tokens": padded,
                                 "rows": rows, **metrics.memory(d.device)})
            if failures:
                msgs = failures()
                if msgs:
                    res.setdefault("compile_failures", []).extend(msgs)
            write_json(result_path, res)
        res["status"] = "ok"
    except BaseException as e:  # noqa: BLE001: every failure is a result
        _fail(res, e, f"{phase} (worker phase {progress.phase}, step {progress.step})")
    res["wall_s"] = time.time() - t0
    _memory(res, p["device"], "end_")
    write_json(result_path, res)


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu"


def child_baseline(p: dict, result_path: str) -> None:
    import torch
    from torch.utils.data import Dataset, Sampler

    from whet_worker.data import IGNORE, Shard, StepSampler

    b, cuda = p["baseline"], p["device"] == "cuda"
    # Under torchrun (bench/scaling.py) Trainer runs DDP itself: every rank takes the same row order
    # and accelerate deals the micro-batches out in turn, so one optimizer step still covers the
    # step's rows; rank 0 alone writes the result, with the step's numbers summed over the ranks.
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda and world > 1:
        torch.cuda.set_device(local)
    write = (lambda: write_json(result_path, res)) if rank == 0 else (lambda: None)
    full_dtype = getattr(torch, b["full_dtype"])
    res = {"side": "baseline", "status": "running", "steps": [], "device_name": _device_name(p["device"]),
           "settings": {"trainer": "transformers.Trainer", "per_device_train_batch_size": b["micro_batch"],
                        "cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF"),
                        "gradient_accumulation_steps": b["accumulation"], "attn_implementation": "sdpa",
                        "gradient_checkpointing": True, "use_reentrant": b["reentrant"], "optim": "adamw_torch_fused",
                        "bf16": cuda, "padding": f"longest in micro-batch, to a multiple of {b['pad_multiple']}",
                        "weights": (f"{p['compute_dtype']} base, float32 adapters" if p["method"] == "lora"
                                    else f"{b['full_dtype'] if cuda else 'float32'} weights and AdamW states"),
                        "processes": world, "parallel": "DDP (Trainer under torchrun)" if world > 1 else "one process",
                        "init": "random from config.json (seeded)" if p.get("random_init") else "the folder's weights"}}
    t0 = time.time()
    phase = "setup"
    try:
        from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

        shard = Shard(p["shard_dir"])
        sampler = StepSampler(shard.num_rows, p["rows_per_step"], p["steps_per_epoch"], p["seed"])
        order = [int(r) for s in range(1, p["steps"] + 1) for r in sampler.step_rows(s)]
        feats = {}
        for r in set(order):
            ids, _, labels = shard.row(r)
            # Whetstone's labels[t] is the target of position t; transformers shifts inside the model.
            feats[r] = (torch.from_numpy(ids), torch.from_numpy(np.concatenate([[IGNORE], labels[:-1]])))

        class Rows(Dataset):
            def __len__(self):
                return shard.num_rows

            def __getitem__(self, r):
                return {"row": r, "input_ids": feats[r][0], "labels": feats[r][1]}

        class InOrder(Sampler):
            def __len__(self):
                return len(order)

            def __iter__(self):
                return iter(order)

        multiple = b["pad_multiple"]

        def collate(batch):  # DataCollatorForSeq2Seq as LLaMA-Factory configures it: right padding
            n = max(len(x["input_ids"]) for x in batch)
            n = -(-n // multiple) * multiple
            ids = torch.full((len(batch), n), PAD, dtype=torch.long)
            labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
            mask = torch.zeros((len(batch), n), dtype=torch.long)
            for i, x in enumerate(batch):
                k = len(x["input_ids"])
                ids[i, :k], labels[i, :k], mask[i, :k] = x["input_ids"], x["labels"], 1
            return {"input_ids": ids, "attention_mask": mask, "labels": labels, "bench_rows": [x["row"] for x in batch]}

        load_dtype = getattr(torch, p["compute_dtype"]) if p["method"] == "lora" else (full_dtype if cuda else torch.float32)
        torch.manual_seed(p["seed"])
        if p.get("random_init"):  # config.json only: drawn on the device (DDP then broadcasts rank 0's)
            from transformers import AutoConfig

            with torch.device(f"cuda:{local}" if cuda else "cpu"):
                model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(p["model_dir"]), dtype=load_dtype,
                                                         attn_implementation="sdpa")
        else:
            model = AutoModelForCausalLM.from_pretrained(p["model_dir"], dtype=load_dtype, attn_implementation="sdpa")
        model.config.use_cache = False
        if p["method"] == "lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=LORA["rank"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                                     target_modules=LINEARS, bias="none", task_type="CAUSAL_LM"))
            # LLaMA-Factory upcasts trainable parameters to float32 unless pure_bf16.
            for t in model.parameters():
                if t.requires_grad:
                    t.data = t.data.float()
            res["lora_init"] = "peft's own (seeded)"
            if p.get("lora_init_path") and os.path.exists(p["lora_init_path"]):
                init = torch.load(p["lora_init_path"])
                named = {_norm_name(n): t for n, t in model.named_parameters() if t.requires_grad}
                missing = sorted(set(named) - set(init))
                if missing or set(init) - set(named):
                    raise RuntimeError(f"LoRA init from Whetstone does not match: {len(missing)} of the baseline's adapters "
                                       f"missing (e.g. {missing[:2]}), {len(set(init) - set(named))} extra")
                with torch.no_grad():
                    for n, t in named.items():
                        t.copy_(init[n])
                res["lora_init"] = f"copied from Whetstone ({len(init)} tensors)"
        res["trainable_params"] = sum(t.numel() for t in model.parameters() if t.requires_grad)
        res["total_params"] = sum(t.numel() for t in model.parameters())

        clock = {"t": None, "loss": None, "rows": [], "real": 0, "padded": 0, "trained": 0}
        by_step = {}

        def sync():
            if cuda:
                torch.cuda.synchronize()

        class BenchTrainer(Trainer):
            def _get_train_sampler(self, *args, **kwargs):
                return InOrder()

            def training_step(self, model, inputs, num_items_in_batch=None):
                clock["rows"] += inputs.pop("bench_rows")
                m = inputs["attention_mask"]
                # Tensors, read once at the step's end: no GPU sync between micro-batches.
                clock["real"] = clock["real"] + m.sum()
                clock["padded"] += m.numel()
                clock["trained"] = clock["trained"] + (inputs["labels"][:, 1:] != IGNORE).sum()
                loss = super().training_step(model, inputs, num_items_in_batch)
                # With num_items_in_batch each micro-batch's loss is its token sum over the step's
                # trained tokens: the step's loss is their sum (Whetstone's definition).
                clock["loss"] = loss.detach().float() if clock["loss"] is None else clock["loss"] + loss.detach().float()
                return loss

        class Clock(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                sync()
                if cuda:
                    _memory(res, "cuda", "setup_")
                    torch.cuda.reset_peak_memory_stats()
                    res["peak_reset_before_step_1"] = True
                clock["t"] = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                sync()
                now = time.perf_counter()
                step = state.global_step
                loss, real, trained = clock["loss"].item(), int(clock["real"]), int(clock["trained"])
                padded, rows = clock["padded"], clock["rows"]
                mem = {}
                if cuda:
                    mem = dict(mem_allocated_gib=torch.cuda.memory_allocated() / GIB,
                               mem_reserved_gib=torch.cuda.memory_reserved() / GIB,
                               mem_peak_gib=torch.cuda.max_memory_allocated() / GIB)
                if world > 1:  # the step's rows, tokens and loss over every rank; memory: the fullest rank's
                    import torch.distributed as dist

                    dev = torch.device("cuda", local) if cuda else torch.device("cpu")
                    sums = torch.tensor([loss, real, trained, padded], dtype=torch.float64, device=dev)
                    dist.all_reduce(sums)
                    # Each rank's loss is its token sum over the step's trained tokens, times the world size.
                    loss, real, trained, padded = (sums[0].item() / world, int(sums[1].item()), int(sums[2].item()),
                                                   int(sums[3].item()))
                    if mem:
                        peaks = torch.tensor(list(mem.values()), dtype=torch.float64, device=dev)
                        dist.all_reduce(peaks, op=dist.ReduceOp.MAX)
                        mem = dict(zip(mem, peaks.tolist()))
                    gathered = [None] * world
                    dist.all_gather_object(gathered, rows)
                    rows = [r for part in gathered for r in part]
                entry = {"step": step, "loss": loss, "step_time_s": now - clock["t"], "real_tokens": real,
                         "padded_tokens": padded, "trained_tokens": trained, "rows": rows, **mem}
                by_step[step] = entry
                res["steps"].append(entry)
                clock.update(loss=None, rows=[], real=0, padded=0, trained=0)
                write()
                clock["t"] = time.perf_counter()  # the next step's interval: its data, logging and all

            def on_log(self, args, state, control, logs=None, **kw):
                e = by_step.get(state.global_step)
                if e is not None and logs:
                    for src, dst in (("loss", "trainer_logged_loss"), ("grad_norm", "grad_norm"), ("learning_rate", "lr")):
                        if src in logs:
                            e[dst] = float(logs[src])

        args = TrainingArguments(
            output_dir=b["output_dir"], per_device_train_batch_size=b["micro_batch"],
            gradient_accumulation_steps=b["accumulation"], max_steps=p["steps"], learning_rate=p["lr"],
            lr_scheduler_type=p["schedule"], warmup_steps=0, weight_decay=p["optim"]["weight_decay"],
            adam_beta1=p["optim"]["adam_beta1"], adam_beta2=p["optim"]["adam_beta2"], adam_epsilon=p["optim"]["adam_epsilon"],
            max_grad_norm=p["optim"]["max_grad_norm"], optim="adamw_torch_fused", bf16=cuda, use_cpu=not cuda,
            gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": b["reentrant"]},
            logging_steps=1, save_strategy="no", report_to="none", seed=p["seed"], dataloader_num_workers=0,
            remove_unused_columns=False, disable_tqdm=True,
            # LLaMA-Factory's setting for LoRA under DDP; with it unset, Trainer asks DDP to look for unused
            # parameters of the peft model, which reentrant checkpointing marks ready twice.
            ddp_find_unused_parameters=False if world > 1 else None)
        trainer = BenchTrainer(model=model, args=args, train_dataset=Rows(), data_collator=collate, callbacks=[Clock()])
        res["setup_s"] = time.time() - t0
        phase = "training"
        trainer.train()
        res["status"] = "ok"
    except BaseException as e:  # noqa: BLE001
        _fail(res, e, phase)
    res["wall_s"] = time.time() - t0
    _memory(res, p["device"], "end_")
    write()


# ---------------------------------------------------------------------------------------------
# the parent: plans, runs the children, assembles the JSON


def _pct(xs, q):
    return float(np.percentile(np.asarray(xs, dtype=float), q)) if xs else None


def summarize(side: dict, warmup: int, flops: float, peak: float | None) -> dict:
    steps = side.get("steps") or []
    timed = steps[warmup:]
    tps = [s["real_tokens"] / s["step_time_s"] for s in timed if s["step_time_s"] > 0]
    times = [s["step_time_s"] for s in steps]
    tt = [s["step_time_s"] for s in timed]
    median_tps = float(np.median(tps)) if tps else None
    agg = sum(s["real_tokens"] for s in timed) / sum(tt) if tt and sum(tt) > 0 else None
    real_per_step = [s["real_tokens"] for s in steps]
    out = {
        "status": side.get("status"),
        "steps_done": len(steps),
        "tokens_per_s": median_tps,
        "tokens_per_s_aggregate": agg,
        "mfu": median_tps * flops / peak if (median_tps and peak) else None,
        "step_times_s": times,
        "step_time_p50_s": _pct(tt, 50),
        "step_time_p90_s": _pct(tt, 90),
        "step_time_mean_s": float(np.mean(tt)) if tt else None,
        "step_time_min_s": min(tt) if tt else None,
        "step_time_max_s": max(tt) if tt else None,
        "real_tokens_per_step_mean": float(np.mean(real_per_step)) if steps else None,
        "losses": [s["loss"] for s in steps],
        "grad_norms": [s.get("grad_norm") for s in steps],
        "lrs": [s.get("lr") for s in steps],
    }
    padded = [s.get("padded_tokens") for s in steps]
    if steps and all(x is not None for x in padded):
        out["padding_fraction"] = 1 - sum(real_per_step) / max(1, sum(padded))
    for k in ("peak_allocated_gib", "peak_reserved_gib"):
        end, setup = side.get("end_" + k), side.get("setup_" + k)
        if side.get("peak_reset_before_step_1"):  # end_*: since the reset, so the steps' own peak
            out["steps_" + k] = end
            out[k] = max(x for x in (end, setup) if x is not None) if end is not None else setup
        else:  # the side ended before step 1: its peak is the setup's
            out["steps_" + k] = None
            out[k] = end
    out["host_rss_peak_gib"] = side.get("host_rss_peak_gib")
    return out


def compare(case: dict) -> dict:
    w, b = case["whetstone"].get("summary") or {}, case["baseline"].get("summary") or {}
    ws, bs = case["whetstone"].get("steps") or [], case["baseline"].get("steps") or []
    n = min(len(ws), len(bs))
    rel = [abs(ws[i]["loss"] - bs[i]["loss"]) / abs(bs[i]["loss"]) if bs[i]["loss"] else None for i in range(n)]
    rel_ok = [r for r in rel if r is not None]
    same_rows = [ws[i]["rows"] == bs[i]["rows"] for i in range(n)]
    same_tokens = [ws[i]["real_tokens"] == bs[i]["real_tokens"] and ws[i]["trained_tokens"] == bs[i]["trained_tokens"]
                   for i in range(n)]
    ratio = lambda a, c: (a / c) if (a is not None and c) else None  # noqa: E731
    c = {
        "steps_compared": n,
        "same_rows_every_step": all(same_rows) if n else None,
        "same_tokens_every_step": all(same_tokens) if n else None,
        "tokens_per_s_ratio": ratio(w.get("tokens_per_s"), b.get("tokens_per_s")),
        "tokens_per_s_aggregate_ratio": ratio(w.get("tokens_per_s_aggregate"), b.get("tokens_per_s_aggregate")),
        "peak_allocated_ratio": ratio(w.get("steps_peak_allocated_gib"), b.get("steps_peak_allocated_gib")),
        "peak_reserved_ratio": ratio(w.get("steps_peak_reserved_gib"), b.get("steps_peak_reserved_gib")),
        "loss_rel_diff": rel,
        "loss_rel_diff_max": max(rel_ok) if rel_ok else None,
        "grad_norm_rel_diff": [abs(ws[i]["grad_norm"] - bs[i]["grad_norm"]) / abs(bs[i]["grad_norm"])
                               if ws[i].get("grad_norm") is not None and bs[i].get("grad_norm") else None for i in range(n)],
    }
    wm, bm = case["whet_micro_batch"], case["baseline_micro_batch"]
    c["memory_comparable"] = wm == bm
    c["memory_note"] = (f"equal rows per micro-batch ({wm}); Whetstone computes only the real tokens, the baseline pads"
                        if wm == bm else
                        f"Whetstone micro-batch {wm} rows vs the baseline's {bm}: not the issue's equal-tokens comparison "
                        f"(add -mb{bm} to the case for it)")
    return c


def goals(case: dict) -> dict:
    c, w = case["comparison"], case["whetstone"].get("summary") or {}
    prefix = "-".join(case["case"].split("-")[:2])
    g = {}
    spec = GOALS.get(prefix, {})
    if "tokens_per_s_ratio_min" in spec:
        r = c["tokens_per_s_ratio"]
        g["tokens_per_s_ratio"] = {"min": spec["tokens_per_s_ratio_min"], "value": r,
                                   "met": None if r is None else r >= spec["tokens_per_s_ratio_min"]}
    if "mfu_min" in spec:
        m = w.get("mfu")
        g["whetstone_mfu"] = {"min": spec["mfu_min"], "value": m, "met": None if m is None else m >= spec["mfu_min"]}
    if c["memory_comparable"]:
        r = c["peak_allocated_ratio"]
        g["peak_memory_ratio"] = {"max": MEMORY_RATIO_MAX, "value": r, "met": None if r is None else r <= MEMORY_RATIO_MAX}
    m = c["loss_rel_diff_max"]
    g["loss_agreement"] = {"max_rel_diff": LOSS_REL_MAX, "value": m,
                           "met": None if m is None else (m <= LOSS_REL_MAX and bool(c["same_rows_every_step"]))}
    return g


class Runner:
    def __init__(self, o, out_path: str):
        self.o, self.out_path = o, out_path
        self.t0 = STARTED  # the budget counts this process's imports too
        self.current = None  # the running child
        self.baselines = {}  # baseline plan key -> (case name, side result): one baseline serves cases that differ only on Whetstone's side

    def remaining(self):
        return None if self.o.budget_s is None else self.o.budget_s - (time.time() - self.t0)

    def child(self, args: list[str], log_path: str, what: str):
        """Runs this script as a child in its own process group; returns (return code or 'timeout'/'skipped', seconds)."""
        rem = self.remaining()
        if rem is not None and rem < self.o.min_side_s:
            return "skipped", 0.0
        timeout = None if rem is None else max(1.0, rem - 5)
        cmd = [sys.executable, os.path.abspath(__file__), *args]
        print(f"== {what}: {' '.join(shlex.quote(a) for a in cmd)}" + (f" (timeout {timeout:.0f}s)" if timeout else ""), flush=True)
        t = time.time()
        with open(log_path, "w") as log:
            env = dict(os.environ, WHET_SPEED_SHARED=self.o.shared, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                       PYTHONUNBUFFERED="1")
            if self.o.device == "cuda":
                # One GPU: with more visible, Trainer would wrap the model in DataParallel.
                env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
                if args[:2] == ["--side", "whet"] and "PYTORCH_CUDA_ALLOC_CONF" not in os.environ and "PYTORCH_ALLOC_CONF" not in os.environ:
                    # What `whet train` sets (src/launch/torchrun.ts ALLOC_CONF); the baseline keeps
                    # torch's default allocator, as LLaMA-Factory does.
                    env["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
            self.current = proc
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = "timeout"
            finally:
                self.current = None
        return rc, time.time() - t

    def on_signal(self, doc: dict, signum: int) -> None:
        """Stopped from outside: the running side goes with this process, and the JSON says so."""
        if self.current is not None:
            try:
                os.killpg(self.current.pid, signal.SIGKILL)
            except OSError:
                pass
        doc["interrupted"] = f"signal {signum} after {time.time() - self.t0:.0f}s"
        for case in doc["cases"]:
            for key in ("whetstone", "baseline"):
                if isinstance(case.get(key), dict) and case[key].get("status") == "running":
                    case[key]["status"] = "interrupted"
        self.write(doc)
        os._exit(128 + signum)

    def weights(self, shape_name: str, device: str) -> str:
        key = _sha(model_config(shape_name), self.o.seed)[:12]
        folder = os.path.join(self.o.work, "models", f"{shape_name}-seed{self.o.seed}-{key}")
        if not os.path.isfile(os.path.join(folder, "config.json")):
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            log = folder + ".log"
            rc, secs = self.child(["--make-weights", folder, "--shape", shape_name, "--seed", str(self.o.seed), "--device", device],
                                  log, f"weights {shape_name}")
            if rc != 0 or not os.path.isfile(os.path.join(folder, "config.json")):
                raise RuntimeError(f"building the {shape_name} weights failed ({rc}): {_tail(log)}")
            print(f"== weights {shape_name}: {secs:.0f}s", flush=True)
        return folder

    def side(self, which: str, plan: dict, case_dir: str) -> dict:
        plan_path = os.path.join(case_dir, f"{which}-plan.json")
        result_path = os.path.join(case_dir, f"{which}-result.json")
        log_path = os.path.join(case_dir, f"{which}.log")
        if os.path.exists(result_path):
            os.remove(result_path)
        write_json(plan_path, plan)
        rc, secs = self.child(["--side", which, "--plan", plan_path, "--result", result_path], log_path, f"{plan['case']} {which}")
        res = {"status": "skipped (budget)"} if rc == "skipped" else {"status": "died"}
        if os.path.exists(result_path):
            with open(result_path) as f:
                res = json.load(f)
        if rc == "timeout":
            res["status"] = "timeout"
        elif rc not in (0, "skipped") and res.get("status") in ("running", "ok"):
            res["status"] = "died"
        if rc != "skipped":
            res["returncode"], res["process_s"] = rc, secs
            res["log"] = log_path
            if res["status"] != "ok":
                res["log_tail"] = _tail(log_path)
        return res

    def run_case(self, name: str, doc: dict) -> dict:
        o = self.o
        shape_name, method, data, mb, case_ac, eager = CASE_RE.match(name).groups()
        if o.tiny and shape_name != "tiny":
            shape_name, name = "tiny", "tiny" + name[len(shape_name):]
        shape = SHAPES[shape_name]
        device = o.device
        compute = "bfloat16" if device == "cuda" else "float32"
        G = o.rows_per_step
        whet_mb = int(mb) if mb else (o.whet_micro_batch or min(16, G))
        if G % whet_mb or G % o.baseline_micro_batch:
            raise ValueError(f"rows per step {G} must be a multiple of Whetstone's micro-batch {whet_mb} and the baseline's "
                             f"{o.baseline_micro_batch}")
        ac = case_ac or o.whet_checkpointing or ("none" if method == "lora" else "full")
        case = {"case": name, "shape_name": shape_name, "shape": shape, "method": method, "status": "preparing",
                "rows_per_step": G, "steps": o.steps, "warmup_steps": o.warmup,
                "whet_micro_batch": whet_mb, "baseline_micro_batch": o.baseline_micro_batch,
                "whetstone": {"status": "pending"}, "baseline": {"status": "pending"}}
        doc["cases"].append(case)
        self.write(doc)
        shard_dir, data_summary = ensure_shard(data, o)
        with open(os.path.join(shard_dir, "meta.json")) as f:
            meta = json.load(f)
        case["data"] = data_summary
        if meta["num_rows"] < G:
            raise ValueError(f"{data}: {meta['num_rows']} rows, fewer than the {G} rows of one step")
        flops = model_flops_per_token(shape, LORA["rank"] if method == "lora" else 0, meta["num_tokens"] / meta["num_docs"])
        peak = o.peak_tflops * 1e12 if device == "cuda" else None
        case.update(flops_per_token=flops, peak_flops=peak)
        model_dir = self.weights(shape_name, device)
        case["model_dir"] = model_dir
        case_dir = os.path.join(o.work, "runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{len(doc['cases'])}-{name}")
        os.makedirs(case_dir, exist_ok=True)
        lr = o.lr_lora if method == "lora" else o.lr_full
        plan = {"case": name, "method": method, "device": device, "compute_dtype": compute, "model_dir": model_dir,
                "shape": shape, "shard_dir": shard_dir, "shard_meta": meta, "rows_per_step": G, "steps": o.steps,
                "steps_per_epoch": meta["num_rows"] // G, "seed": o.seed, "lr": lr, "schedule": o.lr_schedule,
                "optim": {"weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "max_grad_norm": 1.0},
                "flops_per_token": flops, "peak_flops": peak,
                "lora_init_path": os.path.join(case_dir, "lora-init.pt") if method == "lora" else None,
                "whet": {"micro_batch": whet_mb, "accumulation": G // whet_mb, "attn": o.attn,
                         "compile": False if eager else o.compile if o.compile is not None else (device == "cuda" and not o.tiny),
                         "checkpointing": ac, "ac_every": o.whet_ac_every, "strategy": o.whet_full_strategy if method == "full" else "ddp",
                         "run_dir": os.path.join(case_dir, "whet-run")},
                "baseline": {"micro_batch": o.baseline_micro_batch, "accumulation": G // o.baseline_micro_batch,
                             "reentrant": o.baseline_reentrant, "pad_multiple": o.baseline_pad_multiple,
                             "full_dtype": o.baseline_full_dtype, "output_dir": os.path.join(case_dir, "hf-out")}}
        case["settings"] = {"lr": lr, "schedule": o.lr_schedule, "warmup": 0, **plan["optim"], "seed": o.seed,
                            "compute_dtype": compute, "device": device, "lora": {**LORA, "targets": LINEARS} if method == "lora" else None,
                            "whetstone": {k: v for k, v in plan["whet"].items() if k != "run_dir"},
                            "baseline": {k: v for k, v in plan["baseline"].items() if k != "output_dir"},
                            "work_dir": case_dir}
        case["status"] = "running"
        for which, key in (("whet", "whetstone"), ("baseline", "baseline")):
            if which not in o.sides:
                case[key] = {"status": "not run (--sides)"}
                continue
            reuse_key = None
            if which == "baseline":
                reuse_key = _sha({k: v for k, v in plan.items() if k not in ("case", "whet", "baseline", "lora_init_path")},
                                 {k: v for k, v in plan["baseline"].items() if k != "output_dir"})
                if reuse_key in self.baselines:
                    prev_name, prev = self.baselines[reuse_key]
                    case[key] = dict(prev, reused_from=prev_name)
                    continue
            case[key] = {"status": "running"}
            self.write(doc)
            res = self.side(which, plan, case_dir)
            res["summary"] = summarize(res, o.warmup, flops, peak)
            acc = plan[which]["accumulation"]
            if res["summary"]["real_tokens_per_step_mean"] is not None:
                res["summary"]["real_tokens_per_micro_batch_mean"] = res["summary"]["real_tokens_per_step_mean"] / acc
            case[key] = res
            if reuse_key and res.get("status") == "ok":
                self.baselines[reuse_key] = (name, res)
            self.write(doc)
        case["comparison"] = compare(case)
        case["goals"] = goals(case)
        sides = [case["whetstone"].get("status"), case["baseline"].get("status")]
        case["status"] = "ok" if all(s == "ok" for s in sides) else "incomplete"
        return case

    def write(self, doc: dict) -> None:
        doc["elapsed_s"] = time.time() - self.t0
        write_json(self.out_path, doc)


def _tail(path: str, n: int = 3000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def _die_with_parent() -> None:
    """A child runs in its own process group (so a timeout can end all of it); it must still not
    outlive this script when the script itself is killed, or it would hold the GPU."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent was gone before prctl
        os._exit(1)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", default=os.environ.get("OUT"), help="the JSON file, or a folder for speed.json (default $OUT)")
    ap.add_argument("--cases", help=f"comma-separated (default {DEFAULT_CASES}; with --tiny {TINY_CASES})")
    ap.add_argument("--tiny", action="store_true", help="every case on a tiny model; few rows and steps; the CPU without a GPU")
    ap.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda when torch sees one")
    ap.add_argument("--sides", default="whet,baseline", help="whet, baseline or both (default)")
    ap.add_argument("--steps", type=int, help="optimizer steps per side (default 12; --tiny 3)")
    ap.add_argument("--warmup", type=int, help="first steps left out of tokens/s and step-time percentiles (default 3; --tiny 1)")
    ap.add_argument("--rows-per-step", type=int, help="samples per optimizer step on both sides (default 16; --tiny 8)")
    ap.add_argument("--budget-s", type=float, help="total seconds; a side that cannot start with --min-side-s left is skipped, "
                                                   "one still running at the end is stopped and recorded as timeout")
    ap.add_argument("--min-side-s", type=float, default=40.0)
    ap.add_argument("--attn", choices=["varlen", "sdpa"], default="varlen", help="Whetstone's attention (default varlen)")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="torch.compile Whetstone's decoder blocks (default: on CUDA, not with --tiny)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--whet-micro-batch", type=int, help="Whetstone's rows per micro-batch (default 16, the rows of a step, at most; a case's -mbN wins)")
    ap.add_argument("--whet-checkpointing", choices=["none", "selective", "full"], help="default: LoRA none, full full")
    ap.add_argument("--whet-ac-every", type=int, default=2, help="selective checkpointing: every k-th block (default 2)")
    ap.add_argument("--whet-full-strategy", choices=["zero3", "ddp"], default="zero3", help="full fine-tuning on one GPU")
    ap.add_argument("--baseline-micro-batch", type=int, default=4, help="per_device_train_batch_size (default 4)")
    ap.add_argument("--baseline-reentrant", dest="baseline_reentrant", action="store_true", default=True,
                    help="reentrant gradient checkpointing (LLaMA-Factory's use_reentrant_gc default)")
    ap.add_argument("--no-baseline-reentrant", dest="baseline_reentrant", action="store_false")
    ap.add_argument("--baseline-pad-multiple", type=int, default=8, help="LLaMA-Factory pads training batches to a multiple of 8")
    ap.add_argument("--baseline-full-dtype", choices=["bfloat16", "float32"], default="bfloat16",
                    help="the baseline's weights for full fine-tuning (default pure bfloat16)")
    ap.add_argument("--lr-lora", type=float, default=1e-4)
    ap.add_argument("--lr-full", type=float, default=1e-5)
    ap.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    ap.add_argument("--cutoff", type=int, help="longest sample, the shards' seq_len (default 1024; --tiny 64)")
    ap.add_argument("--lognormal-median", type=float, help="default 250; --tiny 24")
    ap.add_argument("--lognormal-sigma", type=float, default=0.8)
    ap.add_argument("--lognormal-rows", type=int, help="default 1024; --tiny 256")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak for MFU (H100/H200: 989)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared", default=os.environ.get("WHET_SHARED") or os.path.join(REPO, "..", "shared", "data"),
                    help="the shared data folder (default $WHET_SHARED, else ../shared/data)")
    ap.add_argument("--work", default=os.environ.get("WHET_SPEED_WORK", "/tmp/whet-speed"),
                    help="weights, shards and run folders (default /tmp/whet-speed)")
    # children
    ap.add_argument("--side", choices=["whet", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--plan", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--make-weights", help=argparse.SUPPRESS)
    ap.add_argument("--shape", help=argparse.SUPPRESS)
    o = ap.parse_args(argv)
    tiny = o.tiny
    for name, full, small in (("steps", 12, 3), ("warmup", 3, 1), ("rows_per_step", 16, 8), ("cutoff", 1024, 64),
                              ("lognormal_median", 250.0, 24.0), ("lognormal_rows", 1024, 256)):
        if getattr(o, name) is None:
            setattr(o, name, small if tiny else full)
    o.cases = o.cases or (TINY_CASES if tiny else DEFAULT_CASES)
    o.sides = [s.strip() for s in o.sides.split(",") if s.strip()]
    if o.make_weights or o.side:
        return ap, o
    if not o.out:
        ap.error("--out is required when $OUT is not set")
    bad = [c for c in o.cases.split(",") if not CASE_RE.match(c.strip())]
    if bad:
        ap.error(f"unknown case(s) {bad}: <8b|1b|tiny>-<lora|full>-<alpaca|lognormal>[-mbN][-acX][-eager]")
    if set(o.sides) - {"whet", "baseline"} or not o.sides:
        ap.error("--sides: whet, baseline or whet,baseline")
    if o.warmup >= o.steps:
        ap.error("--warmup must be below --steps")
    o.shared = os.path.abspath(o.shared)
    o.work = os.path.abspath(o.work)
    return ap, o


def main(argv=None) -> int:
    ap, o = parse_args(argv)
    if o.make_weights or o.side:
        _die_with_parent()
    if o.make_weights:
        child_make_weights(o.make_weights, o.shape, o.seed, o.device or "cpu")
        return 0
    if o.side:
        with open(o.plan) as f:
            plan = json.load(f)
        (child_whet if o.side == "whet" else child_baseline)(plan, o.result)
        sys.stdout.flush()
        # Skip interpreter teardown: process groups and pinned buffers only slow it down.
        os._exit(0)

    out_path = o.out if o.out.endswith(".json") else os.path.join(o.out, "speed.json")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    os.makedirs(o.work, exist_ok=True)
    if not o.device:
        import torch

        o.device = "cuda" if torch.cuda.is_available() else "cpu"
    doc = {
        "benchmark": "Whetstone vs Hugging Face Trainer (LLaMA-Factory settings), one GPU",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "options": {k: v for k, v in vars(o).items() if k not in ("side", "plan", "result", "make_weights", "shape")},
        "hardware": hardware(),
        "versions": versions(),
        "env": {k: os.environ.get(k) for k in ("PYTORCH_CUDA_ALLOC_CONF", "NCCL_NVLS_ENABLE", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")},
        "definitions": {
            "tokens_per_s": "real (non-padding) tokens of a step / its wall time; the median over the steps after the warm-up",
            "step_times": "step_times_s: every step, the warm-up included; step_time_p50_s, _p90_s, _mean_s, _min_s, _max_s: "
                          "the steps after the warm-up",
            "step_time_s": "Whetstone: Trainer.step (data, forward+backward, optimizer; GPU drained). Baseline: from one "
                           "optimizer step's end to the next (GPU drained at both ends): its data, micro-batches, clipping, "
                           "optimizer and Trainer's per-step logging",
            "mfu": "tokens_per_s x flops_per_token / peak_flops; flops_per_token = 4*M + 2*T + 3*attn (docs/speed.md): M the "
                   "matmul weights (blocks, output head, adapters), T the trained ones, attn = 2*L*h*mean sample length; "
                   "recomputation not counted",
            "peak_memory": "torch.cuda max allocated/reserved; steps_*: since the peak was reset before step 1; "
                           "peak_*: the whole side process",
            "loss": "per step: the token sum of the cross-entropy over the step's trained tokens divided by their number "
                    "(both sides)",
            "loss_rel_diff": "|whetstone - baseline| / baseline per step",
        },
        "goals": {"8b-lora tokens_per_s_ratio_min": 5.0, "8b-full tokens_per_s_ratio_min": 4.0, "8b-full whetstone mfu_min": 0.45,
                  "peak_memory_ratio_max (equal rows per micro-batch)": MEMORY_RATIO_MAX, "loss_rel_diff_max": LOSS_REL_MAX},
        "cases": [],
        "complete": False,
    }
    runner = Runner(o, out_path)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: runner.on_signal(doc, signum))
    runner.write(doc)
    for name in [c.strip() for c in o.cases.split(",") if c.strip()]:
        before = len(doc["cases"])
        try:
            case = runner.run_case(name, doc)
        except Exception as e:  # noqa: BLE001: the next case may still run
            if len(doc["cases"]) == before:
                doc["cases"].append({"case": name})
            case = doc["cases"][-1]
            case.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-4000:])
        runner.write(doc)
        w, b = case.get("whetstone", {}).get("summary") or {}, case.get("baseline", {}).get("summary") or {}
        c = case.get("comparison") or {}
        print(f"== {name}: {case['status']}; tokens/s whet {w.get('tokens_per_s')} baseline {b.get('tokens_per_s')} "
              f"(x{c.get('tokens_per_s_ratio')}); MFU whet {w.get('mfu')} baseline {b.get('mfu')}; peak GiB whet "
              f"{w.get('steps_peak_allocated_gib')} baseline {b.get('steps_peak_allocated_gib')}; loss max rel diff "
              f"{c.get('loss_rel_diff_max')}", flush=True)
    doc["complete"] = True
    runner.write(doc)
    print(json.dumps({"wrote": out_path}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
