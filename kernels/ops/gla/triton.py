"""Gated linear attention, chunked, in Triton: one fused launch forward, two launches backward.

    S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t ;   o_t = scale * q_t S_t          (S: (K, V) per batch, head)

Chunk form (chunk of BT rows, G = within-chunk cumulative log gate, S0 = state entering the chunk):
    o   = scale * ( (q * e^G) S0 + [(q k^T) o D] v ),   D_ij = e^(G_i - G_j) for j <= i, else 0
    S1  = e^(G_last) S0 + (k * e^(G_last - G))^T v

Forward: one program per (V block, batch*head) walks the chunks in order; the inter-chunk state pass and
all chunk-local work share one launch. It saves each chunk's entering state S0 (B*H, NT, K, V).
Backward: (1) a sequential program per (V block, batch*head) walks the chunks in reverse carrying only dS
(K, V block) and stores dS leaving each chunk (B*H, NT, K, V, float32); (2) a chunk-parallel launch
(chunk, V block, batch*head) computes dq, dk, dv, dGamma of each chunk from S0 and dS (and their transposes,
loaded transposed), with no loop-carried state.

Gate gradient (no extra pass): with Gamma the global cumulative log gate, q' = q e^Gamma, k' = k e^-Gamma,
    dGamma_t = sum(q_t * dq_t) - sum(k_t * dk_t)   (+ sum(S_T * dS_T) at the last step)
    dg_t = sum_{u >= t} dGamma_u                   (reverse cumsum, on the host)

Per-channel gates (g: (B, T, H, K)): q k^T o D no longer factorises; A is built from BC-row sub-chunks,
each with the reference point r = its first row: (q e^(G - G_r)) (k e^(G_r - G))^T. Every exponent is
<= 0 except e^(G_r - G_j) for j inside the same sub-chunk, which is clamped at e^CLAMP: exact while the
log decay of one channel over BC-1 = 15 steps stays above -CLAMP (= -80).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels import triton_common as C
from kernels.triton_common import _mm, chunk_cumsum, gate_grad

CLAMP = 80.0


@triton.jit
def _load_G(gc, base, c, T, rt, rk, stride, BT: tl.constexpr):
    """Channel gate: G (BT, K), GT (K, BT) of the chunk (rows past T repeat row T-1)."""
    tc = tl.minimum(c * BT + rt, T - 1)
    G = tl.load(gc + base + tc[:, None] * stride + rk[None, :])
    GT = tl.load(gc + base + tc[None, :] * stride + rk[:, None])
    return G, GT


@triton.jit
def _sub_factors(gc, base, c, T, rt, rk, stride, G, GT, s: tl.constexpr, BT: tl.constexpr, BC: tl.constexpr,
                 CLAMP: tl.constexpr):
    """Factors of sub-chunk s (rows r = s*BC .. r+BC-1) for per-channel gates, with G_r loaded as a row/column:
    fq = e^(G - G_r) on its rows (0 elsewhere), fk = e^min(G_r - G, CLAMP) on rows j < r + BC (0 elsewhere),
    and their transposes fqT, fkT (K, BT)."""
    r = s * BC
    tr = tl.minimum(c * BT + r, T - 1)
    Gr_row = tl.load(gc + base + tr * stride + rk[None, :])  # (1, K)
    Gr_col = tl.load(gc + base + tr * stride + rk[:, None])  # (K, 1)
    in_s = (rt >= r) & (rt < r + BC)
    upto = rt < r + BC
    fq = tl.exp(tl.where(in_s[:, None], G - Gr_row, -1e30))
    fk = tl.exp(tl.where(upto[:, None], tl.minimum(Gr_row - G, CLAMP), -1e30))
    fqT = tl.exp(tl.where(in_s[None, :], GT - Gr_col, -1e30))
    fkT = tl.exp(tl.where(upto[None, :], tl.minimum(Gr_col - GT, CLAMP), -1e30))
    return fq, fk, fqT, fkT


@triton.jit
def _gla_fwd_kernel(
    q, k, v, gc, h0, o, hs, ht, scale, T, NT,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
    BC: tl.constexpr, GATE: tl.constexpr, HAS_H0: tl.constexpr, STORE_HS: tl.constexpr,
    STORE_HT: tl.constexpr, DT: tl.constexpr, PREC: tl.constexpr, CLAMP: tl.constexpr,
):
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = i_v * BV + tl.arange(0, BV)
    row0 = i_b.to(tl.int64) * T * H + i_h  # flat (b, t=0, h) index
    p_q = q + row0 * K
    p_k = k + row0 * K
    p_v = v + row0 * V
    p_o = o + row0 * V
    p_s = i_bh.to(tl.int64) * K * V + rk[:, None] * V + rv[None, :]  # (K, BV) offsets into a state

    if HAS_H0:
        S = tl.load(h0 + p_s).to(tl.float32)
    else:
        S = tl.zeros([K, BV], dtype=tl.float32)
    causal = rt[:, None] >= rt[None, :]

    for c in range(NT):
        t = c * BT + rt
        mt = t < T
        tc = tl.minimum(t, T - 1)
        tlast = tl.minimum(c * BT + BT, T) - 1
        q_c = tl.load(p_q + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
        kT = tl.load(p_k + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
        v_c = tl.load(p_v + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
        if STORE_HS:
            tl.store(hs + (i_bh.to(tl.int64) * NT + c) * K * V + rk[:, None] * V + rv[None, :],
                     S.to(hs.dtype.element_ty))
        if GATE == 0:
            o_c = _mm(q_c, S, DT, PREC)
            A = tl.where(causal, _mm(q_c, kT, DT, PREC), 0.0)
            o_c += _mm(A, v_c, DT, PREC)
            S += _mm(kT, v_c, DT, PREC)
        elif GATE == 1:
            Gcol = tl.load(gc + row0 + tc[:, None] * H)  # (BT, 1)
            Grow = tl.load(gc + row0 + tc[None, :] * H)  # (1, BT)
            GL = tl.load(gc + row0 + tlast * H)
            o_c = _mm(q_c * tl.exp(Gcol), S, DT, PREC)
            D = tl.exp(tl.where(causal, Gcol - Grow, -1e30))
            A = _mm(q_c, kT, DT, PREC) * D
            o_c += _mm(A, v_c, DT, PREC)
            S = S * tl.exp(GL) + _mm(kT * tl.exp(GL - Grow), v_c, DT, PREC)
        else:
            G, GT = _load_G(gc, row0 * K, c, T, rt, rk, H * K, BT)
            GLcol = tl.load(gc + row0 * K + tlast * (H * K) + rk[:, None])  # (K, 1)
            o_c = _mm(q_c * tl.exp(G), S, DT, PREC)
            A = tl.zeros([BT, BT], dtype=tl.float32)
            for s in tl.static_range(BT // BC):
                fq, fk, fqT, fkT = _sub_factors(gc, row0 * K, c, T, rt, rk, H * K, G, GT, s, BT, BC, CLAMP)
                A += _mm(q_c * fq, kT * fkT, DT, PREC)
            A = tl.where(causal, A, 0.0)
            o_c += _mm(A, v_c, DT, PREC)
            S = S * tl.exp(GLcol) + _mm(kT * tl.exp(GLcol - GT), v_c, DT, PREC)
        tl.store(p_o + t[:, None] * (H * V) + rv[None, :], (o_c * scale).to(o.dtype.element_ty),
                 mask=mt[:, None])
    if STORE_HT:
        tl.store(ht + p_s, S)


@triton.jit
def _gla_bwd_dh_kernel(
    q, gc, do, dht, dhs, dh0, scale, T, NT,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
    GATE: tl.constexpr, HAS_H0: tl.constexpr, HAS_DHT: tl.constexpr, DT: tl.constexpr, PREC: tl.constexpr,
):
    """Backward launch 1 (sequential over chunks, reverse): the state gradient only.
    dhs[c] = dS leaving chunk c;  dS entering c = dS e^(G_last) + scale (q e^G)^T do."""
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = i_v * BV + tl.arange(0, BV)
    row0 = i_b.to(tl.int64) * T * H + i_h
    p_q = q + row0 * K
    p_do = do + row0 * V
    p_s = i_bh.to(tl.int64) * K * V + rk[:, None] * V + rv[None, :]
    if HAS_DHT:
        dS = tl.load(dht + p_s).to(tl.float32)
    else:
        dS = tl.zeros([K, BV], dtype=tl.float32)
    for ci in range(NT):
        c = NT - 1 - ci
        t = c * BT + rt
        mt = t < T
        tc = tl.minimum(t, T - 1)
        tlast = tl.minimum(c * BT + BT, T) - 1
        tl.store(dhs + (i_bh.to(tl.int64) * NT + c) * K * V + rk[:, None] * V + rv[None, :], dS)
        qT = tl.load(p_q + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)  # (K, BT)
        do_c = tl.load(p_do + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
        if GATE == 1:  # (no GATE 0 here: gla() trains ungated calls on a zero scalar gate)
            Grow = tl.load(gc + row0 + tc[None, :] * H)  # (1, BT)
            GL = tl.load(gc + row0 + tlast * H)
            dS = dS * tl.exp(GL) + _mm(qT * tl.exp(Grow), do_c, DT, PREC) * scale
        else:
            GT = tl.load(gc + row0 * K + tc[None, :] * (H * K) + rk[:, None])  # (K, BT)
            GLcol = tl.load(gc + row0 * K + tlast * (H * K) + rk[:, None])  # (K, 1)
            dS = dS * tl.exp(GLcol) + _mm(qT * tl.exp(GT), do_c, DT, PREC) * scale
    if HAS_H0:
        tl.store(dh0 + p_s, dS)


@triton.jit
def _gla_bwd_chunk_kernel(
    q, k, v, gc, hs, dhs, do, dq, dk, dv, dg, scale, T, NT, NVBTHK, NVBTHG,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
    BC: tl.constexpr, GATE: tl.constexpr, DT: tl.constexpr, PREC: tl.constexpr, CLAMP: tl.constexpr,
):
    """Backward launch 2 (chunk-parallel, no loop-carried state): dq, dk, dv, dGamma of chunk c from
    S0 (hs[c]) and dS leaving the chunk (dhs[c])."""
    c = tl.program_id(0)
    i_v = tl.program_id(1)
    i_bh = tl.program_id(2)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = i_v * BV + tl.arange(0, BV)
    row0 = i_b.to(tl.int64) * T * H + i_h
    p_q = q + row0 * K
    p_k = k + row0 * K
    p_v = v + row0 * V
    p_do = do + row0 * V
    p_dv = dv + row0 * V
    p_dq = dq + i_v.to(tl.int64) * NVBTHK + row0 * K  # partial over V blocks: (NV, B, T, H, K)
    p_dk = dk + i_v.to(tl.int64) * NVBTHK + row0 * K
    causal = rt[:, None] >= rt[None, :]
    causalT = rt[:, None] <= rt[None, :]

    # Triton 3.4-3.7.0 on Hopper miscompiles tl.trans feeding a dot (fla #640), and scans with 1-D expansions
    # failed there too (docs/kernels.md): these kernels hold no tl.trans and no scan. Transposed tiles (q^T, v^T, do^T, S0^T, dS^T) are loaded as such, A^T and dA^T are built
    # directly, and the reverse cumsum of the gate gradient happens on the host.
    t = c * BT + rt
    mt = t < T
    tc = tl.minimum(t, T - 1)
    tlast = tl.minimum(c * BT + BT, T) - 1
    q_c = tl.load(p_q + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
    k_c = tl.load(p_k + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
    v_c = tl.load(p_v + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
    do_c = tl.load(p_do + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
    qT = tl.load(p_q + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
    vT = tl.load(p_v + t[None, :] * (H * V) + rv[:, None], mask=mt[None, :], other=0.0)
    doT = tl.load(p_do + t[None, :] * (H * V) + rv[:, None], mask=mt[None, :], other=0.0)
    off = (i_bh.to(tl.int64) * NT + c) * K * V
    S0T = tl.load(hs + off + rv[:, None] + rk[None, :] * V)  # (BV, K)
    dS = tl.load(dhs + off + rk[:, None] * V + rv[None, :])  # (K, BV): dS leaving the chunk
    dSt = tl.load(dhs + off + rv[:, None] + rk[None, :] * V)  # (BV, K)
    # dA_ij = scale * do_i . v_j (i >= j); dAt = its transpose, computed as v do^T
    dA = tl.where(causal, _mm(do_c, vT, DT, PREC) * scale, 0.0)
    dAt = tl.where(causalT, _mm(v_c, doT, DT, PREC) * scale, 0.0)
    if GATE == 1:  # (no GATE 0 here: gla() trains ungated calls on a zero scalar gate)
        Gcol = tl.load(gc + row0 + tc[:, None] * H)  # (BT, 1)
        Grow = tl.load(gc + row0 + tc[None, :] * H)  # (1, BT)
        GL = tl.load(gc + row0 + tlast * H)
        eLGcol = tl.exp(GL - Gcol)
        D = tl.exp(tl.where(causal, Gcol - Grow, -1e30))
        Dt = tl.exp(tl.where(causalT, Grow - Gcol, -1e30))
        At = _mm(k_c, qT, DT, PREC) * (Dt * scale)
        dA = dA * D
        dAt = dAt * Dt
        dv_c = _mm(At, do_c, DT, PREC) + _mm(k_c * eLGcol, dS, DT, PREC)
        dq_c = _mm(dA, k_c, DT, PREC) + _mm(do_c, S0T, DT, PREC) * (tl.exp(Gcol) * scale)
        dk_c = _mm(dAt, q_c, DT, PREC) + _mm(v_c, dSt, DT, PREC) * eLGcol
        # dGamma_t (partial over V blocks); the reverse cumsum over T is done on the host
        dgam = tl.sum(q_c * dq_c - k_c * dk_c, axis=1)
        tl.store(dg + i_v.to(tl.int64) * NVBTHG + row0 + t * H, dgam, mask=mt)
    else:
        G, GT = _load_G(gc, row0 * K, c, T, rt, rk, H * K, BT)
        GLrow = tl.load(gc + row0 * K + tlast * (H * K) + rk[None, :])  # (1, K)
        eLG = tl.exp(GLrow - G)
        At = tl.zeros([BT, BT], dtype=tl.float32)
        dq_c = tl.zeros([BT, K], dtype=tl.float32)
        dk_c = tl.zeros([BT, K], dtype=tl.float32)
        for s in tl.static_range(BT // BC):
            fq, fk, fqT, fkT = _sub_factors(gc, row0 * K, c, T, rt, rk, H * K, G, GT, s, BT, BC, CLAMP)
            At += _mm(k_c * fk, qT * fqT, DT, PREC)
            dq_c += fq * _mm(dA, k_c * fk, DT, PREC)
            dk_c += fk * _mm(dAt, q_c * fq, DT, PREC)
        At = tl.where(causalT, At * scale, 0.0)
        dv_c = _mm(At, do_c, DT, PREC) + _mm(k_c * eLG, dS, DT, PREC)
        dq_c += _mm(do_c, S0T, DT, PREC) * (tl.exp(G) * scale)
        dk_c += _mm(v_c, dSt, DT, PREC) * eLG
        dgam = q_c * dq_c - k_c * dk_c  # (BT, K): dGamma_t per channel, reverse cumsum on the host
        tl.store(dg + i_v.to(tl.int64) * NVBTHG + row0 * K + t[:, None] * (H * K) + rk[None, :], dgam,
                 mask=mt[:, None])
    tl.store(p_dq + t[:, None] * (H * K) + rk[None, :], dq_c.to(dq.dtype.element_ty), mask=mt[:, None])
    tl.store(p_dk + t[:, None] * (H * K) + rk[None, :], dk_c.to(dk.dtype.element_ty), mask=mt[:, None])
    tl.store(p_dv + t[:, None] * (H * V) + rv[None, :], dv_c.to(dv.dtype.element_ty), mask=mt[:, None])


def _gate_mode(g, q):
    if g is None:
        return 0
    if g.dim() == 3:
        return 1
    if g.shape != q.shape:
        raise ValueError(f"g must be (B, T, H) or (B, T, H, K) = {tuple(q.shape)}, got {tuple(g.shape)}")
    return 2


class _GLAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, g, scale, initial_state, output_final_state, opts):
        B, T, H, K = q.shape
        V = v.shape[-1]
        C.check_head_dims(K, V)
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        g = g.contiguous() if g is not None else None
        gate = _gate_mode(g, q)
        BT, BC = C.CHUNK, 16
        NT = C.cdiv(T, BT)
        BV = C.pick_bv(V, B * H)
        NV = V // BV
        need_grad = any(ctx.needs_input_grad)
        dev = q.device
        gc = chunk_cumsum(g, BT) if g is not None else None
        o = C.alloc((B, T, H, V), v.dtype, dev, opts)
        hs = C.alloc((B * H, NT, K, V), C.state_dtype(q.dtype), dev, opts) if need_grad else o
        store_ht = output_final_state or need_grad
        ht = C.alloc((B, H, K, V), torch.float32, dev, opts) if store_ht else o
        h0 = initial_state.contiguous() if initial_state is not None else None
        C.launched('_gla_fwd_kernel', _gla_fwd_kernel[(NV, B * H)](
            q, k, v, gc if gc is not None else q, h0 if h0 is not None else q, o, hs, ht, scale, T, NT,
            H=H, K=K, V=V, BT=BT, BV=BV, BC=BC, GATE=gate, HAS_H0=h0 is not None, STORE_HS=need_grad,
            STORE_HT=store_ht, DT=C.tl_dtype(q.dtype), PREC=C.dot_precision(q.dtype), CLAMP=CLAMP,
            num_warps=C.FWD_WARPS, num_stages=1,
        ), opts)
        if need_grad:
            ctx.save_for_backward(q, k, v, g, gc, hs, ht, h0)
            ctx.meta = (scale, gate, BT, BC, BV, initial_state.dtype if initial_state is not None else None, opts)
        return o, (ht if output_final_state else None)

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, g, gc, hs, ht, h0 = ctx.saved_tensors
        scale, gate, BT, BC, BV, h0_dtype, opts = ctx.meta
        assert gate != 0, "ungated gradients go through the scalar path (gla() passes a zero log gate)"
        B, T, H, K = q.shape
        V = v.shape[-1]
        NV = V // BV
        dev = q.device
        do = do.contiguous()
        pdt = q.dtype if NV == 1 else torch.float32
        dq = C.alloc((NV, B, T, H, K), pdt, dev, opts)
        dk = C.alloc((NV, B, T, H, K), pdt, dev, opts)
        dv = C.alloc((B, T, H, V), v.dtype, dev, opts)
        dg = C.alloc((NV,) + tuple(g.shape), torch.float32, dev, opts) if g is not None else None
        dh0 = C.alloc((B, H, K, V), torch.float32, dev, opts) if h0 is not None else None
        if dht is not None:
            dht = dht.contiguous()
        NT = C.cdiv(T, BT)
        DT, PREC, nw = C.tl_dtype(q.dtype), C.dot_precision(q.dtype), opts.bwd_warps
        gcx = gc if gc is not None else q
        dhs = C.alloc((B * H, NT, K, V), torch.float32, dev, opts)  # dS leaving each chunk
        C.launched('_gla_bwd_dh_kernel', _gla_bwd_dh_kernel[(NV, B * H)](
            q, gcx, do, dht if dht is not None else do, dhs, dh0 if dh0 is not None else dhs, scale, T, NT,
            H=H, K=K, V=V, BT=BT, BV=BV, GATE=gate, HAS_H0=h0 is not None, HAS_DHT=dht is not None,
            DT=DT, PREC=PREC, num_warps=nw, num_stages=1,
        ), opts)
        C.launched('_gla_bwd_chunk_kernel', _gla_bwd_chunk_kernel[(NT, NV, B * H)](
            q, k, v, gcx, hs, dhs, do, dq, dk, dv, dg if dg is not None else dq, scale, T, NT,
            B * T * H * K, (g.numel() if g is not None else 0),
            H=H, K=K, V=V, BT=BT, BV=BV, BC=BC, GATE=gate, DT=DT, PREC=PREC, CLAMP=CLAMP,
            num_warps=nw, num_stages=1,
        ), opts)
        dq = C.finish_partial(dq, q.dtype)
        dk = C.finish_partial(dk, k.dtype)
        if g is not None:
            dg = gate_grad(dg, ht if dht is not None else None, dht, g.dtype)
        dh0 = dh0.to(h0_dtype) if dh0 is not None else None
        return dq, dk, dv, dg, None, dh0, None, None


def gla(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False, options=None):
    """Chunked GLA on CUDA (Triton). Shapes and semantics as kernels.gla_recurrent (docs/architecture.md);
    `options`: a `kernels.triton.Options` (default: the product's)."""
    opts = C.DEFAULT if options is None else options
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if q.shape[1] == 0:
        raise ValueError("Triton gla needs T >= 1")
    if g is None and C.needs_grad(q, k, v, initial_state):
        # Training without a gate runs the scalar-gate path on an all-zero log gate (identical maths): the backward
        # kernels have no ungated branch (it failed its device check, docs/kernels.md).
        g = torch.zeros(q.shape[:3], dtype=torch.float32, device=q.device)
    _gate_mode(g, q)  # validates g's shape
    return _GLAFunction.apply(q, k, v, g, float(scale), initial_state, bool(output_final_state), opts)
