"""Step-by-step reference for the (gated) delta rule (the ground truth).

    S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t^T v_t      S: (K, V) per (batch, head)
        = a S_{t-1} + beta_t k_t^T (v_t - k_t a S_{t-1}),  a = exp(g_t)
    o_t = scale * q_t S_t

beta: (B, T, H) write strength in (0, 1); g: (B, T, H) per-head log decay (GatedDeltaNet) or None (DeltaNet).
Computed in float32 (float64 when the inputs are float64); the output is cast back to v.dtype.
"""
from __future__ import annotations

import torch

from kernels._forms import setup, start_state


def delta_rule_recurrent(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    beta: torch.Tensor,  # (B, T, H)
    g: torch.Tensor | None = None,  # (B, T, H) or None
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    B, T, H, K, V, acc, scale = setup(q, v, scale)

    q, k, v, beta = q.to(acc), k.to(acc), v.to(acc), beta.to(acc)
    if g is not None:
        g = g.to(acc)

    S = start_state(initial_state, q, B, H, K, V, acc)  # (B, H, K, V)

    outs = []
    for t in range(T):
        if g is not None:
            S = S * g[:, t].exp()[..., None, None]  # (B, H, K, V)
        k_t = k[:, t]  # (B, H, K)
        pred = torch.einsum("bhk,bhkv->bhv", k_t, S)  # (B, H, V): what the memory returns for k_t
        delta = beta[:, t, :, None] * (v[:, t] - pred)  # (B, H, V)
        S = S + k_t.unsqueeze(-1) * delta.unsqueeze(-2)  # (B, H, K, V)
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, S))  # (B, H, V)
    o = torch.stack(outs, dim=1) if T > 0 else v.new_zeros(B, 0, H, V)  # (B, T, H, V)
    return o.to(v.dtype), (S if output_final_state else None)
