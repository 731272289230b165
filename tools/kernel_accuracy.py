"""Accuracy of the Triton kernels against the float64 recurrent references (used by tests and tools/gpu/kernels.sh).

Each check draws fresh random inputs, runs forward + backward with outputs poisoned with NaN (every element
the kernel should write but does not stays NaN and fails the check), and returns the relative errors
||out - ref|| / ||ref|| of the outputs and of every gradient against the float64 recurrent reference
(the absolute error ||out|| where the reference is exactly zero).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.triton import Options

# outputs poisoned with NaN, and the Triton backward even where it failed its device check
CHECKED = Options(poison=True, force_backward=True)


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
              emulate=False, kernel=True, options=CHECKED):
    """gate: 'none' | 'scalar' (B,T,H) | 'channel' (B,T,H,K). Returns {name: rel_err}.

    emulate=True: also runs the PyTorch emulation of the kernels' rounding (tools.gla_emulation) on the same
    inputs, on the CPU, and adds its error against the same float64 reference under '<name>@emu'.
    kernel=False (with emulate=True): skip the Triton kernel, return only the '@emu' errors (CPU studies of bf16)."""
    from kernels.ops.gla.naive import gla_recurrent
    from kernels.ops.gla.triton import gla

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
        o, st = gla(q, k, v, g, initial_state=s0, output_final_state=ht, options=options)
        loss = (o.float() * do.float()).sum() + ((st * dst).sum() if ht else 0)
        gr = _grads(loss, ins)
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
        from tools.gla_emulation import gla_emulated_grads
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


def check_delta(B, T, H, K, V, gated=True, dtype=torch.bfloat16, h0=True, ht=True, device="cuda", seed=None,
                options=CHECKED):
    from kernels.ops.delta.naive import delta_rule_recurrent
    from kernels.ops.delta.triton import delta_rule

    q, k, v, beta, g, s0, do, dst = _delta_inputs(B, T, H, K, V, gated, dtype, h0, device, seed)
    names = ["q", "k", "v", "beta"] + (["g"] if gated else []) + (["h0"] if h0 else [])
    ins = [x.requires_grad_() for x in [q, k, v, beta] + ([g] if gated else []) + ([s0] if h0 else [])]
    o, st = delta_rule(q, k, v, beta, g, initial_state=s0, output_final_state=ht, options=options)
    loss = (o.float() * do.float()).sum() + ((st * dst).sum() if ht else 0)
    gr = _grads(loss, ins)
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


def failures(errs: dict, dtype, factor: float = 1.5) -> dict:
    """The errors of a check that fail: above TOL[dtype] and, where the check ran the emulation (`x@emu`, the same
    algorithm in PyTorch with the kernel's roundings), above `factor` times the emulation's own error, i.e. above
    the floor of the algorithm in this precision. NaN always fails. `x@emu` entries are not judged themselves."""
    emu = {k[:-4]: v for k, v in errs.items() if k.endswith("@emu")}
    return {k: e for k, e in errs.items()
            if not k.endswith("@emu") and not e < max(TOL[dtype], factor * emu.get(k, 0.0))}
