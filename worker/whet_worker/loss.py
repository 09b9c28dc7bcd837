"""Summed token cross-entropy computed in chunks.

Each chunk is upcast to float32 only inside a checkpointed function, so neither the forward nor
the saved-for-backward state ever holds a float32 copy of the whole [tokens, vocab] logits.
"""

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE = -100


def chunk_tokens(vocab_size: int) -> int:
    # About 256 MiB of float32 logits per chunk, whatever the vocabulary.
    return max(64, min(8192, (1 << 26) // max(1, vocab_size)))


def _ce_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE, reduction="sum")


def chunked_ce_sum(logits: torch.Tensor, labels: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Sum of CE over positions whose label is not IGNORE. logits [..., V], labels [...]."""
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    lab = labels.reshape(-1)
    chunk = chunk or chunk_tokens(V)
    total = flat.new_zeros((), dtype=torch.float32)
    for s in range(0, flat.shape[0], chunk):
        # No host-side skip of all-ignored chunks: checking would sync the GPU every chunk.
        lc = lab[s : s + chunk]
        xc = flat[s : s + chunk]
        if xc.requires_grad:
            total = total + checkpoint(_ce_sum, xc, lc, use_reentrant=False)
        else:
            total = total + _ce_sum(xc, lc)
    return total
