"""Test-only builders: token shards in the contract format, a tiny model folder, a RunSpec."""

import json
import os
import shutil

import numpy as np

TOKENIZER_SRC = "/work/shared/data/tokenizers/SmolLM2-135M-Instruct"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VOCAB = 49152
PAD, EOS = 2, 2


def synthetic_docs(n: int, seed: int = 0, min_len: int = 6, max_len: int = 20, sft: bool = True):
    """Learnable documents: a 'key' prompt, then a sequence determined by the key, then EOS."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        key = int(rng.integers(0, 8))
        length = int(rng.integers(min_len, max_len + 1))
        prompt = [1, 300 + key]
        answer = [(1000 + key * 37 + 5 * j) % 4000 + 100 for j in range(length - 3)] + [EOS]
        ids = prompt + answer
        mask = ([0] * len(prompt) if sft else [0] + [1] * (len(prompt) - 1)) + [1] * len(answer)
        docs.append((ids, mask))
    return docs


def pack_rows(docs, seq_len: int, packing: bool):
    if not packing:
        return [[i] for i in range(len(docs))]
    rows, cur, used = [], [], 0
    for i, (ids, _) in enumerate(docs):
        if cur and used + len(ids) > seq_len:
            rows.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += len(ids)
    if cur:
        rows.append(cur)
    return rows


def write_shard(folder: str, docs, seq_len: int, packing: bool, rows=None) -> dict:
    os.makedirs(folder, exist_ok=True)
    rows = rows if rows is not None else pack_rows(docs, seq_len, packing)
    tokens, mask, offsets, row_docs = [], [], [0], [0]
    for row in rows:
        for d in row:
            ids, m = docs[d]
            assert len(ids) <= seq_len
            tokens += ids
            mask += [0] + list(m[1:])  # the contract: a document's first token is never a target
            offsets.append(len(tokens))
        row_docs.append(len(offsets) - 1)
    np.asarray(tokens, dtype="<u4").tofile(os.path.join(folder, "tokens.bin"))
    np.asarray(mask, dtype="u1").tofile(os.path.join(folder, "loss_mask.bin"))
    np.asarray(offsets, dtype="<u8").tofile(os.path.join(folder, "doc_offsets.bin"))
    np.asarray(row_docs, dtype="<u8").tofile(os.path.join(folder, "row_docs.bin"))
    meta = {
        "format_version": 1,
        "cache_key": "test",
        "tokenizer_hash": "test",
        "template": "test",
        "stage": "sft",
        "cutoff_len": seq_len,
        "packing": packing,
        "seq_len": seq_len,
        "num_docs": len(offsets) - 1,
        "num_rows": len(rows),
        "num_tokens": len(tokens),
        "trained_tokens": int(sum(mask)),
        "pad_token_id": PAD,
        "eos_token_id": EOS,
        "packing_efficiency": 1.0,
        "datasets": [],
        "created": "2024-01-01T00:00:00Z",
    }
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f)
    return meta


def tiny_config(vocab: int = VOCAB) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "vocab_size": vocab,
        "bos_token_id": 1,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "use_cache": True,
    }


def write_model(folder: str) -> str:
    """A tiny Llama folder: config.json only (random_init), with the SmolLM2 tokenizer copied in."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(tiny_config(), f)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(TOKENIZER_SRC, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(folder, name))
    return folder


def make_spec(run_dir: str, model_dir: str, shard_dir: str, meta: dict, **over) -> dict:
    """A complete RunSpec; `over` maps 'section.field' (or a top-level field) to a value."""
    world = over.pop("world_size", 1)
    mbs = over.pop("micro_batch_size", 2)
    acc = over.pop("accumulation", 2)
    spec = {
        "spec_version": 2,
        "run_id": os.path.basename(run_dir),
        "run_dir": run_dir,
        "events_path": os.path.join(run_dir, "events.jsonl"),
        "model": {
            "path": model_dir,
            "random_init": True,
            "tokenizer_path": model_dir,
            "architecture": "LlamaForCausalLM",
            "vocab_size": VOCAB,
            "pad_token_id": PAD,
            "eos_token_id": EOS,
            "attn_implementation": "sdpa",
        },
        "method": {"stage": "sft", "finetuning_type": "full", "lora": None},
        "data": {
            "shard_dir": shard_dir,
            "seq_len": meta["seq_len"],
            "packing": meta["packing"],
            "num_rows": meta["num_rows"],
            "num_tokens": meta["num_tokens"],
            "trained_tokens": meta["trained_tokens"],
        },
        "train": {
            "micro_batch_size": mbs,
            "gradient_accumulation_steps": acc,
            "global_batch_rows": mbs * acc * world,
            "max_steps": 10,
            "steps_per_epoch": meta["num_rows"] // (mbs * acc * world),
            "learning_rate": 3e-3,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 2,
            "min_lr_ratio": 0.1,
            "weight_decay": 0.01,
            "adam_beta1": 0.9,
            "adam_beta2": 0.95,
            "adam_epsilon": 1e-8,
            "max_grad_norm": 1.0,
            "seed": 1234,
            "logging_steps": 1,
            "flops_per_token": 0.0,
            "compile": False,
            "activation_checkpointing": {"mode": "none", "every": 1, "offload": False},
        },
        "precision": {
            "compute_dtype": "float32",
            "master_dtype": "float32",
            "frozen_dtype": "float32",
            "save_dtype": "float32",
            "loss_scaling": False,
        },
        "distributed": {
            "device": "cpu",
            "backend": "gloo",
            "strategy": "ddp",
            "offload": "none",
            "engine": "torch",
            "deepspeed_config": None,
            "peak_flops_per_rank": None,
            "world_size": world,
            "nproc_per_node": world,
            "nnodes": 1,
        },
        "checkpoint": {"dir": os.path.join(run_dir, "checkpoints"), "save_steps": 0, "save_total_limit": 0, "resume_from": None},
        "export": {"dir": os.path.join(run_dir, "export"), "merge_lora": True},
        "eval": None,
        "fault": None,
    }
    for key, value in over.items():
        if "." in key:
            section, field = key.split(".", 1)
            spec[section][field] = value
        else:
            spec[key] = value
    return spec


def write_spec(run_dir: str, spec: dict) -> str:
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    return path


def read_events(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
