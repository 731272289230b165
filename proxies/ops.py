"""The token-mixing cores the mixers call, routed through `torch.library` custom ops while FLOPs are counted.

In normal use each function calls `kernels` (or SDPA) directly. Inside `counting_flops()` it calls a custom op
`hybrid_nas::<name>` instead, so fvcore's tracer sees one node with the core's shapes and hyper-parameters and
`proxies.flops` can count it with the analytic formula.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F

import kernels

_state = threading.local()


@contextlib.contextmanager
def _setting(name: str, value: Any, default: Any) -> Iterator[None]:
    """`_state.<name>` is `value` inside the block, and what it was (or `default`) after."""
    prev = getattr(_state, name, default)
    setattr(_state, name, value)
    try:
        yield
    finally:
        setattr(_state, name, prev)


def counting_flops() -> contextlib.AbstractContextManager[None]:
    return _setting("counting", True, False)


def is_counting() -> bool:
    return getattr(_state, "counting", False)


def recording_calls(calls: list) -> contextlib.AbstractContextManager[None]:
    """Inside it, `gla` and `delta_rule` append what they were called with to `calls` (op, shapes, gate kind,
    whether "auto" would take Triton for it on CUDA) and return zeros instead of computing: the shapes a proxy
    hands its kernels, cheaply (`proxies.kernel_calls`)."""
    return _setting("recording", calls, None)


def stacking() -> contextlib.AbstractContextManager[None]:
    """Inside it, attention is computed by `masked_attention` rather than SDPA: the model runs under
    `torch.func.vmap` over stacked weights (`proxies.stacked`), and CUDA's memory-efficient attention kernel, batched
    by vmap, fails in its backward ("LSE is not correctly aligned", fp32 on the H200, torch 2.11)."""
    return _setting("stacking", True, False)


def _record(op: str, q, v, g, scale) -> torch.Tensor | None:
    calls = getattr(_state, "recording", None)
    if calls is None:
        return None
    B, T, H, K = q.shape
    gate = "none" if g is None else ("head" if g.dim() == 3 else "channel")
    calls.append({"op": op, "B": B, "T": T, "H": H, "K": K, "V": v.shape[-1], "gate": gate,
                  "scale": scale, "triton": triton_shapes_ok(K, v.shape[-1], scalar_gate=op == "gla" and gate == "head")})
    return v.new_zeros(v.shape)


# -- the cores ----------------------------------------------------------------------------------
def gla(q, k, v, g=None, *, scale: float | None = None, impl: str = "auto"):
    """Gated linear attention, `(B, T, H, K)` x2, `(B, T, H, V)`, log-gate per channel or per head."""
    if is_counting():
        return _gla_op(q, k, v, g, -1.0 if scale is None else scale)
    if (out := _record("gla", q, v, g, scale)) is not None:
        return out
    impl = _auto(impl, q, v, scalar_gate=g is not None and g.dim() == 3)
    return kernels.gla(q, k, v, g, scale=scale, impl=impl)[0]


def delta_rule(q, k, v, beta, g=None, *, scale: float | None = None, impl: str = "auto"):
    """(Gated) delta rule; q and k must be L2-normalised by the caller."""
    if is_counting():
        return _delta_op(q, k, v, beta, g, -1.0 if scale is None else scale)
    if (out := _record("delta_rule", q, v, g, scale)) is not None:
        return out
    return kernels.delta_rule(q, k, v, beta, g, scale=scale, impl=_auto(impl, q, v))[0]


def _auto(impl: str, q, v, scalar_gate: bool = False) -> str:
    """"auto" on CUDA takes the PyTorch chunked form where the Triton kernels cannot run: head sizes K, V that are
    not powers of two in [16, 128] (e.g. widths sized by `proxies.width`), and, for gla with a per-head (scalar)
    gate, K < 64 (kernels.ops.gla.triton faults or returns wrong dk, dg there on torch 2.11 / H100: K=16, and
    K=32 with V=32 or 64, seen with tools.kernel_accuracy.check_gla); any other `impl` is kept."""
    if impl == "auto" and q.is_cuda and not triton_shapes_ok(q.shape[-1], v.shape[-1], scalar_gate):
        return "chunk"
    return impl


def triton_shapes_ok(K: int, V: int, scalar_gate: bool = False) -> bool:
    """Head sizes the Triton kernels take: powers of two in [16, 128], and K >= 64 for gla with a per-head gate."""
    ok = lambda n: 16 <= n <= 128 and n & (n - 1) == 0  # noqa: E731
    return ok(K) and ok(V) and not (scalar_gate and K < 64)


def causal_attention(q, k, v, window: int | None = None, *, impl: str = "auto"):
    """Softmax attention on `(B, T, H, D)` inputs, causal, optionally limited to the last `window` keys.

    `impl="recurrent"` runs the plain reference (one query at a time, explicit softmax)."""
    if impl == "recurrent" and not is_counting():
        return attention_reference(q, k, v, window)
    if getattr(_state, "stacking", False) and not is_counting():
        return masked_attention(q, k, v, window)
    if window is not None and window < q.shape[1]:
        if is_counting():
            return _window_op(q, k, v, window)
        return _window_attention(q, k, v, window)
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
    return o.transpose(1, 2)


def attention_reference(q, k, v, window: int | None = None):
    """Ground truth for (windowed) causal softmax attention: each query against its visible keys, in float64-safe ops."""
    B, T, H, D = q.shape
    out_dtype = v.dtype
    dt = torch.float64 if q.dtype == torch.float64 else torch.float32
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    outs = []
    for t in range(T):
        lo = 0 if window is None else max(0, t - window + 1)
        p = torch.softmax(torch.einsum("bhd,bshd->bhs", q[:, t], k[:, lo : t + 1]) * D**-0.5, dim=-1)
        outs.append(torch.einsum("bhs,bshd->bhd", p, v[:, lo : t + 1]))
    return torch.stack(outs, dim=1).to(out_dtype)


def masked_attention(q, k, v, window: int | None = None):
    """(Windowed) causal softmax attention written out: all scores at once, masked, softmax in float32 or wider."""
    D = q.shape[-1]
    visible = _visible(q.shape[1], window, q.device)
    scores = torch.einsum("bthd,bshd->bhts", q, k) * D**-0.5
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
    p = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
    return torch.einsum("bhts,bshd->bthd", p.to(v.dtype), v)


def _visible(T: int, window: int | None, device) -> torch.Tensor:
    """(T, T) query x key: which keys each query attends to (causal, within the last `window` keys if given)."""
    i = torch.arange(T, device=device)
    visible = i[None, :] <= i[:, None]
    if window is not None:
        visible = visible & (i[:, None] - i[None, :] < window)
    return visible


def _window_attention(q, k, v, window: int):
    mask = _visible(q.shape[1], window, q.device)
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return o.transpose(1, 2)


def _scale(scale: float) -> float | None:
    return None if scale < 0 else scale


# -- custom ops, used only while counting -------------------------------------------------------
@torch.library.custom_op("hybrid_nas::gla", mutates_args=())
def _gla_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: Optional[torch.Tensor], scale: float) -> torch.Tensor:
    return kernels.gla(q, k, v, g, scale=_scale(scale), impl="chunk")[0]


@_gla_op.register_fake
def _(q, k, v, g, scale):
    return v.new_empty(v.shape)


@torch.library.custom_op("hybrid_nas::delta_rule", mutates_args=())
def _delta_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, g: Optional[torch.Tensor],
              scale: float) -> torch.Tensor:
    return kernels.delta_rule(q, k, v, beta, g, scale=_scale(scale), impl="chunk")[0]


@_delta_op.register_fake
def _(q, k, v, beta, g, scale):
    return v.new_empty(v.shape)


@torch.library.custom_op("hybrid_nas::window_attention", mutates_args=())
def _window_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    return _window_attention(q, k, v, window)


@_window_op.register_fake
def _(q, k, v, window):
    return v.new_empty(v.shape)
