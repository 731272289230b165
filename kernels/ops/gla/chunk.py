"""Chunked parallel form of gated linear attention, in plain PyTorch (any device, autograd through torch ops).

Same recurrence as `kernels.ops.gla.naive.gla_recurrent`:
    S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t ;  o_t = scale * q_t S_t

The sequence is cut into chunks of C steps. With b_i = g_1 + ... + g_i the cumulative log decay inside a chunk
(b is non-increasing, b_i - b_j <= 0 for j <= i):
    o_i = scale * [ (q_i * exp(b_i)) S_prev  +  sum_{j <= i} (sum_k q_ik k_jk exp(b_ik - b_jk)) v_j ]
    S_next = diag(exp(b_C)) S_prev + sum_j (k_j * exp(b_C - b_j))^T v_j
Every exp() argument is <= 0, so nothing overflows however strong the decay.

Intra-chunk scores with per-channel gates use sub-chunks of c steps: for a key sub-block J strictly before the
query sub-block I the decay is factored through r = b at the first step of I:
    exp(b_i - b_j) = exp(b_i - r) * exp(r - b_j)      both factors <= 1
which turns the block into one matmul; diagonal sub-blocks are computed exactly, pairwise, on (c, c, K).
Per-head (scalar) gates take a fast path with one (C, C) decay matrix; g=None is the scalar path with g = 0.

Padding: T is padded to a multiple of C with q = k = v = 0 and g = 0 (decay 1), which leaves the state untouched.
Accumulation is in float32 (float64 for float64 inputs); the output is cast back to v.dtype.
"""
from __future__ import annotations

import torch

from kernels._forms import from_chunks, n_chunks, setup, start_state, to_chunks

_SUB = 16  # sub-chunk length for per-channel gates


def _causal_exp(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """exp(diff) where mask, else 0, without ever evaluating exp of a positive masked-out value."""
    return torch.where(mask, diff, torch.full_like(diff, float("-inf"))).exp()


def _intra_scalar(q, k, b):
    """Scores for per-head gates. q, k: (B, H, N, C, K); b: (B, H, N, C) -> (B, H, N, C, C)."""
    C = q.shape[-2]
    mask = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()  # (C, C), j <= i
    decay = _causal_exp(b.unsqueeze(-1) - b.unsqueeze(-2), mask)  # (B, H, N, C, C)
    return (q @ k.transpose(-1, -2)) * decay


def _intra_channel(q, k, b, sub):
    """Scores for per-channel gates. q, k, b: (B, H, N, C, K) -> (B, H, N, C, C)."""
    B, H, N, C, K = q.shape
    ns = C // sub
    dev = q.device
    qs = q.reshape(B, H, N, ns, sub, K)  # (B, H, N, ns, c, K)
    ks = k.reshape(B, H, N, ns, sub, K)
    bs = b.reshape(B, H, N, ns, sub, K)

    # diagonal sub-blocks, exact: A[i, j] = sum_k q_ik k_jk exp(b_ik - b_jk), j <= i
    tri = torch.ones(sub, sub, dtype=torch.bool, device=dev).tril()  # (c, c)
    diff = bs.unsqueeze(-2) - bs.unsqueeze(-3)  # (B, H, N, ns, c_i, c_j, K)
    decay = _causal_exp(diff, tri[:, :, None])
    # a product and a sum over K (element-wise, so in float32 under autocast too) rather than a three-operand
    # einsum, which runs as batched matrix-vector products of length K (cuBLAS gemv kernels on CUDA)
    A_diag = (qs.unsqueeze(-2) * ks.unsqueeze(-3) * decay).sum(-1)  # (B, H, N, ns, c, c)
    if ns == 1:
        return A_diag.reshape(B, H, N, C, C)

    # off-diagonal sub-blocks J < I, factored through r_I = b at the first step of sub-block I
    r = bs[..., 0, :]  # (B, H, N, ns, K)
    q_dec = qs * (bs - r.unsqueeze(-2)).exp()  # (B, H, N, ns, c, K), exponent <= 0
    before = torch.ones(ns, ns, dtype=torch.bool, device=dev).tril(-1)  # (I, J), J < I
    k_diff = r[..., :, None, None, :] - bs[..., None, :, :, :]  # (B, H, N, I, J, c, K), <= 0 where J < I
    k_dec = ks[..., None, :, :, :] * _causal_exp(k_diff, before[:, :, None, None])
    A_off = torch.einsum("bhnIik,bhnIJjk->bhnIiJj", q_dec, k_dec)  # (B, H, N, ns, c, ns, c)

    eye = torch.eye(ns, dtype=q.dtype, device=dev)[:, None, :, None]  # (I, 1, J, 1): place the diagonal sub-blocks
    A = A_off + A_diag.unsqueeze(-2) * eye  # (B, H, N, ns, c, ns, c), a broadcast, not an outer-product matmul
    return A.reshape(B, H, N, C, C)


def gla_chunk(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None = None,  # (B, T, H, K) or (B, T, H) or None
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    B, T, H, K, V, acc, scale = setup(q, v, scale)
    per_channel = g is not None and g.dim() == 4

    C = chunk_size
    N = n_chunks(T, C)
    sub = _SUB if C % _SUB == 0 else C

    qc, kc, vc = (to_chunks(x, C, acc) for x in (q, k, v))  # (B, H, N, C, K|V)
    if g is None:
        gc = qc.new_zeros(B, H, N, C)  # (B, H, N, C)
    else:
        gc = to_chunks(g, C, acc)  # (B, H, N, C, K) or (B, H, N, C)
    b = gc.cumsum(dim=3)  # cumulative log decay inside each chunk

    if per_channel:
        A = _intra_channel(qc, kc, b, sub)  # (B, H, N, C, C)
        b_last = b[:, :, :, -1]  # (B, H, N, K)
        q_in = qc * b.exp()  # (B, H, N, C, K)
        k_out = kc * (b_last.unsqueeze(-2) - b).exp()  # (B, H, N, C, K)
        s_decay = b_last.exp().unsqueeze(-1)  # (B, H, N, K, 1)
    else:
        A = _intra_scalar(qc, kc, b)
        b_last = b[:, :, :, -1:]  # (B, H, N, 1)
        q_in = qc * b.exp().unsqueeze(-1)
        k_out = kc * (b_last - b).exp().unsqueeze(-1)
        s_decay = b_last.exp().unsqueeze(-1)  # (B, H, N, 1, 1)

    o = A @ vc  # (B, H, N, C, V) intra-chunk part

    S = start_state(initial_state, qc, B, H, K, V, acc)  # (B, H, K, V)
    o_inter = []
    for n in range(N):
        o_inter.append(q_in[:, :, n] @ S)  # (B, H, C, V)
        S = s_decay[:, :, n] * S + k_out[:, :, n].transpose(-1, -2) @ vc[:, :, n]
    o = (o + torch.stack(o_inter, dim=2)) * scale  # (B, H, N, C, V)

    return from_chunks(o, T).to(v.dtype), (S if output_final_state else None)  # (B, T, H, V)
