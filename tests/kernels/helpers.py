"""Shared helpers for the kernels tests: random inputs and output+gradient comparison of two implementations."""
from __future__ import annotations

import torch
import torch.nn.functional as F

B, H, K, V = 2, 2, 8, 8

# Shapes of the Triton kernel tests on the device: T = 1, odd lengths, several chunks, K != V, the head-size bounds.
TRITON_CASES = [  # (B, T, H, K, V)
    (2, 1, 2, 64, 64),
    (2, 37, 3, 64, 64),
    (1, 100, 2, 32, 128),
    (2, 1000, 2, 64, 64),
    (1, 130, 1, 128, 128),
    (1, 70, 2, 16, 32),
]


def skip_without_cuda_triton() -> None:
    import pytest

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("triton")


def make_inputs(T, *, gate, dtype=torch.float64, delta=False, init=False, g_min=-1.0, seed=0):
    """Leaf tensors for one call. gate: 'channel' (B, T, H, K), 'scalar' (B, T, H) or None."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    q, k, v = rnd(B, T, H, K), rnd(B, T, H, K), rnd(B, T, H, V)
    if delta:  # callers L2-normalise q and k for the delta rule
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    x = {"q": q, "k": k, "v": v}
    if delta:
        x["beta"] = torch.rand(B, T, H, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    if gate == "channel":
        x["g"] = g_min * torch.rand(B, T, H, K, generator=gen, dtype=torch.float64)
    elif gate == "scalar":
        x["g"] = g_min * torch.rand(B, T, H, generator=gen, dtype=torch.float64)
    else:
        x["g"] = None
    x["initial_state"] = rnd(B, H, K, V) if init else None
    return {n: (t.to(dtype).requires_grad_() if t is not None else None) for n, t in x.items()}


def detached_copy(x, dtype=None):
    return {
        n: (t.detach().to(dtype or t.dtype).requires_grad_() if t is not None else None) for n, t in x.items()
    }


def run_with_grads(fn, x, seed=1, **kw):
    """Calls fn(**x, output_final_state=True), back-propagates fixed random cotangents on o and the final state.
    Returns (o, final_state, {name: grad})."""
    o, s = fn(**x, output_final_state=True, **kw)
    gen = torch.Generator().manual_seed(seed)
    do = torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)
    ds = torch.randn(s.shape, generator=gen, dtype=torch.float64).to(s.dtype)
    ((o * do).sum() + (s * ds).sum()).backward()
    grads = {n: t.grad for n, t in x.items() if t is not None}
    return o.detach(), s.detach(), grads


def assert_close_all(a, b, *, atol, rtol):
    """a, b: results of run_with_grads."""
    (oa, sa, ga), (ob, sb, gb) = a, b
    torch.testing.assert_close(oa, ob, atol=atol, rtol=rtol, msg=lambda m: f"output: {m}")
    torch.testing.assert_close(sa, sb, atol=atol, rtol=rtol, msg=lambda m: f"final state: {m}")
    assert ga.keys() == gb.keys()
    for n in ga:
        assert ga[n] is not None and gb[n] is not None, f"missing gradient for {n}"
        torch.testing.assert_close(ga[n], gb[n], atol=atol, rtol=rtol, msg=lambda m, n=n: f"grad {n}: {m}")


def assert_chunk_matches_under_strong_decay(recurrent, chunk, x, dtype) -> None:
    """The chunk form on inputs with strong decay (log gates down to -5 per step) is finite everywhere (outputs,
    state, gradients) and matches the float64 recurrent reference."""
    ref = run_with_grads(recurrent, detached_copy(x, torch.float64))
    got = run_with_grads(chunk, x, chunk_size=64)
    for t in [got[0], got[1], *got[2].values()]:
        assert torch.isfinite(t).all()
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    got64 = (got[0].double(), got[1].double(), {n: t.double() for n, t in got[2].items()})
    assert_close_all(got64, ref, atol=tol, rtol=tol)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()
