"""The Triton kernels through Triton's CPU interpreter (runs only when TRITON_INTERPRET=1 is set; slow-ish)."""
import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                reason="set TRITON_INTERPRET=1 to run the Triton kernels on the CPU interpreter")


@pytest.mark.parametrize("gate", ["none", "scalar", "channel"])
def test_gla_interpreter(gate):
    pytest.importorskip("triton")
    import torch
    from kernels.triton._check import check_gla
    errs = check_gla(2, 70, 2, 16, 32, gate=gate, dtype=torch.float32, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs


@pytest.mark.parametrize("gated", [True, False])
def test_delta_interpreter(gated):
    pytest.importorskip("triton")
    import torch
    from kernels.triton._check import check_delta
    errs = check_delta(1, 70, 2, 16, 32, gated=gated, dtype=torch.float32, device="cpu", seed=0)
    assert all(e < 1e-4 for e in errs.values()), errs
