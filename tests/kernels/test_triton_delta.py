"""Triton (gated) delta-rule kernels vs. the float64 recurrent reference: outputs and all gradients (GPU only)."""
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.gpu

CASES = [  # (B, T, H, K, V)
    (2, 1, 2, 64, 64),
    (2, 37, 3, 64, 64),
    (1, 100, 2, 32, 128),
    (2, 1000, 2, 64, 64),
    (1, 130, 1, 128, 128),
    (1, 70, 2, 16, 32),
]


@pytest.fixture(autouse=True)
def _cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("triton")


@pytest.mark.parametrize("shape", CASES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "plain"])
def test_delta_bf16(shape, gated):
    from kernels.triton._check import TOL, check_delta
    errs = check_delta(*shape, gated=gated, dtype=torch.bfloat16, seed=hash((shape, gated)) % 2**31)
    bad = {n: e for n, e in errs.items() if not e < TOL[torch.bfloat16]}
    assert not bad, errs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_delta_dtypes(dtype):
    from kernels.triton._check import TOL, check_delta
    errs = check_delta(2, 100, 2, 64, 64, gated=True, dtype=dtype, seed=1)
    bad = {n: e for n, e in errs.items() if not e < TOL[dtype]}
    assert not bad, errs


def test_delta_no_state():
    from kernels.triton._check import check_delta
    errs = check_delta(2, 77, 2, 64, 64, gated=True, h0=False, ht=False, seed=2)
    assert all(e < 1e-2 for e in errs.values()), errs
