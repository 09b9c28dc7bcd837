"""Varlen attention: a micro-batch is one row of its documents end to end, attention bounded per document.

With attn_implementation "varlen" (data.collate(flat=True)) a micro-batch of B rows becomes one row of
their real tokens: no padding is computed, and a packed row's documents never see each other. The
documents' boundaries travel as cumulative sequence lengths (cu_seqlens, int32 [documents + 1]) in
the keyword arguments transformers hands to every attention call (cu_seq_lens_q/k, max_length_q/k,
its FlashAttentionKwargs names); no [T, T] mask is ever built.

On CUDA with 16-bit compute the kernel is torch's varlen_attn (flash attention). Elsewhere (the CPU,
float32) each document runs through scaled_dot_product_attention alone, which is exact and is what
the CPU tests compare against.
"""

import inspect

import torch
import torch.nn.functional as F

# The name models are built with; registered into transformers' AttentionInterface by register().
NAME = "whet_varlen"

_KERNEL = None  # (varlen_attn, its keyword names), or False when this torch has none


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        try:
            from torch.nn.attention.varlen import varlen_attn

            _KERNEL = (varlen_attn, set(inspect.signature(varlen_attn).parameters))
        except ImportError:
            _KERNEL = False
    return _KERNEL or None


def kernel_available(device: torch.device, dtype: torch.dtype) -> bool:
    return device.type == "cuda" and dtype in (torch.bfloat16, torch.float16) and _kernel() is not None


def cu_seqlens(position_ids) -> tuple[list[int], int]:
    """Document starts (positions restart at 0) of one flattened row, as cumulative lengths, and the longest."""
    import numpy as np

    pos = np.asarray(position_ids)
    starts = np.flatnonzero(pos == 0).tolist()
    if not starts or starts[0] != 0:
        starts = [0] + starts
    cu = starts + [len(pos)]
    return cu, int(max(b - a for a, b in zip(cu, cu[1:])))


def _flash(q, k, v, cu, max_len: int, scale):
    fn, params = _kernel()
    kw = {"scale": scale}
    if "is_causal" in params:
        kw["is_causal"] = True
    else:
        kw["window_size"] = (-1, 0)  # causal
    if q.shape[1] != k.shape[1]:
        if "enable_gqa" in params:
            kw["enable_gqa"] = True
        else:
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    return fn(q, k, v, cu, cu, max_len, max_len, **kw)


def _per_document(q, k, v, cu, scale):
    """Reference path: each document alone through sdpa. q [N, Hq, D], k/v [N, Hkv, D]."""
    bounds = cu.tolist() if isinstance(cu, torch.Tensor) else cu
    rep = q.shape[1] // k.shape[1]
    out = torch.empty_like(q)
    for a, b in zip(bounds, bounds[1:]):
        if b <= a:
            continue
        qd, kd, vd = (t[a:b].transpose(0, 1) for t in (q, k, v))  # [H, n, D]
        if rep > 1:
            kd, vd = kd.repeat_interleave(rep, dim=0), vd.repeat_interleave(rep, dim=0)
        out[a:b] = F.scaled_dot_product_attention(qd, kd, vd, is_causal=True, scale=scale).transpose(0, 1)
    return out


def varlen_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """transformers' attention-function signature: query [1, Hq, N, D], key/value [1, Hkv, N, D] ->
    ([1, N, Hq, D], None)."""
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None or query.shape[0] != 1:
        raise RuntimeError(
            f"{NAME} attention needs one flattened row and cu_seq_lens_q (data.collate(flat=True)); "
            f"got a batch of {query.shape[0]} rows"
        )
    if dropout:
        raise RuntimeError(f"{NAME} attention has no attention dropout; set the model's attention_dropout to 0")
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # [N, H, D]
    # Under autocast (DDP over fp32 weights) rotary embeddings leave q and k in float32 while v is
    # 16-bit; the kernel wants one 16-bit dtype, the one autocast computes in.
    if torch.is_autocast_enabled(q.device.type):
        dtype = torch.get_autocast_dtype(q.device.type)
        q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    if kernel_available(q.device, q.dtype):
        out = _flash(q, k, v, cu, int(kwargs["max_length_q"]), scaling)
    else:
        out = _per_document(q, k, v, cu, scaling)
    return out.unsqueeze(0), None


def register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_attention_forward)


def model_attn_implementation(spec_value: str) -> str:
    """The attn_implementation a model is built with, for the spec's value."""
    if spec_value == "varlen":
        register()
        return NAME
    return spec_value
