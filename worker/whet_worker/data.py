"""Token shards (docs/contracts.md), memory-mapped, and the deterministic step sampler.

The data position is the optimizer step number: the rows of step s depend only on (seed, s,
global batch), never on the world size, so resume and a change of GPU count see the same order.
"""

import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .errors import WorkerError, EXIT_SPEC

FORMAT_VERSION = 1
IGNORE = -100


class Shard:
    def __init__(self, path: str):
        meta_path = os.path.join(path, "meta.json")
        try:
            with open(meta_path, encoding="utf-8") as f:
                self.meta = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise WorkerError("DATA_INVALID", f"cannot read {meta_path}: {e}", EXIT_SPEC) from None
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise WorkerError(
                "DATA_INVALID", f"{meta_path}: format_version {self.meta.get('format_version')!r}, expected {FORMAT_VERSION}", EXIT_SPEC
            )
        m = self.meta
        self.tokens = self._map(path, "tokens.bin", "<u4", m["num_tokens"])
        self.loss_mask = self._map(path, "loss_mask.bin", "u1", m["num_tokens"])
        self.doc_offsets = self._map(path, "doc_offsets.bin", "<u8", m["num_docs"] + 1)
        self.row_docs = self._map(path, "row_docs.bin", "<u8", m["num_rows"] + 1)
        self.num_rows = int(m["num_rows"])
        self.seq_len = int(m["seq_len"])
        self.packing = bool(m["packing"])
        self.pad_token_id = int(m["pad_token_id"])

    @staticmethod
    def _map(path, name, dtype, count):
        f = os.path.join(path, name)
        want = count * np.dtype(dtype).itemsize
        size = os.path.getsize(f) if os.path.exists(f) else -1
        if size != want:
            raise WorkerError("DATA_INVALID", f"{f}: {size} bytes, meta.json implies {want}", EXIT_SPEC)
        if count == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(f, dtype=dtype, mode="r", shape=(count,))

    def check_against(self, data_spec) -> None:
        pairs = [
            ("num_rows", self.num_rows, data_spec.num_rows),
            ("num_tokens", int(self.meta["num_tokens"]), data_spec.num_tokens),
            ("seq_len", self.seq_len, data_spec.seq_len),
            ("packing", self.packing, data_spec.packing),
        ]
        for name, have, want in pairs:
            if have != want:
                raise WorkerError("DATA_INVALID", f"shard meta.json {name}={have} but the spec says {want}", EXIT_SPEC)

    def row(self, r: int):
        """Token ids, document-restarting positions and labels of row r (numpy int64)."""
        d0, d1 = int(self.row_docs[r]), int(self.row_docs[r + 1])
        starts = self.doc_offsets[d0 : d1 + 1].astype(np.int64)
        a, b = starts[0], starts[-1]
        ids = np.asarray(self.tokens[a:b], dtype=np.int64)
        mask = np.asarray(self.loss_mask[a:b], dtype=bool).copy()
        rel = starts[:-1] - a
        lens = np.diff(starts)
        pos = np.arange(b - a, dtype=np.int64) - np.repeat(rel, lens)
        # A document's first token is never a target (contract); enforced here too so a faulty
        # shard still cannot train one document on the end of the previous one.
        mask[rel] = False
        labels = np.full(b - a, IGNORE, dtype=np.int64)
        labels[:-1] = np.where(mask[1:], ids[1:], IGNORE)
        return ids, pos, labels

    def row_counts(self, rows):
        """(real tokens, trained tokens) of the given rows, from the shard alone."""
        real = trained = 0
        for r in rows:
            d0, d1 = int(self.row_docs[r]), int(self.row_docs[r + 1])
            starts = self.doc_offsets[d0 : d1 + 1].astype(np.int64)
            a, b = starts[0], starts[-1]
            m = np.asarray(self.loss_mask[a:b], dtype=np.int64)
            real += b - a
            trained += int(m.sum() - m[starts[:-1] - a].sum())
        return int(real), int(trained)


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # [B, T] int64
    position_ids: torch.Tensor  # [B, T] int64
    labels: torch.Tensor  # [B, T] int64, IGNORE where no loss
    real_tokens: int
    trained_tokens: int
    # Flattened micro-batches (varlen attention): B is 1 and the documents' cumulative lengths,
    # int32 [documents + 1], bound attention; None for rows attended to as they are.
    cu_seqlens: Optional[torch.Tensor] = None
    max_seqlen: int = 0

    def to(self, device):
        nb = device.type == "cuda"
        return MicroBatch(
            self.input_ids.to(device, non_blocking=nb),
            self.position_ids.to(device, non_blocking=nb),
            self.labels.to(device, non_blocking=nb),
            self.real_tokens,
            self.trained_tokens,
            None if self.cu_seqlens is None else self.cu_seqlens.to(device, non_blocking=nb),
            self.max_seqlen,
        )

    def model_kwargs(self) -> dict:
        """Keyword arguments of the model's forward: varlen attention's document bounds, if any."""
        if self.cu_seqlens is None:
            return {}
        return {"cu_seq_lens_q": self.cu_seqlens, "cu_seq_lens_k": self.cu_seqlens,
                "max_length_q": self.max_seqlen, "max_length_k": self.max_seqlen}


