"""Step-by-step reference for gated linear attention (the ground truth).

    S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t        S: (K, V) per (batch, head)
    o_t = scale * q_t S_t

`g` is a log decay (<= 0): per channel (B, T, H, K), per head (B, T, H), or None (plain linear attention).
Computed in float32 (float64 when the inputs are float64); the output is cast back to v.dtype.
"""
from __future__ import annotations

import torch

from kernels._forms import setup, start_state


def gla_recurrent(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None = None,  # (B, T, H, K) or (B, T, H) or None
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    B, T, H, K, V, acc, scale = setup(q, v, scale)

    q, k, v = q.to(acc), k.to(acc), v.to(acc)
    if g is not None:
        g = g.to(acc)
        if g.dim() == 3:  # per-head scalar gate -> broadcast over K
            g = g.unsqueeze(-1)  # (B, T, H, 1)

    S = start_state(initial_state, q, B, H, K, V, acc)  # (B, H, K, V)

    outs = []
    for t in range(T):
        if g is not None:
            S = S * g[:, t].exp().unsqueeze(-1)  # (B, H, K|1, 1)
        S = S + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)  # (B, H, K, V)
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, S))  # (B, H, V)
    o = torch.stack(outs, dim=1) if T > 0 else v.new_zeros(B, 0, H, V)  # (B, T, H, V)
    return o.to(v.dtype), (S if output_final_state else None)
