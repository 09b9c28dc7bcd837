"""ZeRO-3 full fine-tuning of a Llama-3-8B-shaped model on one GPU, through the worker's own code.

Each case writes a RunSpec (random_init, bf16 compute, fp32 masters, strategy zero3, activation
checkpointing full, micro-batch 1 x 2048 packed synthetic tokens) and drives whet_worker's Trainer,
the object `python -m whet_worker train` runs, for a few optimizer steps (no checkpoint, no export),
then writes <out>/<case>.json: peak GPU memory, tokens/s (median of the steps after 2 warm-up),
host RSS peak, the step losses, hardware, versions and the command. An out-of-memory is recorded as
such, not hidden.

  python bench/zero3-8b.py --out DIR --case offload-optimizer   # fp32 masters + AdamW on the host
  python bench/zero3-8b.py --out DIR --case offload-all         # + weight shards (params+optimizer)
  python bench/zero3-8b.py --out DIR --case no-offload          # everything on the GPU, if it fits
  python bench/zero3-8b.py --out DIR --all                      # each case in its own process
  python bench/zero3-8b.py --out DIR --all --tiny               # the same plumbing, tiny model (CPU ok)

--out defaults to $OUT. Host RAM: offload-all keeps ~16 bytes per parameter in host memory
(~128 GB for 8B), offload-optimizer ~12.
"""

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "worker"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record import hardware  # noqa: E402

CASES = {"offload-optimizer": "optimizer", "offload-all": "params+optimizer", "no-offload": "none"}
LLAMA3_8B = dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                 intermediate_size=14336, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, vocab_size=512, rope_theta=10000.0, max_position_embeddings=512)
STEPS, WARMUP = 6, 2
GIB = float(1 << 30)


def write_model(folder: str, shape: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "rms_norm_eps": 1e-5,
              "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "attention_bias": False,
              "mlp_bias": False, "initializer_range": 0.02, "use_cache": False, **shape}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def write_shard(folder: str, seq_len: int, rows: int, vocab: int) -> dict:
    """Rows of four documents of seq_len/4 random tokens each (the token-shard contract)."""
    os.makedirs(folder, exist_ok=True)
    doc, docs = seq_len // 4, rows * 4
    tokens = np.random.default_rng(0).integers(3, vocab, size=docs * doc, dtype=np.uint32)
    mask = np.ones(docs * doc, dtype=np.uint8)
    mask[::doc] = 0  # a document's first token is never a target
    tokens.astype("<u4").tofile(os.path.join(folder, "tokens.bin"))
    mask.tofile(os.path.join(folder, "loss_mask.bin"))
    np.arange(0, docs * doc + 1, doc, dtype="<u8").tofile(os.path.join(folder, "doc_offsets.bin"))
    np.arange(0, docs + 1, 4, dtype="<u8").tofile(os.path.join(folder, "row_docs.bin"))
    meta = {"format_version": 1, "cache_key": "bench", "tokenizer_hash": "none", "template": "none", "stage": "pt",
            "cutoff_len": seq_len, "packing": True, "seq_len": seq_len, "num_docs": docs, "num_rows": rows,
            "num_tokens": docs * doc, "trained_tokens": int(mask.sum()), "pad_token_id": 2, "eos_token_id": 2,
            "packing_efficiency": 1.0, "datasets": [], "created": "2026-01-01T00:00:00Z"}
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f)
    return meta


def make_spec(run_dir: str, model_dir: str, shard_dir: str, meta: dict, vocab: int, offload: str, cuda: bool) -> dict:
    from whet_worker import SPEC_VERSION

    return {
        "spec_version": SPEC_VERSION, "run_id": os.path.basename(run_dir), "run_dir": run_dir,
        "events_path": os.path.join(run_dir, "events.jsonl"),
        "model": {"path": model_dir, "random_init": True, "tokenizer_path": model_dir, "architecture": "LlamaForCausalLM",
                  "vocab_size": vocab, "pad_token_id": 2,
                  "eos_token_id": 2, "attn_implementation": "sdpa"},
        "method": {"stage": "pt", "finetuning_type": "full", "lora": None},
        "data": {k: meta[k] for k in ("seq_len", "packing", "num_rows", "num_tokens", "trained_tokens")} | {"shard_dir": shard_dir},
        "train": {"micro_batch_size": 1, "gradient_accumulation_steps": 1, "global_batch_rows": 1, "max_steps": STEPS,
                  "steps_per_epoch": meta["num_rows"], "learning_rate": 1e-5, "lr_scheduler_type": "constant", "warmup_steps": 0,
                  "min_lr_ratio": 0.0, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.95, "adam_epsilon": 1e-8,
                  "max_grad_norm": 1.0, "seed": 0, "logging_steps": 1, "flops_per_token": 0.0, "compile": False,
                  "activation_checkpointing": {"mode": "full", "every": 1, "offload": False}},
        "precision": {"compute_dtype": "bfloat16", "master_dtype": "float32", "frozen_dtype": "bfloat16", "save_dtype": "bfloat16",
                      "loss_scaling": False},
        "distributed": {"device": "cuda" if cuda else "cpu", "backend": "nccl" if cuda else "gloo", "strategy": "zero3",
                        "offload": offload, "engine": "torch", "deepspeed_config": None, "peak_flops_per_rank": None, "world_size": 1, "nproc_per_node": 1, "nnodes": 1},
        "checkpoint": {"dir": os.path.join(run_dir, "checkpoints"), "save_steps": 0, "save_total_limit": 0, "resume_from": None},
        "export": {"dir": os.path.join(run_dir, "export"), "merge_lora": False},
        "eval": None,
        "fault": None,
    }


