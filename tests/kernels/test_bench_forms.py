"""`bench kernels`' rows for our PyTorch forms: the compiled chunked form times the same maths as the plain one
(the benchmark itself needs CUDA; the callables it times run anywhere)."""
from __future__ import annotations

import shutil

import pytest
import torch

from kernels.bench import _fns, _inputs


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("gcc") is None,
                    reason="TorchInductor on a CPU compiles C++: no g++ or gcc here")
@pytest.mark.parametrize("op", ["gla_channel", "delta_gated"])
def test_the_compiled_row_computes_what_the_plain_chunk_row_computes(op):
    torch.manual_seed(0)
    ins = _inputs(2, 40, 2, 16, torch.float32, op, device="cpu")
    plain, fast = _fns(op, "torch_chunk", None), _fns(op, "torch_compile", None)
    assert plain is not None and fast is not None
    want, got = plain(ins), fast(ins)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    w = torch.randn_like(want)
    leaves = list(ins.values())
    g_want = torch.autograd.grad((want * w).sum(), leaves)
    g_got = torch.autograd.grad((got * w).sum(), leaves)
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fla_rows_are_absent_without_fla():
    assert _fns("gla_scalar", "fla", None) is None
