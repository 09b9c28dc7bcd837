import numpy as np
import pytest

import shards
from whet_worker.data import IGNORE, Shard, StepSampler, collate
from whet_worker.errors import WorkerError


@pytest.fixture
def packed(tmp_path):
    docs = shards.synthetic_docs(40, seed=5)
    meta = shards.write_shard(str(tmp_path / "s"), docs, 48, True)
    return docs, meta, Shard(str(tmp_path / "s"))


def test_rows_read_back_documents(packed):
    docs, meta, s = packed
    flat = [d for d in docs]
    seen = 0
    for r in range(s.num_rows):
        ids, pos, labels = s.row(r)
        assert len(ids) <= 48
        starts = np.flatnonzero(pos == 0)
        for k, a in enumerate(starts):
            b = starts[k + 1] if k + 1 < len(starts) else len(ids)
            doc_ids, doc_mask = flat[seen]
            assert ids[a:b].tolist() == doc_ids
            # label at t is token t+1 when it is trained; never across the document end
            want = [doc_ids[j + 1] if doc_mask[j + 1] else IGNORE for j in range(len(doc_ids) - 1)] + [IGNORE]
            assert labels[a:b].tolist() == want
            seen += 1
    assert seen == meta["num_docs"] == len(docs)
    assert s.row_counts(range(s.num_rows)) == (meta["num_tokens"], meta["trained_tokens"])


def test_collate_pads_with_no_loss(packed):
    _, _, s = packed
    mb = collate(s, [0, 1], pad_to_seq_len=True)
    assert mb.input_ids.shape == (2, 48)
    n0 = len(s.row(0)[0])
    assert (mb.input_ids[0, n0:] == 2).all() and (mb.labels[0, n0:] == IGNORE).all()
    assert mb.real_tokens == len(s.row(0)[0]) + len(s.row(1)[0])
    assert mb.trained_tokens == s.row_counts([0, 1])[1]


def test_sampler_is_deterministic_and_world_size_free():
    a = StepSampler(100, 8, 12, seed=7)
    b = StepSampler(100, 8, 12, seed=7)
    rows = [a.step_rows(s).tolist() for s in range(1, 25)]
    assert rows == [b.step_rows(s).tolist() for s in range(1, 25)]
    epoch0 = sum(rows[:12], [])
    assert len(set(epoch0)) == 96  # a permutation: no row twice in an epoch
    assert sum(rows[12:], []) != epoch0  # a new order each epoch
    assert StepSampler(100, 8, 12, seed=8).step_rows(1).tolist() != rows[0]
    step = a.step_rows(3)
    one = sum((StepSampler.micro_rows(step, i, 0, 1, 2).tolist() for i in range(4)), [])
    two = sum((StepSampler.micro_rows(step, i, r, 2, 1).tolist() for i in range(4) for r in range(2)), [])
    assert sorted(one) == sorted(step.tolist()) and sorted(two[:8]) == sorted(step.tolist())


def test_truncated_shard_is_refused(packed, tmp_path):
    with open(tmp_path / "s" / "tokens.bin", "r+b") as f:
        f.truncate(8)
    with pytest.raises(WorkerError) as e:
        Shard(str(tmp_path / "s"))
    assert e.value.code == "DATA_INVALID"
