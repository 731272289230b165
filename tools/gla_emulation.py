"""PyTorch emulation of the Triton GLA kernels (kernels/ops/gla/triton.py), rounding included, for CPU studies of bf16.

The Triton interpreter cannot run bf16 tiles, so the precision of the kernels' algorithm in bf16 is measured here:
an explicit forward and an explicit backward (no autograd) that follow `_gla_fwd_kernel`, `_gla_bwd_dh_kernel` and
`_gla_bwd_chunk_kernel` line by line:

- same chunking (BT = C.CHUNK = 64; per-channel gates through BC = 16 sub-chunks with the same CLAMP), same host-side
  `chunk_cumsum` (float32) and `gate_grad`; rows past T are zero for q, k, v, do (masked loads) and repeat row T-1
  for the gate cumsum (the kernels' `tc = min(t, T - 1)`);
- every `_mm(a, b)` rounds both operands to the input dtype and multiplies in float32 (`_mm` below); elementwise
  work (exp, gate factors, masks, dA * D, dGamma) in float32 as in the kernels;
- the per-chunk states saved for the backward (`hs`) are rounded to `C.state_dtype(dtype)`; dS (`dhs`), ht, dh0 and
  the dGamma partials stay float32; o, dv and (NV = 1) the dq/dk partials are rounded to the input dtype where the
  kernels store them;
- the same V blocks (BV = `C.pick_bv(V, B * H)`, as `gla()` picks it): everything that contracts over V (dA, the dS
  terms of dq and dk, dGamma) is a per-block partial summed over blocks in float32, as in the kernels;
- `gla()` trains an ungated call through the scalar path on an all-zero log gate: so does this emulation
  (`training=True`, the default); `training=False` runs the GATE 0 forward of a forward-only call.

What is not emulated: the order of the float32 accumulations inside a dot (tensor-core order vs CPU BLAS order) and
the last-ulp differences of the float32 exp; both are ~1e-7 relative, far below bf16's 4e-3.

    o, ht, ctx = gla_emulated_fwd(q, k, v, g, scale=..., initial_state=..., output_final_state=...)
    dq, dk, dv, dg, dh0 = gla_emulated_bwd(ctx, do, dht)      # dg / dh0 None when g / initial_state is None
"""
from __future__ import annotations

import torch

from kernels import triton_common as C
from kernels.triton_common import chunk_cumsum, gate_grad
from kernels.ops.gla.triton import CLAMP

BC = 16
NEG = -1e30


def _rounder(dt):
    if dt == torch.float32:
        return lambda x: x.float()
    return lambda x: x.to(dt).float()


def _chunks(x, BT, rep_last=False):
    """(B, T, H, *F) -> (B*H, NT, BT, *F) float32; padded rows 0 (masked loads) or row T-1 (the gate's `tc`)."""
    B, T, H = x.shape[:3]
    NT = C.cdiv(T, BT)
    Tp = NT * BT
    x = x.float()
    if Tp > T:
        pad = (x[:, T - 1:T].expand(B, Tp - T, *x.shape[2:]) if rep_last
               else x.new_zeros((B, Tp - T) + tuple(x.shape[2:])))
        x = torch.cat([x, pad], 1)
    return x.movedim(2, 1).reshape(B * H, NT, BT, *x.shape[3:])


def _unchunk(x, B, H, T):
    """(B*H, NT, BT, *F) -> (B, T, H, *F)."""
    BH, NT, BT = x.shape[:3]
    return x.reshape(B, H, NT * BT, *x.shape[3:]).movedim(1, 2)[:, :T]


def _masks(BT, device):
    rt = torch.arange(BT, device=device)
    return rt[:, None] >= rt[None, :], rt[:, None] <= rt[None, :], rt


