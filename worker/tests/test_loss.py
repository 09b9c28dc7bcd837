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
