import pytest
import torch
import torch.nn.functional as F

from whet_worker.loss import IGNORE, chunk_tokens, chunked_ce_sum


@pytest.mark.parametrize("chunk", [1, 7, 64, None])
def test_chunked_ce_equals_plain_ce(chunk):
    torch.manual_seed(0)
    logits = torch.randn(3, 41, 97, requires_grad=True)
    labels = torch.randint(0, 97, (3, 41))
    labels[torch.rand(3, 41) < 0.3] = IGNORE
    labels[1, :20] = IGNORE  # a chunk with nothing to train
    ref = F.cross_entropy(logits.reshape(-1, 97), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
    (g_ref,) = torch.autograd.grad(ref, logits)
    got = chunked_ce_sum(logits, labels, chunk=chunk)
    (g_got,) = torch.autograd.grad(got, logits)
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-5)
    assert torch.allclose(g_got, g_ref, rtol=1e-6, atol=1e-7)


def test_bf16_logits_are_upcast_per_chunk():
    torch.manual_seed(1)
    logits = torch.randn(2, 16, 50).to(torch.bfloat16)
    labels = torch.randint(0, 50, (2, 16))
    ref = F.cross_entropy(logits.float().reshape(-1, 50), labels.reshape(-1), reduction="sum")
    got = chunked_ce_sum(logits, labels, chunk=5)
    assert got.dtype == torch.float32
    assert torch.allclose(got, ref, rtol=1e-6)


def test_chunk_size_bounds_memory():
    assert chunk_tokens(49152) * 49152 * 4 <= (1 << 28)
    assert chunk_tokens(152064) >= 64


@pytest.mark.parametrize("chunk", [1, 9, None])
def test_fused_head_loss_equals_plain_head_and_loss(chunk):
    from whet_worker.loss import linear_ce_sum

    torch.manual_seed(2)
    hidden = torch.randn(2, 23, 16, requires_grad=True)
    weight = torch.randn(61, 16, requires_grad=True)
    labels = torch.randint(0, 61, (2, 23))
    labels[torch.rand(2, 23) < 0.4] = IGNORE
    ref = F.cross_entropy(F.linear(hidden, weight).reshape(-1, 61), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
    g_ref = torch.autograd.grad(ref, (hidden, weight))
    got = linear_ce_sum(hidden, weight, labels, chunk=chunk)
    g_got = torch.autograd.grad(got, (hidden, weight))
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-5)
    for a, b in zip(g_got, g_ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


def test_fused_head_inside_a_model_forward():
    # The head's forward returns the summed loss while labels are set, and logits otherwise.
    from transformers import AutoModelForCausalLM, LlamaConfig

    import shards
    from whet_worker.loss import fused_head

    cfg = shards.tiny_config(vocab=128)
    cfg.pop("architectures"), cfg.pop("model_type")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**cfg))
    ids = torch.randint(3, 128, (2, 12))
    labels = torch.where(torch.rand(2, 12) < 0.5, ids, IGNORE)
    logits = model(input_ids=ids, use_cache=False).logits
    ref = chunked_ce_sum(logits, labels)
    head = fused_head(model)
    assert head is not None
    head.labels = labels
    loss = model(input_ids=ids, use_cache=False).logits
    head.labels = None
    assert loss.shape == () and torch.allclose(loss, ref, rtol=1e-5)
    assert torch.equal(model(input_ids=ids, use_cache=False).logits, logits)
    assert "lm_head.weight" in model.state_dict()
