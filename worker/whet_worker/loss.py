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


def _linear_ce_sum(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(F.linear(hidden, weight).float(), labels, ignore_index=IGNORE, reduction="sum")


def linear_ce_sum(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Sum of CE of (hidden @ weight.T) against labels, the head and the loss fused chunk by chunk.

    hidden [..., H], weight [V, H] (the LM head), labels [...]. A chunk's logits exist only inside a
    checkpointed function, so at no time does more than one chunk's [tokens, V] logits exist, in any
    dtype; backward recomputes each chunk's logits once.
    """
    H, V = hidden.shape[-1], weight.shape[0]
    flat = hidden.reshape(-1, H)
    lab = labels.reshape(-1)
    chunk = chunk or chunk_tokens(V)
    total = flat.new_zeros((), dtype=torch.float32)
    grad = flat.requires_grad or weight.requires_grad
    for s in range(0, flat.shape[0], chunk):
        hc, lc = flat[s : s + chunk], lab[s : s + chunk]
        if grad:
            total = total + checkpoint(_linear_ce_sum, hc, weight, lc, use_reentrant=False)
        else:
            total = total + _linear_ce_sum(hc, weight, lc)
    return total


class FusedHead:
    """Makes a causal LM's head return the summed loss instead of logits, inside the model's forward.

    The head's forward is swapped on the instance (its weights and state-dict names stay as they
    are), so the loss runs where the head runs: inside FSDP2's root forward, with the gathered
    weight, under the model's autocast. Set `labels` for a call to get the loss; with labels None
    the head gives ordinary logits.
    """

    def __init__(self, head: torch.nn.Module):
        if getattr(head, "bias", None) is not None:
            raise ValueError("the fused loss needs a head without bias")
        self.head = head
        self.labels: torch.Tensor | None = None
        head.forward = self._forward

    def _forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.labels is None:
            return F.linear(hidden, self.head.weight)
        return linear_ce_sum(hidden, self.head.weight, self.labels)


def fused_head(model: torch.nn.Module) -> FusedHead | None:
    """A FusedHead on the model's output embeddings where the model's forward applies nothing after
    the head (no logit soft-capping) and the head is a plain bias-free linear; else None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    cfg = getattr(base, "config", None)
    if not isinstance(head, torch.nn.Linear) or head.bias is not None or type(head) is not torch.nn.Linear:
        return None
    if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
        return None
    return FusedHead(head)
