"""The Triton kernels through Triton's CPU interpreter (runs only when TRITON_INTERPRET=1 is set; slow-ish).

float32 kernels against the float64 recurrent reference, outputs poisoned with NaN (kernels.triton._check)."""
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
    from kernels.triton import _common as C
    assert C.pick_bv(64, 1) == 32 and C.pick_bv(64, 1, 32) == 32


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("gate", ["none", "scalar", "channel"])
def test_gla_interpreter(gate, case):
    pytest.importorskip("triton")
    import torch
    from kernels.triton._check import check_gla
    B, T, H, K, V, h0, ht = case
    errs = check_gla(B, T, H, K, V, gate=gate, dtype=torch.float32, h0=h0, ht=ht, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("gated", [True, False])
def test_delta_interpreter(gated, case):
    pytest.importorskip("triton")
    import torch
    from kernels.triton._check import check_delta
    B, T, H, K, V, h0, ht = case
    errs = check_delta(B, T, H, K, V, gated=gated, dtype=torch.float32, h0=h0, ht=ht, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs


# Delta-rule dk debugging (kernels/NOTES.md "What is left"): the DEBUG terms of the chunk kernel against float64
# torch on the kernel's own saved buffers, and check_delta with each alternative formulation switched on.
TERM_CASES = [(1, 1, 2, 16, 32), (2, 70, 2, 16, 32), (1, 130, 1, 16, 64)]  # T = 1, two chunks, NV = 2


@pytest.mark.parametrize("shape", TERM_CASES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "plain"])
def test_delta_terms_interpreter(gated, shape):
    pytest.importorskip("triton")
    import torch
    from kernels.triton._check import check_delta_terms
    errs = check_delta_terms(*shape, gated=gated, dtype=torch.float32, h0=True, ht=True, device="cpu", seed=0)
    assert set(errs) >= {"t1", "t2", "t3", "t4", "t5", "dk_sum", "dk"}
    assert all(e < 1e-4 for e in errs.values()), errs


ALT_CASES = [((2, 70, 2, 16, 32), True, True, True), ((1, 65, 1, 32, 64), False, False, True)]  # 2nd: NV = 2


@pytest.mark.parametrize("alt", ["dbt_scratch", "dat_scratch", "vnt_scratch", "dbt_scratch,dat_scratch,vnt_scratch"],
                         ids=["dbt", "dat", "vnt", "all"])
@pytest.mark.parametrize("case", ALT_CASES, ids=["2x70x2x16x32-gated", "1x65x1x32x64-plain-ht"])
def test_delta_alt_interpreter(alt, case, monkeypatch):
    pytest.importorskip("triton")
    import torch
    from kernels.triton import _common as C
    from kernels.triton._check import check_delta
    shape, gated, h0, ht = case
    monkeypatch.setattr(C, "DELTA_ALT", alt)
    assert C.delta_alt() == frozenset(alt.split(","))
    errs = check_delta(*shape, gated=gated, dtype=torch.float32, h0=h0, ht=ht, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs


def test_delta_alt_names(monkeypatch):
    from kernels.triton import _common as C
    monkeypatch.setattr(C, "DELTA_ALT", "")
    assert C.delta_alt() == frozenset()
    monkeypatch.setattr(C, "DELTA_ALT", "all")
    assert C.delta_alt() == frozenset(C.DELTA_ALTS)
    monkeypatch.setattr(C, "DELTA_ALT", "dbt_scratch,nope")
    with pytest.raises(ValueError):
        C.delta_alt()


# The PyTorch emulation of the GLA kernels' rounding (kernels/triton/_emulate.py) against the kernels themselves, in
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
    from kernels.triton import _common as C
    from kernels.triton._check import _rel
    from kernels.triton._emulate import gla_emulated_grads
    from kernels.triton.gla import gla
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
    oldf, C.FORCE_TRITON = C.FORCE_TRITON, True
    try:
        o, st = gla(qi, ki, vi, gi, initial_state=si, output_final_state=ht)
        loss = (o * do).sum() + ((st * dst).sum() if ht else 0)
        gr = torch.autograd.grad(loss, ins)
    finally:
        C.FORCE_TRITON = oldf
    (oe, ste), grads = gla_emulated_grads(q, k, v, g, do, dst, initial_state=s0, output_final_state=ht)
    ge = [x for x in grads if x is not None]
    assert len(ge) == len(gr)
    errs = {"o": _rel(oe, o)}
    if ht:
        errs["ht"] = _rel(ste, st)
    errs.update({f"d{i}": _rel(a, b) for i, (a, b) in enumerate(zip(ge, gr))})
    assert all(e < 1e-5 for e in errs.values()), errs
