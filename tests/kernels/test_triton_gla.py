"""Triton GLA kernels vs. the float64 recurrent reference: outputs and all gradients, odd lengths (GPU only)."""
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
@pytest.mark.parametrize("gate", ["scalar", "channel", "none"])
def test_gla_bf16(shape, gate):
    from kernels.triton._check import TOL, check_gla
    errs = check_gla(*shape, gate=gate, dtype=torch.bfloat16, seed=hash((shape, gate)) % 2**31)
    bad = {n: e for n, e in errs.items() if not e < TOL[torch.bfloat16]}
    assert not bad, errs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("gate", ["scalar", "channel"])
def test_gla_dtypes(dtype, gate):
    from kernels.triton._check import TOL, check_gla
    errs = check_gla(2, 100, 2, 64, 64, gate=gate, dtype=dtype, seed=1)
    bad = {n: e for n, e in errs.items() if not e < TOL[dtype]}
    assert not bad, errs


def test_gla_no_state():
    from kernels.triton._check import check_gla
    errs = check_gla(2, 77, 2, 64, 64, gate="scalar", h0=False, ht=False, seed=2)
    assert all(e < 1e-2 for e in errs.values()), errs


def test_gla_bad_head_dim():
    from kernels.triton import gla
    q = torch.randn(1, 8, 1, 48, device="cuda")
    with pytest.raises(ValueError, match="power of two"):
        gla(q, q, q)
