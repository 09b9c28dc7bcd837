"""GPU suite (skipped without CUDA; never part of CI): bf16 training, LoRA, NCCL DDP, fp16 scaling."""

import pytest
import torch

from runs import losses, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

GPU = {
    "distributed.device": "cuda",
    "distributed.backend": "nccl",
    "precision": {"compute_dtype": "bfloat16", "master_dtype": "float32", "frozen_dtype": "float32",
                  "save_dtype": "bfloat16", "loss_scaling": False},
    "train.max_steps": 30,
    "train.logging_steps": 1,
}
LORA = {"method.finetuning_type": "lora", "method.lora": {"rank": 8, "alpha": 16, "dropout": 0.05, "targets": ["all-linear"]},
        "train.learning_rate": 1e-2,
        "precision": {**GPU["precision"], "frozen_dtype": "bfloat16"}}


def _falls(events, margin):
    ls = losses(events)
    assert sorted(ls) == list(range(1, 31))
    assert ls[30] < ls[1] - margin, (ls[1], ls[30])
    step = [e for e in events if e["type"] == "step"][-1]
    assert step["mem_allocated_gib"] > 0 and step["mem_peak_gib"] > 0 and step["tokens_per_s"] > 0
    assert events[-1]["type"] == "done", events[-3:]


@pytest.mark.parametrize("ckpt", ["none", "full"])
def test_full_bf16(tmp_path, model_dir, ckpt):
    ac = {"mode": ckpt, "every": 1, "offload": False}
    _, events, _ = train(str(tmp_path), model_dir, **{**GPU, "train.activation_checkpointing": ac, "checkpoint.save_steps": 15})
    hello = events[0]
    assert hello["device"] != "cpu" and "cuda" in hello["versions"] and "nccl" in hello["versions"]
    _falls(events, 2.0)


def test_lora_bf16(tmp_path, model_dir):
    _, events, _ = train(str(tmp_path), model_dir, **{**GPU, **LORA, "train.activation_checkpointing": {"mode": "full", "every": 1, "offload": True}})
    _falls(events, 0.2)


def test_fp16_loss_scaling(tmp_path, model_dir):
    prec = {**GPU["precision"], "compute_dtype": "float16", "save_dtype": "float16", "loss_scaling": True}
    _, events, _ = train(str(tmp_path), model_dir, **{**GPU, "precision": prec})
    _falls(events, 1.0)


@pytest.mark.parametrize("offload", ["none", "optimizer", "params+optimizer"])
def test_zero3_bf16_offload(tmp_path, model_dir, offload):
    ac = {"mode": "full", "every": 1, "offload": True}
    _, events, _ = train(str(tmp_path), model_dir, **{**GPU, "distributed.strategy": "zero3", "distributed.offload": offload,
                                                       "train.activation_checkpointing": ac})
    assert events[0]["wrapping"]["param_dtype"] == "bfloat16" and events[0]["activation_checkpointing"]["offload"]
    _falls(events, 2.0)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
@pytest.mark.parametrize("strategy", ["ddp", "zero3"])
def test_nccl_two_ranks_match_one(tmp_path, model_dir, strategy):
    common = {**GPU, "train.max_steps": 6, "checkpoint.save_steps": 3, "distributed.strategy": strategy}
    _, one, _ = train(str(tmp_path), model_dir, name="one", micro_batch_size=2, accumulation=2, world_size=1, **common)
    spec, two, _ = train(str(tmp_path), model_dir, name="two", nproc=2, micro_batch_size=1, accumulation=2, world_size=2, **common)
    a, b = losses(one), losses(two)
    assert sorted(a) == sorted(b) == list(range(1, 7))
    for s in a:  # bf16 compute: equal within rounding, not bit for bit
        assert abs(a[s] - b[s]) <= 2e-2 * abs(a[s]), (s, a[s], b[s])
    _, res, _ = train(str(tmp_path), model_dir, name="res", nproc=2, micro_batch_size=1, accumulation=2, world_size=2,
                      **{**common, "checkpoint.resume_from": spec["checkpoint"]["dir"] + "/step-3"})
    r = losses(res)
    assert sorted(r) == [4, 5, 6] and all(abs(r[s] - b[s]) <= 2e-2 * abs(b[s]) for s in r)


def test_varlen_kernel_matches_per_document_reference():
    """torch's flash varlen kernel (bf16, GQA) against each document alone through sdpa."""
    from whet_worker import attention

    assert attention.kernel_available(torch.device("cuda"), torch.bfloat16)
    torch.manual_seed(0)
    lens = [7, 300, 1, 64, 129]
    cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32, device="cuda")
    n = sum(lens)
    q = torch.randn(1, 8, n, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 2, n, 64, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, 2, n, 64, device="cuda", dtype=torch.bfloat16)
    got, _ = attention.varlen_attention_forward(None, q, k, v, None, scaling=0.125, cu_seq_lens_q=cu, max_length_q=max(lens))
    ref = attention._per_document(*(t[0].transpose(0, 1).float() for t in (q, k, v)), cu.tolist(), 0.125)
    assert got.shape == (1, n, 8, 64)
    assert (got[0].float() - ref).abs().max().item() < 2e-2


@pytest.mark.parametrize("strategy", ["ddp", "zero3"])
def test_varlen_compiled_same_losses_as_sdpa(tmp_path, model_dir, strategy):
    """varlen attention with compiled blocks against sdpa eager: the same training within bf16 noise."""
    over = {**GPU, "distributed.strategy": strategy, "train.max_steps": 12}
    _, ref, _ = train(str(tmp_path), model_dir, name="sdpa", **over)
    _, fast, _ = train(str(tmp_path), model_dir, name="varlen", **{**over, "model.attn_implementation": "varlen", "train.compile": True})
    a, b = losses(ref), losses(fast)
    for s in range(1, 13):
        assert abs(a[s] - b[s]) <= 2e-2 * abs(a[s]), (s, a[s], b[s])
    hello = fast[0]
    assert hello["wrapping"]["compiled_blocks"] == hello["activation_checkpointing"]["total_blocks"]
    assert not [e for e in fast if e["type"] == "warning"], [e for e in fast if e["type"] == "warning"]
