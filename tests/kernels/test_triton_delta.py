"""Triton (gated) delta-rule kernels vs. the float64 recurrent reference: outputs and all gradients (GPU only)."""
import pytest

torch = pytest.importorskip("torch")

from tests.kernels.helpers import TRITON_CASES as CASES, skip_without_cuda_triton  # noqa: E402

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _cuda():
    skip_without_cuda_triton()


# Triton 3.6 / H100: the delta-rule backward failed the device check (gated: NaN dv / illegal address);
# kernels.triton.delta_rule falls back to the chunk form when gradients are needed. See docs/kernels.md.
KNOWN_BAD = pytest.mark.xfail(reason="Triton 3.6/H100: delta-rule backward fails the device check; falls back",
                              strict=False)


@pytest.mark.parametrize("shape", CASES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "plain"])
@KNOWN_BAD
def test_delta_bf16(shape, gated):
    from tools.kernel_accuracy import TOL, check_delta
    errs = check_delta(*shape, gated=gated, dtype=torch.bfloat16, seed=hash((shape, gated)) % 2**31)
    bad = {n: e for n, e in errs.items() if not e < TOL[torch.bfloat16]}
    assert not bad, errs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@KNOWN_BAD
def test_delta_dtypes(dtype):
    from tools.kernel_accuracy import TOL, check_delta
    errs = check_delta(2, 100, 2, 64, 64, gated=True, dtype=dtype, seed=1)
    bad = {n: e for n, e in errs.items() if not e < TOL[dtype]}
    assert not bad, errs


@KNOWN_BAD
def test_delta_no_state():
    from tools.kernel_accuracy import check_delta
    errs = check_delta(2, 77, 2, 64, 64, gated=True, h0=False, ht=False, seed=2)
    assert all(e < 1e-2 for e in errs.values()), errs


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("T", [1, 37, 1000])
def test_delta_forward(T, gated):
    """Forward-only (no grad) runs the Triton kernels: outputs and final state vs. the float64 reference."""
    import torch.nn.functional as F
    from kernels.ops.delta.naive import delta_rule_recurrent
    from kernels.triton import Options, delta_rule
    B, H, K, V = 2, 3, 64, 64
    q = F.normalize(torch.randn(B, T, H, K, device="cuda"), dim=-1).bfloat16()
    k = F.normalize(torch.randn(B, T, H, K, device="cuda"), dim=-1).bfloat16()
    v = torch.randn(B, T, H, V, device="cuda").bfloat16()
    beta = torch.rand(B, T, H, device="cuda").bfloat16()
    g = F.logsigmoid(torch.randn(B, T, H, device="cuda") + 2) if gated else None
    s0 = torch.randn(B, H, K, V, device="cuda")
    with torch.no_grad():
        o, st = delta_rule(q, k, v, beta, g, initial_state=s0, output_final_state=True, options=Options(poison=True))
    o2, st2 = delta_rule_recurrent(q.double(), k.double(), v.double(), beta.double(),
                                   g.double() if g is not None else None, initial_state=s0.double(),
                                   output_final_state=True)
    assert ((o.double() - o2.double()).norm() / o2.double().norm()).item() < 1e-2
    assert ((st.double() - st2).norm() / st2.norm()).item() < 1e-2


def test_delta_public_entry_is_correct_with_grad():
    """The public entry falls back to the chunk form for the backward: gradients must match."""
    import torch.nn.functional as F
    from kernels.ops.delta.naive import delta_rule_recurrent
    from kernels.triton import delta_rule
    B, T, H, K = 2, 100, 2, 64
    q = F.normalize(torch.randn(B, T, H, K, device="cuda"), dim=-1)
    k = F.normalize(torch.randn(B, T, H, K, device="cuda"), dim=-1)
    v = torch.randn(B, T, H, K, device="cuda")
    beta = torch.rand(B, T, H, device="cuda")
    g = F.logsigmoid(torch.randn(B, T, H, device="cuda"))
    ins = [x.requires_grad_() for x in (q, k, v, beta, g)]
    o, _ = delta_rule(*ins)
    gr = torch.autograd.grad(o.sum(), ins)
    o2, _ = delta_rule_recurrent(*[x.double() for x in ins])
    gr2 = torch.autograd.grad(o2.sum(), ins)
    for a, b in zip(gr, gr2):
        assert ((a.double() - b).norm() / b.norm()).item() < 1e-3
