"""Chunked WY / UT-transform form of the (gated) delta rule, in plain PyTorch (any device, autograd).

Same recurrence as `kernels.ops.delta.naive.delta_rule_recurrent` (S: (K, V), k a column, a_t = exp(g_t)):
    S_t = a_t S_{t-1} + k_t d_t^T,   d_t = beta_t (v_t - a_t S_{t-1}^T k_t)      o_t = scale * S_t^T q_t
Following Yang et al. 2024 (arXiv 2406.06484) and Gated DeltaNet (arXiv 2412.06464): inside a chunk entered
with state S0 and cumulative log decay b_i = g_1 + ... + g_i (gamma_i = exp(b_i) <= 1),
    S_t = gamma_t S0 + sum_{j<=t} exp(b_t - b_j) k_j d_j^T
so the deltas satisfy the unit-lower-triangular system
    (I + L) d = diag(beta) V - diag(beta * gamma) K S0,   L[t, j] = beta_t exp(b_t - b_j) k_t.k_j  (j < t)
i.e. d = U - W S0 with U = (I + L)^-1 diag(beta) V and W = (I + L)^-1 diag(beta * gamma) K (solved once for all
chunks with torch.linalg.solve_triangular). Then, chunk by chunk:
    o = scale * [ (q * gamma) S0 + ((Q K^T) o D) d ],   D[i, j] = exp(b_i - b_j) (j <= i)
    S_next = gamma_C S0 + (K * exp(b_C - b))^T d
Every exp() argument is <= 0. g=None (DeltaNet) is the same with g = 0.

Padding: T is padded to a multiple of C with q = k = v = 0, beta = 0, g = 0, which leaves the state untouched.
Accumulation is in float32 (float64 for float64 inputs); the output is cast back to v.dtype.
"""
from __future__ import annotations

import torch

from kernels._forms import from_chunks, n_chunks, setup, start_state, to_chunks


def delta_rule_chunk(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    beta: torch.Tensor,  # (B, T, H)
    g: torch.Tensor | None = None,  # (B, T, H) or None
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    B, T, H, K, V, acc, scale = setup(q, v, scale)
    C = chunk_size
    N = n_chunks(T, C)

    qc, kc, vc = (to_chunks(x, C, acc) for x in (q, k, v))  # (B, H, N, C, K|V)
    bc = to_chunks(beta, C, acc)  # (B, H, N, C)
    gc = qc.new_zeros(B, H, N, C) if g is None else to_chunks(g, C, acc)  # (B, H, N, C)
    b = gc.cumsum(dim=3)  # cumulative log decay inside each chunk

    dev = q.device
    causal = torch.ones(C, C, dtype=torch.bool, device=dev).tril()  # j <= i
    diff = b.unsqueeze(-1) - b.unsqueeze(-2)  # (B, H, N, C, C): b_i - b_j
    D = torch.where(causal, diff, torch.full_like(diff, float("-inf"))).exp()  # (B, H, N, C, C)

    # UT transform: (I + L) [U | W] = [diag(beta) V | diag(beta * gamma) K]
    kk = kc @ kc.transpose(-1, -2)  # (B, H, N, C, C)
    L = (bc.unsqueeze(-1) * kk * D).tril(-1)  # strictly lower
    eye = torch.eye(C, dtype=acc, device=dev)
    gamma = b.exp()  # (B, H, N, C)
    rhs = torch.cat([bc.unsqueeze(-1) * vc, (bc * gamma).unsqueeze(-1) * kc], dim=-1)  # (B, H, N, C, V+K)
    UW = torch.linalg.solve_triangular(eye + L, rhs, upper=False, unitriangular=True)
    U, W = UW[..., :V], UW[..., V:]  # (B, H, N, C, V), (B, H, N, C, K)

    A = (qc @ kc.transpose(-1, -2)) * D  # (B, H, N, C, C) causal, decayed scores
    q_in = qc * gamma.unsqueeze(-1)  # (B, H, N, C, K)
    k_out = kc * (b[..., -1:] - b).exp().unsqueeze(-1)  # (B, H, N, C, K)
    s_decay = gamma[..., -1, None, None]  # (B, H, N, 1, 1)

    S = start_state(initial_state, qc, B, H, K, V, acc)  # (B, H, K, V)
    outs = []
    for n in range(N):
        d = U[:, :, n] - W[:, :, n] @ S  # (B, H, C, V)
        outs.append(q_in[:, :, n] @ S + A[:, :, n] @ d)  # (B, H, C, V)
        S = s_decay[:, :, n] * S + k_out[:, :, n].transpose(-1, -2) @ d
    o = torch.stack(outs, dim=2) * scale  # (B, H, N, C, V)

    return from_chunks(o, T).to(v.dtype), (S if output_final_state else None)  # (B, T, H, V)
