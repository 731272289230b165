"""The Triton kernels through Triton's CPU interpreter (runs only when TRITON_INTERPRET=1 is set; slow-ish).

float32 kernels against the float64 recurrent reference, outputs poisoned with NaN (tools.kernel_accuracy)."""
import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                reason="set TRITON_INTERPRET=1 to run the Triton kernels on the CPU interpreter")

# (B, T, H, K, V, h0, ht): T = 1, exactly one chunk, one chunk + 1 row, several chunks; K != V both ways;
# initial/final state both, neither, and mixed; V split into two V blocks (pick_bv(64, B*H=1) = 32).
CASES = [
    (2, 70, 2, 16, 32, True, True),
    (1, 1, 2, 16, 32, True, True),
    (1, 1, 1, 32, 16, False, False),
    (1, 64, 1, 16, 32, False, False),
    (1, 65, 1, 32, 16, True, False),
    (1, 130, 1, 16, 32, False, True),
    (1, 200, 1, 16, 16, True, True),
    (1, 130, 1, 16, 64, True, True),   # NV = 2
    (1, 65, 1, 32, 64, False, True),   # NV = 2
]
IDS = ["x".join(map(str, c[:5])) + ("-h0" if c[5] else "") + ("-ht" if c[6] else "") for c in CASES]


def test_cases_split_v():
    from kernels import triton_common as C
    assert C.pick_bv(64, 1) == 32 and C.pick_bv(64, 1, 32) == 32


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("gate", ["none", "scalar", "channel"])
def test_gla_interpreter(gate, case):
    pytest.importorskip("triton")
    import torch
    from tools.kernel_accuracy import check_gla
    B, T, H, K, V, h0, ht = case
    errs = check_gla(B, T, H, K, V, gate=gate, dtype=torch.float32, h0=h0, ht=ht, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("gated", [True, False])
def test_delta_interpreter(gated, case):
    pytest.importorskip("triton")
    import torch
    from tools.kernel_accuracy import check_delta
    B, T, H, K, V, h0, ht = case
    errs = check_delta(B, T, H, K, V, gated=gated, dtype=torch.float32, h0=h0, ht=ht, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs


# The PyTorch emulation of the GLA kernels' rounding (tools/gla_emulation.py) against the kernels themselves, in
# float32 (the interpreter has no bf16): same algorithm, so they agree to float32 roundoff. T not a multiple of 64,
# h0/ht on and off, every gate, NV = 2 in the last case.
EMU_CASES = [(2, 70, 2, 16, 32, True, True), (1, 65, 1, 32, 16, False, False), (1, 130, 1, 16, 64, True, False)]


@pytest.mark.parametrize("case", EMU_CASES, ids=["x".join(map(str, c[:5])) + ("-h0" if c[5] else "") +
                                                 ("-ht" if c[6] else "") for c in EMU_CASES])
@pytest.mark.parametrize("gate", ["none", "scalar", "channel"])
def test_gla_emulation_matches_kernel(gate, case):
    pytest.importorskip("triton")
    import torch
    import torch.nn.functional as F
    from kernels.triton import Options
    from kernels.ops.gla.triton import gla
    from tools.gla_emulation import gla_emulated_grads
    from tools.kernel_accuracy import _rel
    B, T, H, K, V, h0, ht = case
    gen = torch.Generator().manual_seed(3)
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    q, k, v = r(B, T, H, K), r(B, T, H, K) * K ** -0.5, r(B, T, H, V)
    g = {"none": None, "scalar": lambda: F.logsigmoid(r(B, T, H) + 2.0),
         "channel": lambda: F.logsigmoid(r(B, T, H, K) + 2.0)}[gate]
    g = g() if g is not None else None
    s0 = r(B, H, K, V) if h0 else None
    do, dst = r(B, T, H, V), r(B, H, K, V)
    ins = [x.clone().requires_grad_() for x in (q, k, v, g, s0) if x is not None]
    it = iter(ins)
    qi, ki, vi = next(it), next(it), next(it)
    gi = next(it) if g is not None else None
    si = next(it) if h0 else None
    o, st = gla(qi, ki, vi, gi, initial_state=si, output_final_state=ht, options=Options(force_backward=True))
    loss = (o * do).sum() + ((st * dst).sum() if ht else 0)
    gr = torch.autograd.grad(loss, ins)
    (oe, ste), grads = gla_emulated_grads(q, k, v, g, do, dst, initial_state=s0, output_final_state=ht)
    ge = [x for x in grads if x is not None]
    assert len(ge) == len(gr)
    errs = {"o": _rel(oe, o)}
    if ht:
        errs["ht"] = _rel(ste, st)
    errs.update({f"d{i}": _rel(a, b) for i, (a, b) in enumerate(zip(ge, gr))})
    assert all(e < 1e-5 for e in errs.values()), errs
