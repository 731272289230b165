"""(Gated) delta rule, chunked (WY / UT form), in Triton: two launches forward, two backward.

    S_t = e^(g_t) (I - beta_t k_t^T k_t) S_{t-1} + beta_t k_t^T v_t ;   o_t = scale * q_t S_t

Chunk form (chunk of BT rows, G within-chunk cumulative log gate, gam = e^G, S0 = state entering the chunk):
    Akk = strict_lower(diag(beta) (k k^T o Gm)),   Gm_ij = e^(G_i - G_j)
    M   = (I + Akk)^-1,  Tm = M diag(beta)                    (launch 1, parallel over chunks, saved)
    W   = Tm (gam * k),  U = Tm v,  V' = U - W S0              (launch 2, one program walks the chunks)
    o   = scale * ( (gam * q) S0 + [(q k^T) o Gm o causal] V' )
    S1  = e^(G_last) S0 + (k * e^(G_last - G))^T V'

Backward, two launches (no loop-carried dS^T, no tl.trans, no scans):
  1. sequential, one program per (V block, batch*head), chunks in reverse, carrying only dS (K, V block):
     stores dS leaving each chunk (dhs), dV' = A^T do * scale + (k e^(G_last - G)) dS (fp32 scratch),
     dv = Tm^T dV', and steps dS <- e^(G_last) dS + scale (q e^G)^T do - (k e^G)^T dv; dh0 at the end.
  2. chunk-parallel (chunk, V block, batch*head): recomputes W, U, V' from the saved M and S0 and
     back-propagates the rest (dM -> dAkk = -M^T dM M^T) with dS^T, dV'^T loaded transposed.
dq, dk, dbeta are partial sums over V blocks (summed afterwards when V is split). Gate gradient: with Gamma the global
cumulative log gate the recurrence is the ungated delta rule on q e^Gamma, v e^-Gamma, so
    dGamma_t = sum(q_t * dq_t) - sum(v_t * dv_t)  (+ sum(S_T * dS_T) at the last step),  dg = reverse cumsum.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels import triton_common as C
from kernels.triton_common import _mm, chunk_cumsum, gate_grad


@triton.jit
def _delta_prep_kernel(
    k, beta, g, Ms, T, NT,
    H: tl.constexpr, K: tl.constexpr, BT: tl.constexpr, GATED: tl.constexpr,
    DT: tl.constexpr, PREC: tl.constexpr,
):
    """M = (I + Akk)^-1 per chunk, by forward substitution on the rows (fp32)."""
    c = tl.program_id(0)
    i_bh = tl.program_id(1)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    row0 = i_b.to(tl.int64) * T * H + i_h
    t = c * BT + rt
    mt = t < T
    k_c = tl.load(k + row0 * K + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
    kT = tl.load(k + row0 * K + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
    b_c = tl.load(beta + row0 + t * H, mask=mt, other=0.0).to(tl.float32)
    strict = rt[:, None] > rt[None, :]
    kk = tl.dot(k_c, kT, input_precision=PREC)
    if GATED:
        tc = tl.minimum(t, T - 1)
        Gcol = tl.load(g + row0 + tc[:, None] * H)  # g holds the within-chunk cumulative gate
        Grow = tl.load(g + row0 + tc[None, :] * H)
        L = tl.where(strict, kk * tl.exp(tl.where(strict, Gcol - Grow, 0.0)), 0.0) * b_c[:, None]
    else:
        L = tl.where(strict, kk, 0.0) * b_c[:, None]
    M = tl.where(rt[:, None] == rt[None, :], 1.0, 0.0)
    for i in range(1, BT):
        li = tl.sum(tl.where(rt[:, None] == i, L, 0.0), axis=0)  # row i of L, indexed by j
        upd = tl.sum(li[:, None] * M, axis=0)  # sum_j L_ij M_j.
        M = tl.where(rt[:, None] == i, M - upd[None, :], M)
    tl.store(Ms + ((i_bh.to(tl.int64) * NT + c) * BT + rt[:, None]) * BT + rt[None, :], M)


@triton.jit
def _delta_fwd_kernel(
    q, k, v, beta, g, Ms, h0, o, hs, ht, scale, T, NT,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
    GATED: tl.constexpr, HAS_H0: tl.constexpr, STORE_HS: tl.constexpr, STORE_HT: tl.constexpr,
    DT: tl.constexpr, PREC: tl.constexpr,
):
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = i_v * BV + tl.arange(0, BV)
    row0 = i_b.to(tl.int64) * T * H + i_h
    p_s = i_bh.to(tl.int64) * K * V + rk[:, None] * V + rv[None, :]
    causal = rt[:, None] >= rt[None, :]
    if HAS_H0:
        S = tl.load(h0 + p_s).to(tl.float32)
    else:
        S = tl.zeros([K, BV], dtype=tl.float32)
    for c in range(NT):
        t = c * BT + rt
        mt = t < T
        q_c = tl.load(q + row0 * K + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
        k_c = tl.load(k + row0 * K + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
        kT = tl.load(k + row0 * K + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
        v_c = tl.load(v + row0 * V + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
        b_c = tl.load(beta + row0 + t * H, mask=mt, other=0.0).to(tl.float32)
        M = tl.load(Ms + ((i_bh.to(tl.int64) * NT + c) * BT + rt[:, None]) * BT + rt[None, :])
        if STORE_HS:
            tl.store(hs + (i_bh.to(tl.int64) * NT + c) * K * V + rk[:, None] * V + rv[None, :],
                     S.to(hs.dtype.element_ty))
        Tm = M * b_c[None, :]
        if GATED:
            tc = tl.minimum(t, T - 1)
            Gcol = tl.load(g + row0 + tc[:, None] * H)  # (BT, 1) within-chunk cumulative gate
            Grow = tl.load(g + row0 + tc[None, :] * H)  # (1, BT)
            GL = tl.load(g + row0 + (tl.minimum(c * BT + BT, T) - 1) * H)
            eGcol = tl.exp(Gcol)
            W = _mm(Tm, k_c * eGcol, DT, PREC)
            D = tl.exp(tl.where(causal, Gcol - Grow, -1e30))
            A = _mm(q_c, kT, DT, PREC) * D
            Vn = _mm(Tm, v_c, DT, PREC) - _mm(W, S, DT, PREC)
            o_c = _mm(q_c * eGcol, S, DT, PREC) + _mm(A, Vn, DT, PREC)
            S = S * tl.exp(GL) + _mm(kT * tl.exp(GL - Grow), Vn, DT, PREC)
        else:
            W = _mm(Tm, k_c, DT, PREC)
            A = tl.where(causal, _mm(q_c, kT, DT, PREC), 0.0)
            Vn = _mm(Tm, v_c, DT, PREC) - _mm(W, S, DT, PREC)
            o_c = _mm(q_c, S, DT, PREC) + _mm(A, Vn, DT, PREC)
            S = S + _mm(kT, Vn, DT, PREC)
        tl.store(o + row0 * V + t[:, None] * (H * V) + rv[None, :], (o_c * scale).to(o.dtype.element_ty),
                 mask=mt[:, None])
    if STORE_HT:
        tl.store(ht + p_s, S)


@triton.jit
def _delta_bwd_dh_kernel(
    q, k, beta, g, Ms, do, dht, dhs, dvn, dv, dh0, scale, T, NT,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
    GATED: tl.constexpr, HAS_H0: tl.constexpr, HAS_DHT: tl.constexpr, DT: tl.constexpr, PREC: tl.constexpr,
):
    """Backward launch 1 (sequential over chunks, reverse), carrying only dS (K, BV). Per chunk:
    dhs[c] = dS leaving the chunk;  dV' = A^T do + (k e^(G_last - G)) dS  (stored, fp32);  dv = Tm^T dV';
    dS entering the chunk = e^(G_last) dS + scale (q e^G)^T do - (k e^G)^T dv."""
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = i_v * BV + tl.arange(0, BV)
    row0 = i_b.to(tl.int64) * T * H + i_h
    p_s = i_bh.to(tl.int64) * K * V + rk[:, None] * V + rv[None, :]
    causalT = rt[:, None] <= rt[None, :]
    if HAS_DHT:
        dS = tl.load(dht + p_s).to(tl.float32)
    else:
        dS = tl.zeros([K, BV], dtype=tl.float32)
    for ci in range(NT):
        c = NT - 1 - ci
        t = c * BT + rt
        mt = t < T
        tl.store(dhs + (i_bh.to(tl.int64) * NT + c) * K * V + rk[:, None] * V + rv[None, :], dS)
        k_c = tl.load(k + row0 * K + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
        qT = tl.load(q + row0 * K + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
        kT = tl.load(k + row0 * K + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
        do_c = tl.load(do + row0 * V + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
        b_c = tl.load(beta + row0 + t * H, mask=mt, other=0.0).to(tl.float32)
        MT = tl.load(Ms + ((i_bh.to(tl.int64) * NT + c) * BT + rt[None, :]) * BT + rt[:, None])  # M^T
        TmT = MT * b_c[:, None]
        if GATED:
            tc = tl.minimum(t, T - 1)
            Gcol = tl.load(g + row0 + tc[:, None] * H)  # (BT, 1) within-chunk cumulative gate
            Grow = tl.load(g + row0 + tc[None, :] * H)  # (1, BT)
            GL = tl.load(g + row0 + (tl.minimum(c * BT + BT, T) - 1) * H)
            eGrow = tl.exp(Grow)
            Dt = tl.exp(tl.where(causalT, Grow - Gcol, -1e30))
            At = _mm(k_c, qT, DT, PREC) * (Dt * scale)
            dVn = _mm(At, do_c, DT, PREC) + _mm(k_c * tl.exp(GL - Gcol), dS, DT, PREC)  # (BT, BV)
            dv_c = _mm(TmT, dVn, DT, PREC)
            dS = dS * tl.exp(GL) + _mm(qT * eGrow, do_c, DT, PREC) * scale - _mm(kT * eGrow, dv_c, DT, PREC)
        else:
            At = tl.where(causalT, _mm(k_c, qT, DT, PREC) * scale, 0.0)
            dVn = _mm(At, do_c, DT, PREC) + _mm(k_c, dS, DT, PREC)
            dv_c = _mm(TmT, dVn, DT, PREC)
            dS = dS + _mm(qT, do_c, DT, PREC) * scale - _mm(kT, dv_c, DT, PREC)
        p_bv = row0 * V + t[:, None] * (H * V) + rv[None, :]
        tl.store(dvn + p_bv, dVn, mask=mt[:, None])
        tl.store(dv + p_bv, dv_c.to(dv.dtype.element_ty), mask=mt[:, None])
    if HAS_H0:
        tl.store(dh0 + p_s, dS)


@triton.jit
def _delta_bwd_chunk_kernel(
    q, k, v, beta, g, Ms, hs, dhs, dvn, do, dq, dk, dbeta, dg, scale, T, NT, NVBTHK, NVBTH,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
    GATED: tl.constexpr, DT: tl.constexpr, PREC: tl.constexpr,
):
    """Backward launch 2 (chunk-parallel, no loop-carried state): dq, dk, dbeta, dGamma of chunk c from
    S0 (hs[c]), dS leaving the chunk (dhs[c]) and dV' (launch 1)."""
    c = tl.program_id(0)
    i_v = tl.program_id(1)
    i_bh = tl.program_id(2)
    i_b = i_bh // H
    i_h = i_bh % H
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = i_v * BV + tl.arange(0, BV)
    row0 = i_b.to(tl.int64) * T * H + i_h
    causal = rt[:, None] >= rt[None, :]
    causalT = rt[:, None] <= rt[None, :]
    strict = rt[:, None] > rt[None, :]
    strictT = rt[:, None] < rt[None, :]
    # Triton 3.4-3.7.0 on Hopper miscompiles tl.trans feeding a dot (fla #640), so these kernels hold no
    # tl.trans: transposed tiles (k^T, v^T, do^T, M^T, S0^T, dS^T, dV'^T) are loaded as such and transposed
    # products are computed directly from them (V'^T = (v^T - S0^T kg^T) Tm^T, ...).
    t = c * BT + rt
    mt = t < T
    q_c = tl.load(q + row0 * K + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
    k_c = tl.load(k + row0 * K + t[:, None] * (H * K) + rk[None, :], mask=mt[:, None], other=0.0)
    v_c = tl.load(v + row0 * V + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
    do_c = tl.load(do + row0 * V + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
    b_c = tl.load(beta + row0 + t * H, mask=mt, other=0.0).to(tl.float32)
    M = tl.load(Ms + ((i_bh.to(tl.int64) * NT + c) * BT + rt[:, None]) * BT + rt[None, :])
    MT = tl.load(Ms + ((i_bh.to(tl.int64) * NT + c) * BT + rt[None, :]) * BT + rt[:, None])
    off = (i_bh.to(tl.int64) * NT + c) * K * V
    S0 = tl.load(hs + off + rk[:, None] * V + rv[None, :])
    S0T = tl.load(hs + off + rv[:, None] + rk[None, :] * V)
    dSt = tl.load(dhs + off + rv[:, None] + rk[None, :] * V)  # (BV, K): dS leaving the chunk, transposed
    kT = tl.load(k + row0 * K + t[None, :] * (H * K) + rk[:, None], mask=mt[None, :], other=0.0)
    vT = tl.load(v + row0 * V + t[None, :] * (H * V) + rv[:, None], mask=mt[None, :], other=0.0)
    doT = tl.load(do + row0 * V + t[None, :] * (H * V) + rv[:, None], mask=mt[None, :], other=0.0)
    dVn = tl.load(dvn + row0 * V + t[:, None] * (H * V) + rv[None, :], mask=mt[:, None], other=0.0)
    dVnT = tl.load(dvn + row0 * V + t[None, :] * (H * V) + rv[:, None], mask=mt[None, :], other=0.0)
    Tm = M * b_c[None, :]
    TmT = MT * b_c[:, None]
    if GATED:
        tc = tl.minimum(t, T - 1)
        Gcol = tl.load(g + row0 + tc[:, None] * H)  # (BT, 1) within-chunk cumulative gate
        Grow = tl.load(g + row0 + tc[None, :] * H)  # (1, BT)
        GL = tl.load(g + row0 + (tl.minimum(c * BT + BT, T) - 1) * H)
        eGcol = tl.exp(Gcol)
        eGrow = tl.exp(Grow)
        eLGcol = tl.exp(GL - Gcol)
        D = tl.exp(tl.where(causal, Gcol - Grow, -1e30))
        Dt = tl.exp(tl.where(causalT, Grow - Gcol, -1e30))
    else:
        eGcol = tl.full([BT, 1], 1.0, tl.float32)
        eGrow = tl.full([1, BT], 1.0, tl.float32)
        eLGcol = eGcol
        D = tl.where(causal, 1.0, 0.0)
        Dt = tl.where(causalT, 1.0, 0.0)
    kg = k_c * eGcol
    kgT = kT * eGrow
    X = v_c - _mm(kg, S0, DT, PREC)                                      # (BT, BV)
    XT = vT - _mm(S0T, kgT, DT, PREC)                                    # (BV, BT)
    Vn = _mm(Tm, X, DT, PREC)
    VnT = _mm(XT, TmT, DT, PREC)
    dA = _mm(do_c, VnT, DT, PREC) * (D * scale)
    dAt = _mm(Vn, doT, DT, PREC) * (Dt * scale)
    dq_c = _mm(dA, k_c, DT, PREC) + _mm(do_c, S0T, DT, PREC) * (eGcol * scale)
    # dk = t1 + t2 + t3 + t4 + t5
    t1 = _mm(dAt, q_c, DT, PREC)
    t2 = _mm(Vn, dSt, DT, PREC) * eLGcol
    dk_c = t1 + t2
    dW = -_mm(dVn, S0T, DT, PREC)                                        # (BT, K)
    t3 = _mm(TmT, dW, DT, PREC) * eGcol
    dk_c += t3
    dT = _mm(dVn, XT, DT, PREC)                                          # (BT, BT)
    dTt = _mm(X, dVnT, DT, PREC)
    db_c = tl.sum(dT * M, axis=0)
    dAkk = -_mm(_mm(MT, dT * b_c[None, :], tl.float32, PREC), MT, tl.float32, PREC)
    dAkkT = -_mm(_mm(M, dTt * b_c[:, None], tl.float32, PREC), M, tl.float32, PREC)
    Ds = tl.where(strict, D, 0.0)
    Dst = tl.where(strictT, Dt, 0.0)
    kkD = _mm(k_c, kT, DT, PREC) * Ds
    db_c += tl.sum(dAkk * kkD, axis=1)
    dB = dAkk * Ds * b_c[:, None]
    dBt = dAkkT * Dst * b_c[None, :]
    t4 = _mm(dB, k_c, DT, PREC)
    t5 = _mm(dBt, k_c, DT, PREC)
    dk_c += t4 + t5
    if GATED:
        # dGamma_t = sum(q_t dq_t) - sum(v_t dv_t) (partial over V blocks); reverse cumsum on the host.
        # dv = Tm^T dV' recomputed here (launch 1 stored it rounded to the input dtype).
        dv_c = _mm(TmT, dVn, DT, PREC)
        dg_c = tl.sum(q_c * dq_c, axis=1) - tl.sum(v_c * dv_c, axis=1)
        tl.store(dg + i_v.to(tl.int64) * NVBTH + row0 + t * H, dg_c, mask=mt)
    tl.store(dbeta + i_v.to(tl.int64) * NVBTH + row0 + t * H, db_c, mask=mt)
    p_qk = i_v.to(tl.int64) * NVBTHK + row0 * K + t[:, None] * (H * K) + rk[None, :]
    tl.store(dq + p_qk, dq_c.to(dq.dtype.element_ty), mask=mt[:, None])
    tl.store(dk + p_qk, dk_c.to(dk.dtype.element_ty), mask=mt[:, None])


class _DeltaFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, beta, g, scale, initial_state, output_final_state, opts):
        B, T, H, K = q.shape
        V = v.shape[-1]
        C.check_head_dims(K, V)
        q, k, v, beta = q.contiguous(), k.contiguous(), v.contiguous(), beta.contiguous()
        if g is not None:
            if g.shape != beta.shape:
                raise ValueError(f"delta_rule g must be (B, T, H) = {tuple(beta.shape)}, got {tuple(g.shape)}")
            g = g.contiguous()
        BT = C.CHUNK
        NT = C.cdiv(T, BT)
        BV = C.pick_bv(V, B * H, K)  # K=128: BV=32 keeps the backward in shared memory
        NV = V // BV
        dev = q.device
        DT, PREC = C.tl_dtype(q.dtype), C.dot_precision(q.dtype)
        need_grad = any(ctx.needs_input_grad)
        gc = chunk_cumsum(g, BT) if g is not None else None  # within-chunk cumulative log gate
        Ms = C.alloc((B * H, NT, BT, BT), torch.float32, dev, opts)
        C.launched('_delta_prep_kernel', _delta_prep_kernel[(NT, B * H)](
            k, beta, gc if gc is not None else beta, Ms, T, NT, H=H, K=K, BT=BT, GATED=g is not None,
            DT=DT, PREC=PREC, num_warps=4, num_stages=1,
        ), opts)
        o = C.alloc((B, T, H, V), v.dtype, dev, opts)
        hs = C.alloc((B * H, NT, K, V), C.state_dtype(q.dtype), dev, opts) if need_grad else o
        store_ht = output_final_state or need_grad
        ht = C.alloc((B, H, K, V), torch.float32, dev, opts) if store_ht else o
        h0 = initial_state.contiguous() if initial_state is not None else None
        C.launched('_delta_fwd_kernel', _delta_fwd_kernel[(NV, B * H)](
            q, k, v, beta, gc if gc is not None else beta, Ms, h0 if h0 is not None else q, o, hs, ht, scale, T, NT,
            H=H, K=K, V=V, BT=BT, BV=BV, GATED=g is not None, HAS_H0=h0 is not None, STORE_HS=need_grad,
            STORE_HT=store_ht, DT=DT, PREC=PREC, num_warps=C.FWD_WARPS, num_stages=1,
        ), opts)
        if need_grad:
            ctx.save_for_backward(q, k, v, beta, g, gc, Ms, hs, ht, h0)
            ctx.meta = (scale, BV, initial_state.dtype if initial_state is not None else None, opts)
        return o, (ht if output_final_state else None)

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, beta, g, gc, Ms, hs, ht, h0 = ctx.saved_tensors
        scale, BV, h0_dtype, opts = ctx.meta
        B, T, H, K = q.shape
        V = v.shape[-1]
        BT = C.CHUNK
        NT = Ms.shape[1]
        NV = V // BV
        dev = q.device
        do = do.contiguous()
        if dht is not None:
            dht = dht.contiguous()
        pdt = q.dtype if NV == 1 else torch.float32
        dq = C.alloc((NV, B, T, H, K), pdt, dev, opts)
        dk = C.alloc((NV, B, T, H, K), pdt, dev, opts)
        dv = C.alloc((B, T, H, V), v.dtype, dev, opts)
        dbeta = C.alloc((NV, B, T, H), torch.float32, dev, opts)
        dg = C.alloc((NV, B, T, H), torch.float32, dev, opts) if g is not None else None
        dh0 = C.alloc((B, H, K, V), torch.float32, dev, opts) if h0 is not None else None
        DT, PREC, nw = C.tl_dtype(q.dtype), C.dot_precision(q.dtype), opts.bwd_warps
        gcx = gc if gc is not None else beta
        dhs = C.alloc((B * H, NT, K, V), torch.float32, dev, opts)  # dS leaving each chunk
        dvn = C.alloc((B, T, H, V), torch.float32, dev, opts)  # dV' (scratch for launch 2)
        C.launched('_delta_bwd_dh_kernel', _delta_bwd_dh_kernel[(NV, B * H)](
            q, k, beta, gcx, Ms, do, dht if dht is not None else do, dhs, dvn, dv,
            dh0 if dh0 is not None else dhs, scale, T, NT,
            H=H, K=K, V=V, BT=BT, BV=BV, GATED=g is not None, HAS_H0=h0 is not None, HAS_DHT=dht is not None,
            DT=DT, PREC=PREC, num_warps=nw, num_stages=1,
        ), opts)
        C.launched('_delta_bwd_chunk_kernel', _delta_bwd_chunk_kernel[(NT, NV, B * H)](
            q, k, v, beta, gcx, Ms, hs, dhs, dvn, do, dq, dk, dbeta, dg if dg is not None else dbeta,
            scale, T, NT, B * T * H * K, B * T * H,
            H=H, K=K, V=V, BT=BT, BV=BV, GATED=g is not None, DT=DT, PREC=PREC,
            num_warps=nw, num_stages=1,
        ), opts)
        dq = C.finish_partial(dq, q.dtype)
        dk = C.finish_partial(dk, k.dtype)
        dbeta = C.finish_partial(dbeta, beta.dtype)
        dg = gate_grad(dg, ht if dht is not None else None, dht, g.dtype) if g is not None else None
        dh0 = dh0.to(h0_dtype) if dh0 is not None else None
        return dq, dk, dv, dbeta, dg, None, dh0, None, None


def delta_rule(q, k, v, beta, g=None, *, scale=None, initial_state=None, output_final_state=False, options=None):
    """Chunked (gated) delta rule on CUDA (Triton). Shapes and semantics as kernels.delta_rule_recurrent;
    `options`: a `kernels.triton.Options` (default: the product's)."""
    opts = C.DEFAULT if options is None else options
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if q.shape[1] == 0:
        raise ValueError("Triton delta_rule needs T >= 1")
    # the delta-rule backward has not passed the device check on Triton 3.6 / H100 (forward has)
    if C.needs_grad(q, k, v, beta, g, initial_state) and C.fallback("delta_rule", opts):
        from kernels.ops.delta.chunk import delta_rule_chunk
        return delta_rule_chunk(q, k, v, beta, g, scale=scale, initial_state=initial_state,
                                output_final_state=output_final_state)
    return _DeltaFunction.apply(q, k, v, beta, g, float(scale), initial_state, bool(output_final_state), opts)
