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