def _memory(cuda: bool) -> dict:
    import torch

    m = {"host_rss_peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB}
    if cuda:
        m.update(peak_allocated_gib=torch.cuda.max_memory_allocated() / GIB, peak_reserved_gib=torch.cuda.max_memory_reserved() / GIB)
    return m


def run_case(case: str, out: str, tiny: bool) -> dict:
    """This process trains one case and returns its result (also on failure)."""
    import torch

    from whet_worker import dist, metrics
    from whet_worker.errors import WorkerError, is_oom
    from whet_worker.events import Events
    from whet_worker.spec import load_spec
    from whet_worker.train import Progress, Trainer

    cuda = torch.cuda.is_available()
    shape = TINY if tiny else LLAMA3_8B
    seq_len = 128 if tiny else 2048
    work = os.path.join(out, "work", case)
    write_model(os.path.join(work, "model"), shape)
    meta = write_shard(os.path.join(work, "shard"), seq_len, rows=STEPS + 2, vocab=shape["vocab_size"])
    spec_dict = make_spec(os.path.join(work, "run"), os.path.join(work, "model"), os.path.join(work, "shard"), meta,
                          shape["vocab_size"], CASES[case], cuda)
    spec_path = os.path.join(work, "spec.json")
    os.makedirs(os.path.dirname(spec_dict["events_path"]), exist_ok=True)
    with open(spec_path, "w") as f:
        json.dump(spec_dict, f, indent=1)
    result = {"case": case, "tiny": tiny, "shape": shape, "seq_len": seq_len, "micro_batch": 1, "spec": spec_path,
              "strategy": "zero3", "offload": CASES[case], "activation_checkpointing": "full",
              "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
              "hardware": hardware(), "versions": metrics.versions(), "steps": [],
              "env": {k: os.environ.get(k) for k in ("PYTORCH_CUDA_ALLOC_CONF", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}}
    t0 = time.time()
    progress = Progress()
    try:
        spec = load_spec(spec_path)
        d = dist.setup(spec)
        trainer = Trainer(spec, d, Events(spec.events_path, 0), progress)
        result["setup_s"] = time.time() - t0
        result["params"] = trainer.engine.total_params
        for step in range(1, STEPS + 1):
            r = trainer.step(step)
            result["steps"].append({"step": step, "loss": r.loss, "step_time_s": r.step_time_s, "tokens": r.real_tokens,
                                    "tokens_per_s": r.real_tokens / r.step_time_s, **metrics.memory(d.device)})
        result["status"] = "ok"
    except (torch.OutOfMemoryError, RuntimeError, WorkerError) as e:
        if not (isinstance(e, WorkerError) or is_oom(e)):
            raise
        result["status"] = "oom" if is_oom(e) else "error"
        result["error"] = f"{type(e).__name__} in {progress.phase} at step {progress.step}: {str(e)[:2000]}"
    timed = [s["tokens_per_s"] for s in result["steps"][WARMUP:]]
    result.update(_memory(cuda), wall_s=time.time() - t0, losses=[s["loss"] for s in result["steps"]],
                  tokens_per_s_median=statistics.median(timed) if timed else None)
    return result


def write(out: str, case: str, result: dict) -> str:
    path = os.path.join(out, f"{case}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    return path


def run_all(out: str, tiny: bool, timeout: int) -> None:
    """Each case in a fresh process (GPU and host memory start clean); a case that dies without
    writing its JSON (host OOM kill, timeout) gets one saying so."""
    for case in CASES:
        path = os.path.join(out, f"{case}.json")
        if os.path.exists(path):
            os.remove(path)
        cmd = [sys.executable, os.path.abspath(__file__), "--out", out, "--case", case] + (["--tiny"] if tiny else [])
        print(f"== {case}: {' '.join(cmd)}", flush=True)
        t0 = time.time()
        try:
            rc = subprocess.run(cmd, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        if not os.path.exists(path):
            write(out, case, {"case": case, "status": "died", "returncode": rc, "wall_s": time.time() - t0, "command": " ".join(cmd)})
        with open(path) as f:
            r = json.load(f)
        print(f"== {case}: {r['status']}, {r.get('tokens_per_s_median')} tokens/s, peak allocated "
              f"{r.get('peak_allocated_gib')} GiB, host RSS {r.get('host_rss_peak_gib')} GiB, losses {r.get('losses')}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT"), help="folder for the JSON results (default $OUT)")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", choices=sorted(CASES))
    which.add_argument("--all", action="store_true", help="every case, each in its own process")
    ap.add_argument("--tiny", action="store_true", help="a tiny model: checks the plumbing, on the CPU if there is no GPU")
    ap.add_argument("--timeout", type=int, default=150, help="seconds per case under --all")
    args = ap.parse_args()
    if not args.out:
        ap.error("--out is required when $OUT is not set")
    os.makedirs(args.out, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.all:
        run_all(args.out, args.tiny, args.timeout)
        return
    print(json.dumps({"wrote": write(args.out, args.case, run_case(args.case, args.out, args.tiny))}), flush=True)
    # Skip interpreter teardown: the process group and pinned host buffers only slow it down.
    os._exit(0)


if __name__ == "__main__":
    main()
