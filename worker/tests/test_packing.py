"""A packed row with document-restarting positions must train each document as if it were alone."""

import numpy as np
import pytest
import torch

import shards
from whet_worker.data import Shard, collate
from whet_worker.loss import chunked_ce_sum


def tiny_model(attn: str):
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = shards.tiny_config(vocab=512)
    cfg.pop("architectures"), cfg.pop("model_type")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(LlamaConfig(**cfg), attn_implementation=attn).eval()


def doc_losses(model, mb):
    # use_cache=False as in training: with a cache, transformers does not look for packed rows.
    with torch.no_grad():
        return model(input_ids=mb.input_ids, position_ids=mb.position_ids, use_cache=False).logits


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_row_matches_documents_alone(tmp_path, attn):
    rng = np.random.default_rng(1)
    docs = []
    for n in (7, 11, 5):
        ids = [1] + rng.integers(3, 500, n - 1).tolist()
        docs.append((ids, [0] + [1] * (n - 1)))
    meta = shards.write_shard(str(tmp_path / "packed"), docs, seq_len=32, packing=True, rows=[[0, 1, 2]])
    alone = shards.write_shard(str(tmp_path / "alone"), docs, seq_len=32, packing=False)
    assert meta["num_rows"] == 1 and alone["num_rows"] == 3
    packed = Shard(str(tmp_path / "packed"))
    single = Shard(str(tmp_path / "alone"))
    model = tiny_model(attn)

    mb = collate(packed, [0], pad_to_seq_len=True)
    assert mb.input_ids.shape == (1, 32)
    assert mb.position_ids[0, :23].tolist() == list(range(7)) + list(range(11)) + list(range(5))
    logits = doc_losses(model, mb)
    start = 0
    for d, (ids, _) in enumerate(docs):
        n = len(ids)
        packed_loss = chunked_ce_sum(logits[:, start : start + n], mb.labels[:, start : start + n])
        one = collate(single, [d], pad_to_seq_len=False)
        alone_loss = chunked_ce_sum(doc_losses(model, one), one.labels)
        assert torch.allclose(packed_loss, alone_loss, rtol=1e-5, atol=1e-5), (attn, d, packed_loss, alone_loss)
        start += n

    # Control: the same row without restarting positions lets later documents see earlier ones,
    # which must change their loss; otherwise this test could not fail.
    leaky = collate(packed, [0], pad_to_seq_len=True)
    leaky.position_ids = torch.arange(32).unsqueeze(0)
    leaky_logits = doc_losses(model, leaky)
    a, b = len(docs[0][0]), len(docs[0][0]) + len(docs[1][0])
    one = collate(single, [1], pad_to_seq_len=False)
    assert not torch.allclose(
        chunked_ce_sum(leaky_logits[:, a:b], leaky.labels[:, a:b]), chunked_ce_sum(doc_losses(model, one), one.labels), rtol=1e-4
    )


def test_padding_does_not_change_loss(tmp_path):
    docs = [([1] + list(range(10, 10 + n)), [0] + [1] * n) for n in (9, 14)]
    shards.write_shard(str(tmp_path / "s"), docs, seq_len=32, packing=False)
    s = Shard(str(tmp_path / "s"))
    model = tiny_model("sdpa")
    both = collate(s, [0, 1], pad_to_seq_len=False)
    total = chunked_ce_sum(doc_losses(model, both), both.labels)
    parts = sum(chunked_ce_sum(doc_losses(model, m), m.labels) for m in (collate(s, [0], False), collate(s, [1], False)))
    assert torch.allclose(total, parts, rtol=1e-5)


def _same_weights(model, attn):
    from transformers import AutoModelForCausalLM

    import copy

    other = AutoModelForCausalLM.from_config(copy.deepcopy(model.config), attn_implementation=attn).eval()
    other.load_state_dict(model.state_dict())
    return other


@pytest.mark.parametrize("packing", [True, False])
def test_flattened_varlen_batch_matches_documents_alone(tmp_path, packing):
    """collate(flat=True) + varlen attention: rows end to end, each document attends only to itself."""
    rng = np.random.default_rng(3)
    docs = [([1] + rng.integers(3, 500, n - 1).tolist(), [0] + [1] * (n - 1)) for n in (7, 11, 5, 9, 4)]
    rows = [[0, 1], [2, 3, 4]] if packing else None
    shards.write_shard(str(tmp_path / "s"), docs, seq_len=32, packing=packing, **({"rows": rows} if rows else {}))
    shards.write_shard(str(tmp_path / "alone"), docs, seq_len=32, packing=False)
    s, single = Shard(str(tmp_path / "s")), Shard(str(tmp_path / "alone"))
    from whet_worker.attention import model_attn_implementation

    model = tiny_model("sdpa")
    varlen = _same_weights(model, model_attn_implementation("varlen"))
    nrows = s.num_rows
    flat = collate(s, list(range(nrows)), s.packing, flat=True, pad_multiple=64)
    assert flat.input_ids.shape == (1, 64) and flat.real_tokens == 36
    assert flat.cu_seqlens.tolist() == [0, 7, 18, 23, 32, 36, 64] and flat.max_seqlen == 28
    with torch.no_grad():
        logits = varlen(input_ids=flat.input_ids, position_ids=flat.position_ids, use_cache=False, **flat.model_kwargs()).logits
    bounds = flat.cu_seqlens.tolist()
    for d in range(len(docs)):
        one = collate(single, [d], pad_to_seq_len=False)
        alone = chunked_ce_sum(doc_losses(model, one), one.labels)
        got = chunked_ce_sum(logits[:, bounds[d] : bounds[d + 1]], flat.labels[:, bounds[d] : bounds[d + 1]])
        assert torch.allclose(got, alone, rtol=1e-5, atol=1e-5), (d, got, alone)
    assert flat.trained_tokens == int((flat.labels != -100).sum()) == sum(len(i) - 1 for i, _ in docs)

    # Control: one bound around everything lets later documents see earlier ones.
    leaky = collate(s, list(range(nrows)), s.packing, flat=True)
    leaky.cu_seqlens = torch.tensor([0, 36], dtype=torch.int32)
    with torch.no_grad():
        leaked = varlen(input_ids=leaky.input_ids, position_ids=leaky.position_ids, use_cache=False, **leaky.model_kwargs()).logits
    one = collate(single, [1], pad_to_seq_len=False)
    assert not torch.allclose(chunked_ce_sum(leaked[:, 7:18], leaky.labels[:, 7:18]),
                              chunked_ce_sum(doc_losses(model, one), one.labels), rtol=1e-4)


def test_varlen_attention_refuses_unflattened_batches():
    from whet_worker.attention import model_attn_implementation

    model = _same_weights(tiny_model("sdpa"), model_attn_implementation("varlen"))
    with pytest.raises(RuntimeError, match="flattened row"):
        model(input_ids=torch.randint(3, 500, (2, 8)), use_cache=False)