def _sub_factors(G, s, rt):
    """`_sub_factors` of gla.py for sub-chunk s, batched: G (..., BT, K) the chunk's gate cumsum (padded rows repeat
    row T-1, so G[..., r, :] is the kernel's G_r). Returns fq, fk (..., BT, K); fqT / fkT are their transposes."""
    r = s * BC
    Gr = G[..., r:r + 1, :]  # (..., 1, K)
    in_s = ((rt >= r) & (rt < r + BC))[:, None]
    upto = (rt < r + BC)[:, None]
    fq = torch.exp(torch.where(in_s, G - Gr, NEG))
    fk = torch.exp(torch.where(upto, torch.clamp(Gr - G, max=CLAMP), NEG))
    return fq, fk


def gla_emulated_fwd(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False, training=True):
    """The forward kernel. Returns (o, ht or None, ctx); ctx feeds gla_emulated_bwd."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dt = q.dtype
    rd = _rounder(dt)
    mm = lambda a, b: rd(a) @ rd(b)  # noqa: E731  (_mm: operands in the input dtype, float32 accumulation)
    if scale is None:
        scale = K ** -0.5
    scale = float(scale)
    g_in = g
    if g is None and training:
        g = torch.zeros(q.shape[:3], dtype=torch.float32, device=q.device)
    gate = 0 if g is None else (1 if g.dim() == 3 else 2)
    BT = C.CHUNK
    NT = C.cdiv(T, BT)
    BV = C.pick_bv(V, B * H)
    NV = V // BV
    sdt = C.state_dtype(dt)
    dev = q.device
    causal, causalT, rt = _masks(BT, dev)
    qc, kc, vc = _chunks(q, BT), _chunks(k, BT), _chunks(v, BT)
    gc = chunk_cumsum(g, BT) if g is not None else None
    Gc = None
    if gate == 1:
        Gc = _chunks(gc, BT, rep_last=True).unsqueeze(-1)  # (BH, NT, BT, 1)
    elif gate == 2:
        Gc = _chunks(gc, BT, rep_last=True)  # (BH, NT, BT, K)
    o = torch.empty(B * H, NT, BT, V, dtype=v.dtype, device=dev)
    hs = torch.empty(B * H, NT, K, V, dtype=sdt, device=dev)
    ht = torch.empty(B * H, K, V, dtype=torch.float32, device=dev)
    h0 = initial_state.float().reshape(B * H, K, V) if initial_state is not None else None
    for iv in range(NV):
        rv = slice(iv * BV, (iv + 1) * BV)
        S = h0[..., rv].clone() if h0 is not None else torch.zeros(B * H, K, BV, device=dev)
        for c in range(NT):
            q_c, k_c, v_c = qc[:, c], kc[:, c], vc[:, c, :, rv]
            kT = k_c.mT
            hs[:, c, :, rv] = S.to(sdt)
            if gate == 0:
                o_c = mm(q_c, S)
                A = torch.where(causal, mm(q_c, kT), 0.0)
                o_c = o_c + mm(A, v_c)
                S = S + mm(kT, v_c)
            elif gate == 1:
                Gcol = Gc[:, c]  # (BH, BT, 1)
                Grow = Gcol.mT  # (BH, 1, BT)
                GL = Gcol[:, -1:]  # (BH, 1, 1)
                o_c = mm(q_c * torch.exp(Gcol), S)
                D = torch.exp(torch.where(causal, Gcol - Grow, NEG))
                A = mm(q_c, kT) * D
                o_c = o_c + mm(A, v_c)
                S = S * torch.exp(GL) + mm(kT * torch.exp(GL - Grow), v_c)
            else:
                G = Gc[:, c]  # (BH, BT, K)
                GT = G.mT
                GLcol = G[:, -1:].mT  # (BH, K, 1)
                o_c = mm(q_c * torch.exp(G), S)
                A = torch.zeros(B * H, BT, BT, device=dev)
                for s in range(BT // BC):
                    fq, fk = _sub_factors(G, s, rt)
                    A = A + mm(q_c * fq, kT * fk.mT)
                A = torch.where(causal, A, 0.0)
                o_c = o_c + mm(A, v_c)
                S = S * torch.exp(GLcol) + mm(kT * torch.exp(GLcol - GT), v_c)
            o[:, c, :, rv] = (o_c * scale).to(v.dtype)
        ht[..., rv] = S
    o = _unchunk(o, B, H, T).contiguous()
    ht = ht.reshape(B, H, K, V)
    ctx = dict(q=q, k=k, v=v, g=g, g_in=g_in, gc=gc, Gc=Gc, hs=hs, ht=ht, scale=scale, gate=gate, BT=BT, BV=BV,
               NV=NV, h0_dtype=initial_state.dtype if initial_state is not None else None)
    return o, (ht if output_final_state else None), ctx


def gla_emulated_bwd(ctx, do, dht=None):
    """Both backward kernels + the host epilogue of `_GLAFunction.backward`. Returns (dq, dk, dv, dg, dh0); dg is None
    for an ungated call (as autograd drops the zero gate's gradient), dh0 None without an initial state."""
    q, k, v, g, gc, Gc, hs = ctx["q"], ctx["k"], ctx["v"], ctx["g"], ctx["gc"], ctx["Gc"], ctx["hs"]
    scale, gate, BT, BV, NV = ctx["scale"], ctx["gate"], ctx["BT"], ctx["BV"], ctx["NV"]
    B, T, H, K = q.shape
    V = v.shape[-1]
    dt = q.dtype
    rd = _rounder(dt)
    mm = lambda a, b: rd(a) @ rd(b)  # noqa: E731
    dev = q.device
    NT = C.cdiv(T, BT)
    BH = B * H
    causal, causalT, rt = _masks(BT, dev)
    qc, kc, vc, doc = _chunks(q, BT), _chunks(k, BT), _chunks(v, BT), _chunks(do, BT)

    # launch 1: dS leaving each chunk (float32), dh0
    dhs = torch.empty(BH, NT, K, V, dtype=torch.float32, device=dev)
    dh0 = torch.empty(BH, K, V, dtype=torch.float32, device=dev)
    dS0 = dht.float().reshape(BH, K, V) if dht is not None else None
    for iv in range(NV):
        rv = slice(iv * BV, (iv + 1) * BV)
        dS = dS0[..., rv].clone() if dS0 is not None else torch.zeros(BH, K, BV, device=dev)
        for c in reversed(range(NT)):
            dhs[:, c, :, rv] = dS
            qT, do_c = qc[:, c].mT, doc[:, c, :, rv]
            if gate == 0:
                dS = dS + mm(qT, do_c) * scale
            elif gate == 1:
                Grow = Gc[:, c].mT  # (BH, 1, BT)
                GL = Gc[:, c, -1:]  # (BH, 1, 1)
                dS = dS * torch.exp(GL) + mm(qT * torch.exp(Grow), do_c) * scale
            else:
                GT = Gc[:, c].mT  # (BH, K, BT)
                GLcol = Gc[:, c, -1:].mT  # (BH, K, 1)
                dS = dS * torch.exp(GLcol) + mm(qT * torch.exp(GT), do_c) * scale
        dh0[..., rv] = dS

    # launch 2: chunk-parallel dq, dk, dv, dGamma (all chunks at once: (BH, NT, ...))
    pdt = dt if NV == 1 else torch.float32
    dq_p = torch.empty(NV, BH, NT, BT, K, dtype=pdt, device=dev)
    dk_p = torch.empty(NV, BH, NT, BT, K, dtype=pdt, device=dev)
    dv = torch.empty(BH, NT, BT, V, dtype=v.dtype, device=dev)
    dgam = []
    q_c, k_c = qc, kc
    qT = qc.mT
    for iv in range(NV):
        rv = slice(iv * BV, (iv + 1) * BV)
        v_c, do_c = vc[..., rv], doc[..., rv]
        vT, doT = v_c.mT, do_c.mT
        S0T = hs[..., rv].float().mT  # (BH, NT, BV, K), read back from the saved dtype
        dS = dhs[..., rv]  # (BH, NT, K, BV)
        dSt = dS.mT
        dA = torch.where(causal, mm(do_c, vT) * scale, 0.0)
        dAt = torch.where(causalT, mm(v_c, doT) * scale, 0.0)
        if gate == 0:
            At = torch.where(causalT, mm(k_c, qT) * scale, 0.0)
            dv_c = mm(At, do_c) + mm(k_c, dS)
            dq_c = mm(dA, k_c) + mm(do_c, S0T) * scale
            dk_c = mm(dAt, q_c) + mm(v_c, dSt)
        elif gate == 1:
            Gcol = Gc  # (BH, NT, BT, 1)
            Grow = Gc.mT
            GL = Gc[:, :, -1:]
            eLGcol = torch.exp(GL - Gcol)
            D = torch.exp(torch.where(causal, Gcol - Grow, NEG))
            Dt = torch.exp(torch.where(causalT, Grow - Gcol, NEG))
            At = mm(k_c, qT) * (Dt * scale)
            dA = dA * D
            dAt = dAt * Dt
            dv_c = mm(At, do_c) + mm(k_c * eLGcol, dS)
            dq_c = mm(dA, k_c) + mm(do_c, S0T) * (torch.exp(Gcol) * scale)
            dk_c = mm(dAt, q_c) + mm(v_c, dSt) * eLGcol
            dgam.append((q_c * dq_c - k_c * dk_c).sum(-1))  # (BH, NT, BT)
        else:
            G = Gc  # (BH, NT, BT, K)
            GLrow = G[:, :, -1:]
            eLG = torch.exp(GLrow - G)
            At = torch.zeros(BH, NT, BT, BT, device=dev)
            dq_c = torch.zeros(BH, NT, BT, K, device=dev)
            dk_c = torch.zeros(BH, NT, BT, K, device=dev)
            for s in range(BT // BC):
                fq, fk = _sub_factors(G, s, rt)
                At = At + mm(k_c * fk, qT * fq.mT)
                dq_c = dq_c + fq * mm(dA, k_c * fk)
                dk_c = dk_c + fk * mm(dAt, q_c * fq)
            At = torch.where(causalT, At * scale, 0.0)
            dv_c = mm(At, do_c) + mm(k_c * eLG, dS)
            dq_c = dq_c + mm(do_c, S0T) * (torch.exp(G) * scale)
            dk_c = dk_c + mm(v_c, dSt) * eLG
            dgam.append(q_c * dq_c - k_c * dk_c)  # (BH, NT, BT, K)
        dq_p[iv] = dq_c.to(pdt)
        dk_p[iv] = dk_c.to(pdt)
        dv[..., rv] = dv_c.to(v.dtype)

    un = lambda x: _unchunk(x, B, H, T)  # noqa: E731
    dq = C.finish_partial(torch.stack([un(x) for x in dq_p]), q.dtype).contiguous()
    dk = C.finish_partial(torch.stack([un(x) for x in dk_p]), k.dtype).contiguous()
    dv = un(dv).contiguous()
    dg = None
    if gate != 0:
        parts = torch.stack([un(x) for x in dgam])  # (NV, B, T, H[, K]) float32
        ht = ctx["ht"]
        dg = gate_grad(parts, ht if dht is not None else None, dht, g.dtype)
        if ctx["g_in"] is None:
            dg = None
    dh0 = dh0.reshape(B, H, K, V).to(ctx["h0_dtype"]) if ctx["h0_dtype"] is not None else None
    return dq, dk, dv, dg, dh0


def gla_emulated(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False):
    """(o, ht) as `kernels.ops.gla.triton.gla` computes them (training path: an ungated call runs the zero scalar gate)."""
    o, ht, _ = gla_emulated_fwd(q, k, v, g, scale=scale, initial_state=initial_state,
                                output_final_state=output_final_state)
    return o, ht


def gla_emulated_grads(q, k, v, g, do, dht=None, *, scale=None, initial_state=None, output_final_state=False):
    """Forward + backward in one call: ((o, ht), (dq, dk, dv, dg, dh0)). dht only counts with output_final_state."""
    o, ht, ctx = gla_emulated_fwd(q, k, v, g, scale=scale, initial_state=initial_state,
                                  output_final_state=output_final_state)
    grads = gla_emulated_bwd(ctx, do, dht if output_final_state else None)
    return (o, ht), grads
