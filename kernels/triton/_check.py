"""Correctness checks of the Triton kernels against the recurrent references (used by tests and the device script).

Each check draws fresh random inputs, runs forward + backward with outputs poisoned with NaN (every element
the kernel should write but does not stays NaN and fails the check), and returns the relative errors
||out - ref|| / ||ref|| of the outputs and of every gradient against the float64 recurrent reference
(the absolute error ||out|| where the reference is exactly zero).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.triton import _common as C


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    if not torch.isfinite(a).all():
        return float("nan")
    den = b.norm()
    if den == 0:  # e.g. dg at T = 1 without states: the gate has no effect, the kernel's is roundoff
        return (a - b).norm().item()
    return ((a - b).norm() / den).item()


def _grads(loss, inputs):
    return torch.autograd.grad(loss, inputs)


def check_gla(B, T, H, K, V, gate="scalar", dtype=torch.bfloat16, h0=True, ht=True, device="cuda", seed=None,
              emulate=False, kernel=True):
    """gate: 'none' | 'scalar' (B,T,H) | 'channel' (B,T,H,K). Returns {name: rel_err}.

    emulate=True: also runs the PyTorch emulation of the kernels' rounding (kernels.triton._emulate) on the same
    inputs, on the CPU, and adds its error against the same float64 reference under '<name>@emu'.
    kernel=False (with emulate=True): skip the Triton kernel, return only the '@emu' errors (CPU studies of bf16)."""
    from kernels.gla.naive import gla_recurrent
    from kernels.triton.gla import gla

    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen).to(device)  # noqa: E731
    q, k, v = r(B, T, H, K).to(dtype), (r(B, T, H, K) * K ** -0.5).to(dtype), r(B, T, H, V).to(dtype)
    g = None
    if gate == "scalar":
        g = F.logsigmoid(r(B, T, H) + 2.0)
    elif gate == "channel":
        g = F.logsigmoid(r(B, T, H, K) + 2.0)
    s0 = r(B, H, K, V) if h0 else None
    names = ["q", "k", "v"] + (["g"] if g is not None else []) + (["h0"] if h0 else [])
    ins = [x.requires_grad_() for x in [q, k, v] + ([g] if g is not None else []) + ([s0] if h0 else [])]
    do, dst = r(B, T, H, V).to(dtype), r(B, H, K, V)
    if not (kernel or emulate):
        raise ValueError("check_gla: kernel=False needs emulate=True")
    if kernel:
        old, C.POISON = C.POISON, True
        oldf, C.FORCE_TRITON = C.FORCE_TRITON, True
        try:
            o, st = gla(q, k, v, g, initial_state=s0, output_final_state=ht)
            loss = (o.float() * do.float()).sum() + ((st * dst).sum() if ht else 0)
            gr = _grads(loss, ins)
        finally:
            C.POISON, C.FORCE_TRITON = old, oldf
    d = lambda x: x.detach().double().requires_grad_() if x is not None else None  # noqa: E731
    ins2 = [d(x) for x in ins]
    it = iter(ins2)
    q2, k2, v2 = next(it), next(it), next(it)
    g2 = next(it) if g is not None else None
    s02 = next(it) if h0 else None
    o2, st2 = gla_recurrent(q2, k2, v2, g2, initial_state=s02, output_final_state=True)
    loss2 = (o2 * do.double()).sum() + ((st2 * dst.double()).sum() if ht else 0)
    gr2 = _grads(loss2, ins2)
    errs = {}
    if kernel:
        errs["o"] = _rel(o, o2)
        if ht:
            errs["ht"] = _rel(st, st2)
        errs.update({"d" + n: _rel(a, b) for n, a, b in zip(names, gr, gr2)})
    if emulate:
        from kernels.triton._emulate import gla_emulated_grads
        cpu = lambda x: x.detach().cpu() if x is not None else None  # noqa: E731
        (oe, ste), (dqe, dke, dve, dge, dh0e) = gla_emulated_grads(
            cpu(q), cpu(k), cpu(v), cpu(g), cpu(do), cpu(dst), initial_state=cpu(s0), output_final_state=ht)
        ge = [dqe, dke, dve] + ([dge] if g is not None else []) + ([dh0e] if h0 else [])
        errs["o@emu"] = _rel(oe, cpu(o2))
        if ht:
            errs["ht@emu"] = _rel(ste, cpu(st2))
        errs.update({"d" + n + "@emu": _rel(a, cpu(b)) for n, a, b in zip(names, ge, gr2)})
    return errs


def _delta_inputs(B, T, H, K, V, gated, dtype, h0, device, seed):
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen).to(device)  # noqa: E731
    q = F.normalize(r(B, T, H, K), dim=-1).to(dtype)
    k = F.normalize(r(B, T, H, K), dim=-1).to(dtype)
    v = r(B, T, H, V).to(dtype)
    beta = torch.sigmoid(r(B, T, H)).to(dtype)
    g = F.logsigmoid(r(B, T, H) + 2.0) if gated else None
    s0 = r(B, H, K, V) if h0 else None
    do, dst = r(B, T, H, V).to(dtype), r(B, H, K, V)
    return q, k, v, beta, g, s0, do, dst


def check_delta(B, T, H, K, V, gated=True, dtype=torch.bfloat16, h0=True, ht=True, device="cuda", seed=None):
    from kernels.delta.naive import delta_rule_recurrent
    from kernels.triton.delta import delta_rule

    q, k, v, beta, g, s0, do, dst = _delta_inputs(B, T, H, K, V, gated, dtype, h0, device, seed)
    names = ["q", "k", "v", "beta"] + (["g"] if gated else []) + (["h0"] if h0 else [])
    ins = [x.requires_grad_() for x in [q, k, v, beta] + ([g] if gated else []) + ([s0] if h0 else [])]
    old, C.POISON = C.POISON, True
    oldf, C.FORCE_TRITON = C.FORCE_TRITON, True
    try:
        o, st = delta_rule(q, k, v, beta, g, initial_state=s0, output_final_state=ht)
        loss = (o.float() * do.float()).sum() + ((st * dst).sum() if ht else 0)
        gr = _grads(loss, ins)
    finally:
        C.POISON, C.FORCE_TRITON = old, oldf
    ins2 = [x.detach().double().requires_grad_() for x in ins]
    it = iter(ins2)
    q2, k2, v2, b2 = next(it), next(it), next(it), next(it)
    g2 = next(it) if gated else None
    s02 = next(it) if h0 else None
    o2, st2 = delta_rule_recurrent(q2, k2, v2, b2, g2, initial_state=s02, output_final_state=True)
    loss2 = (o2 * do.double()).sum() + ((st2 * dst.double()).sum() if ht else 0)
    gr2 = _grads(loss2, ins2)
    errs = {"o": _rel(o, o2)}
    if ht:
        errs["ht"] = _rel(st, st2)
    errs.update({"d" + n: _rel(a, b) for n, a, b in zip(names, gr, gr2)})
    return errs


def check_delta_terms(B, T, H, K, V, gated=True, dtype=torch.bfloat16, h0=True, ht=True, device="cuda", seed=None,
                      alt=None):
    """The five terms of dk in `_delta_bwd_chunk_kernel` (DEBUG=True) against float64 torch on the kernel's own
    saved buffers (Ms, hs, dhs, dV', gc) and inputs, per chunk and V block:

        t1 = dA^T q                     dA^T = (V' do^T) o D^T scale
        t2 = (V' dS^T) e^(G_last - G)   dS = dS leaving the chunk (dhs), V' = Tm (v - (k e^G) S0)
        t3 = (Tm^T dW) e^G              dW = -dV' S0^T
        t4 = dB k                       dB = dAkk o Ds o beta[:, None], dAkk = -M^T (dT o beta[None, :]) M^T
        t5 = dB^T k                     (the kernel builds dB^T from its own chain dAkk^T = -M (dT^T beta) M)

    Every dot of the recomputation rounds its operands to `dtype` as the kernel does (fp32 chain dots do not).
    Returns rel errors {t1..t5, dk_sum: sum of the kernel's terms vs its dk partial (bf16 store: ~4e-3),
    dk: kernel dk partial vs the recomputed sum, Vn, dAt, dB, dBt (the kernel's tiles vs torch, rows/cols < T),
    dBt_vs_dB: the kernel's dB^T vs its own dB transposed}. alt: HYBRID_NAS_DELTA_ALT value for this call
    (None: leave C.DELTA_ALT as it is)."""
    from kernels.triton.delta import delta_rule

    q, k, v, beta, g, s0, do, dst = _delta_inputs(B, T, H, K, V, gated, dtype, h0, device, seed)
    ins = [x.requires_grad_() for x in [q, k, v, beta] + ([g] if gated else []) + ([s0] if h0 else [])]
    saved = C.POISON, C.FORCE_TRITON, C.DEBUG_DELTA, C.DELTA_ALT
    C.POISON, C.FORCE_TRITON, C.DEBUG_DELTA, C.LAST_DEBUG = True, True, True, {}
    if alt is not None:
        C.DELTA_ALT = alt
    try:
        o, st = delta_rule(q, k, v, beta, g, initial_state=s0, output_final_state=ht)
        loss = (o.float() * do.float()).sum() + ((st * dst).sum() if ht else 0)
        _grads(loss, ins)
        d = dict(C.LAST_DEBUG)
    finally:
        C.POISON, C.FORCE_TRITON, C.DEBUG_DELTA, C.DELTA_ALT = saved
        C.LAST_DEBUG = {}
    if not d:
        raise RuntimeError("check_delta_terms: the backward left no debug buffers (fallback taken?)")
    f64 = torch.float64
    BT, NV, BV, scale = d["BT"], d["NV"], d["BV"], d["scale"]
    NT = C.cdiv(T, BT)
    Tp, BH = NT * BT, B * H
    rnd = (lambda x: x) if dtype == torch.float32 else (lambda x: x.to(dtype).to(f64))  # noqa: E731
    mm = lambda a, b: rnd(a) @ rnd(b)  # noqa: E731  (_mm: operands cast to the input dtype)

    def chunks(x, rep_last=False):  # (B, T, H, *F) -> (BH, NT, BT, *F); padded rows 0 (masked loads) or row T-1
        x = x.detach().to(f64)
        if Tp > T:
            pad = x[:, T - 1:T].expand(B, Tp - T, *x.shape[2:]) if rep_last else x.new_zeros((B, Tp - T) + x.shape[2:])
            x = torch.cat([x, pad], 1)
        return x.movedim(2, 1).reshape(BH, NT, BT, *x.shape[3:])

    def unchunk(x):  # (BH, NT, BT, *F) -> (B, T, H, *F)
        return x.reshape(B, H, Tp, *x.shape[3:]).movedim(1, 2)[:, :T]

    qc, kc, vc, doc, dvnc = chunks(q), chunks(k), chunks(v), chunks(do), chunks(d["dvn"])
    b = chunks(beta)                                         # (BH, NT, BT)
    G = chunks(d["gc"], rep_last=True) if gated else torch.zeros(BH, NT, BT, dtype=f64, device=q.device)
    M = d["Ms"].to(f64)                                      # (BH, NT, BT, BT)
    hs, dhs = d["hs"].to(f64), d["dhs"].to(f64)              # (BH, NT, K, V)
    Gcol, Grow, GL = G[..., :, None], G[..., None, :], G[..., -1:, None]   # padded rows repeat G[T-1]
    ar = torch.arange(BT, device=q.device)
    causal, strict = ar[:, None] >= ar[None, :], ar[:, None] > ar[None, :]
    D = torch.exp(torch.where(causal, Gcol - Grow, float("-inf")))
    Ds = torch.where(strict, D, 0.0)
    eGcol, eLGcol = torch.exp(Gcol), torch.exp(GL - Gcol)
    Tm = M * b[..., None, :]
    MT, TmT = M.mT, Tm.mT
    refs = {n: [] for n in ("t1", "t2", "t3", "t4", "t5", "dAt", "dB", "Vn")}
    for iv in range(NV):
        rv = slice(iv * BV, (iv + 1) * BV)
        S0, dS, v_, do_, dVn = hs[..., rv], dhs[..., rv], vc[..., rv], doc[..., rv], dvnc[..., rv]
        X = v_ - mm(kc * eGcol, S0)
        Vn = mm(Tm, X)
        dAt = mm(Vn, do_.mT) * (D.mT * scale)
        t1 = mm(dAt, qc)
        t2 = mm(Vn, dS.mT) * eLGcol
        t3 = mm(TmT, -mm(dVn, S0.mT)) * eGcol
        dT = mm(dVn, X.mT)
        dAkk = -(MT @ (dT * b[..., None, :]) @ MT)
        dB = dAkk * Ds * b[..., :, None]
        t4 = mm(dB, kc)
        t5 = mm(dB.mT, kc)
        for n, x in (("t1", t1), ("t2", t2), ("t3", t3), ("t4", t4), ("t5", t5), ("dAt", dAt), ("dB", dB),
                     ("Vn", Vn)):
            refs[n].append(x)
    # kernel side
    errs = {}
    dbg = d["dbg"]                                            # (5, NV, B, T, H, K)
    for i in range(5):
        errs[f"t{i + 1}"] = _rel(dbg[i], torch.stack([unchunk(x) for x in refs[f"t{i + 1}"]]))
    dk_part = d["dk_part"]                                    # (NV, B, T, H, K)
    errs["dk_sum"] = _rel(dbg.sum(0), dk_part)
    errs["dk"] = _rel(dk_part, sum(torch.stack([unchunk(x) for x in refs[f"t{i}"]]) for i in range(1, 6)))
    errs["Vn"] = _rel(d["dbgv"], torch.cat([unchunk(x) for x in refs["Vn"]], -1))
    valid = (torch.arange(Tp, device=q.device) < T).view(NT, BT)
    sq = (valid[:, :, None] & valid[:, None, :])[:, None]      # (NT, 1, BT, BT): rows and cols t < T
    dbgm = d["dbgm"].view(BH, NT, NV, 3, BT, BT).to(f64)
    z = lambda x: torch.where(sq, x, 0.0)  # noqa: E731
    for j, n, ref in ((0, "dAt", refs["dAt"]), (1, "dB", refs["dB"]), (2, "dBt", [x.mT for x in refs["dB"]])):
        errs[n] = _rel(z(dbgm[:, :, :, j]), z(torch.stack(ref, 2)))
    errs["dBt_vs_dB"] = _rel(z(dbgm[:, :, :, 2]), z(dbgm[:, :, :, 1].mT))
    return errs


TOL = {torch.bfloat16: 1e-2, torch.float16: 5e-3, torch.float32: 1e-3}


def failures(errs: dict, dtype, factor: float = 1.5) -> dict:
    """The errors of a check that fail: above TOL[dtype] and, where the check ran the emulation (`x@emu`, the same
    algorithm in PyTorch with the kernel's roundings), above `factor` times the emulation's own error, i.e. above
    the floor of the algorithm in this precision. NaN always fails. `x@emu` entries are not judged themselves."""
    emu = {k[:-4]: v for k, v in errs.items() if k.endswith("@emu")}
    return {k: e for k, e in errs.items()
            if not k.endswith("@emu") and not e < max(TOL[dtype], factor * emu.get(k, 0.0))}
