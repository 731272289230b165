"""The pass rule of the kernel checks: TOL, or the floor of the same algorithm in the same precision."""
import math

import torch

from tools.kernel_accuracy import TOL, failures


def test_failures_judges_against_tol_and_the_emulated_floor():
    bf = torch.bfloat16
    assert TOL[bf] == 1e-2
    errs = {"dq": 3e-3, "dg": 3.5e-2, "dg@emu": 3.5e-2, "dk": 2e-2, "dk@emu": 1e-3}
    assert failures(errs, bf) == {"dk": 2e-2}  # dg at its floor passes; dk 20x its floor fails
    assert failures({"dg": 6e-2, "dg@emu": 3.5e-2}, bf) == {"dg": 6e-2}  # beyond 1.5x the floor
    assert failures({"dg": 2e-2}, bf) == {"dg": 2e-2}  # no emulation: the flat tolerance
    bad = failures({"dv": math.nan, "dv@emu": 1e-3}, bf)
    assert list(bad) == ["dv"]  # NaN always fails
    assert failures({"o": 2e-3}, torch.float32) == {"o": 2e-3} and not failures({"o": 5e-4}, torch.float32)
