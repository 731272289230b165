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


def check_gla(B, T, H, K, V, gate="scalar", dtype=torch.bfloat16, h0=True, ht=True, device="cuda", seed=None):
    """gate: 'none' | 'scalar' (B,T,H) | 'channel' (B,T,H,K). Returns {name: rel_err}."""
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
    errs = {"o": _rel(o, o2)}
    if ht:
        errs["ht"] = _rel(st, st2)
    errs.update({"d" + n: _rel(a, b) for n, a, b in zip(names, gr, gr2)})
    return errs


def check_delta(B, T, H, K, V, gated=True, dtype=torch.bfloat16, h0=True, ht=True, device="cuda", seed=None):
    from kernels.delta.naive import delta_rule_recurrent
    from kernels.triton.delta import delta_rule

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
    names = ["q", "k", "v", "beta"] + (["g"] if gated else []) + (["h0"] if h0 else [])
    ins = [x.requires_grad_() for x in [q, k, v, beta] + ([g] if gated else []) + ([s0] if h0 else [])]
    do, dst = r(B, T, H, V).to(dtype), r(B, H, K, V)
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


TOL = {torch.bfloat16: 1e-2, torch.float16: 5e-3, torch.float32: 1e-3}