def collate(shard: Shard, rows, pad_to_seq_len: bool, flat: bool = False, pad_multiple: int = 1,
            fixed_max_seqlen: bool = False) -> MicroBatch:
    """The micro-batch of the given rows: [B, T] rows padded to the longest (or to seq_len), or with
    flat, one row of every row's tokens end to end with document bounds (varlen attention), padded
    to a multiple of pad_multiple by one trailing document that carries no loss. fixed_max_seqlen:
    max_seqlen is the bound max(seq_len, pad_multiple) rather than the longest document (the kernel
    only sizes its grid by it), so compiled code sees one value."""
    parts = [shard.row(int(r)) for r in rows]
    if flat:
        mb = _flat(parts, shard.pad_token_id, pad_multiple)
        if fixed_max_seqlen:
            mb.max_seqlen = max(shard.seq_len, pad_multiple, mb.max_seqlen)
        return mb
    length = shard.seq_len if pad_to_seq_len else max(len(p[0]) for p in parts)
    B = len(parts)
    ids = np.full((B, length), shard.pad_token_id, dtype=np.int64)
    labels = np.full((B, length), IGNORE, dtype=np.int64)
    # Padding continues the last document's positions: a packed row's documents are told apart
    # by positions restarting at 0, and a trailing pad run that does not restart leaves
    # unpacked batches on the plain causal (fastest) attention path. Pads carry no loss and,
    # being last, are never attended to by real tokens.
    pos = np.tile(np.arange(length, dtype=np.int64), (B, 1))
    real = 0
    for i, (t, p, l) in enumerate(parts):
        n = len(t)
        ids[i, :n], labels[i, :n], pos[i, :n] = t, l, p
        if n < length:
            pos[i, n:] = p[-1] + 1 + np.arange(length - n)
        real += n
    trained = int((labels != IGNORE).sum())
    return MicroBatch(torch.from_numpy(ids), torch.from_numpy(pos), torch.from_numpy(labels), real, trained)


def _flat(parts, pad_token_id: int, pad_multiple: int) -> MicroBatch:
    from .attention import cu_seqlens

    ids = np.concatenate([p[0] for p in parts])
    pos = np.concatenate([p[1] for p in parts])
    labels = np.concatenate([p[2] for p in parts])
    real = len(ids)
    pad = -real % max(1, pad_multiple)
    if pad:
        ids = np.concatenate([ids, np.full(pad, pad_token_id, dtype=np.int64)])
        pos = np.concatenate([pos, np.arange(pad, dtype=np.int64)])
        labels = np.concatenate([labels, np.full(pad, IGNORE, dtype=np.int64)])
    cu, longest = cu_seqlens(pos)
    trained = int((labels != IGNORE).sum())
    return MicroBatch(torch.from_numpy(ids)[None], torch.from_numpy(pos)[None], torch.from_numpy(labels)[None], real, trained,
                      torch.tensor(cu, dtype=torch.int32), longest)


class StepSampler:
    """Rows of each optimizer step: a per-epoch permutation seeded by (seed, epoch)."""

    def __init__(self, num_rows: int, global_batch_rows: int, steps_per_epoch: int, seed: int):
        if steps_per_epoch * global_batch_rows > num_rows:
            raise WorkerError(
                "SPEC_INVALID",
                f"steps_per_epoch ({steps_per_epoch}) × global_batch_rows ({global_batch_rows}) exceeds the shard's {num_rows} rows",
                EXIT_SPEC,
            )
        self.num_rows = num_rows
        self.G = global_batch_rows
        self.spe = steps_per_epoch
        self.seed = seed
        self._perm_epoch = None
        self._perm = None

    def epoch_of(self, step: int) -> int:
        return (step - 1) // self.spe

    def _permutation(self, epoch: int):
        if self._perm_epoch != epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)
            self._perm_epoch = epoch
        return self._perm

    def step_rows(self, step: int) -> np.ndarray:
        """The global batch of step (1-based); the tail of an epoch that does not fill a step is skipped."""
        k = (step - 1) % self.spe
        return self._permutation(self.epoch_of(step))[k * self.G : (k + 1) * self.G]

    @staticmethod
    def micro_rows(step_rows, micro: int, rank: int, world: int, mbs: int):
        # Micro-batch i of all ranks together is one contiguous block of the step's rows; any split
        # covers exactly the step's rows, and the loss does not depend on how they are split.
        start = micro * world * mbs + rank * mbs
        return step_rows[start : start + mbs]
