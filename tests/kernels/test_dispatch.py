"""The public API: shape validation, impl routing, lazy Triton, CPU fallback."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest
import torch

import kernels
from kernels import dispatch
from kernels.ops.delta.chunk import delta_rule_chunk
from kernels.ops.delta.naive import delta_rule_recurrent
from kernels.ops.gla.chunk import gla_chunk
from kernels.ops.gla.naive import gla_recurrent
from tests.kernels.helpers import make_inputs


def _gla_x(**kw):
    return {n: (t.detach() if t is not None else None) for n, t in make_inputs(13, **kw).items()}


def _delta_x(**kw):
    return {n: (t.detach() if t is not None else None) for n, t in make_inputs(13, delta=True, **kw).items()}


# ---- routing on CPU ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["channel", "scalar", None])
def test_gla_auto_on_cpu_is_chunk(gate):
    x = _gla_x(gate=gate, init=True)
    o, s = kernels.gla(**x, output_final_state=True)
    o_c, s_c = gla_chunk(**x, output_final_state=True)
    assert torch.equal(o, o_c) and torch.equal(s, s_c)


@pytest.mark.parametrize("gate", ["scalar", None])
def test_delta_auto_on_cpu_is_chunk(gate):
    x = _delta_x(gate=gate, init=True)
    o, s = kernels.delta_rule(**x, output_final_state=True)
    o_c, s_c = delta_rule_chunk(**x, output_final_state=True)
    assert torch.equal(o, o_c) and torch.equal(s, s_c)


def test_recurrent_and_chunk_impls():
    x = _gla_x(gate="channel")
    assert torch.equal(kernels.gla(**x, impl="recurrent")[0], gla_recurrent(**x)[0])
    assert torch.equal(kernels.gla(**x, impl="chunk", chunk_size=16)[0], gla_chunk(**x, chunk_size=16)[0])
    y = _delta_x(gate="scalar")
    assert torch.equal(kernels.delta_rule(**y, impl="recurrent")[0], delta_rule_recurrent(**y)[0])
    assert torch.equal(kernels.delta_rule(**y, impl="chunk", chunk_size=16)[0],
                       delta_rule_chunk(**y, chunk_size=16)[0])


def test_positional_gate_and_final_state_default():
    x = _gla_x(gate="scalar")
    o, s = kernels.gla(x["q"], x["k"], x["v"], x["g"])
    assert s is None and o.shape == x["v"].shape
    y = _delta_x(gate="scalar")
    o, s = kernels.delta_rule(y["q"], y["k"], y["v"], y["beta"], y["g"])
    assert s is None and o.shape == y["v"].shape


def test_triton_on_cpu_raises():
    with pytest.raises(ValueError, match="CUDA"):
        kernels.gla(**_gla_x(gate="scalar"), impl="triton")
    with pytest.raises(ValueError, match="CUDA"):
        kernels.delta_rule(**_delta_x(gate="scalar"), impl="triton")


def test_unknown_impl_raises():
    with pytest.raises(ValueError, match="impl"):
        kernels.gla(**_gla_x(gate=None), impl="fused")
    with pytest.raises(ValueError, match="impl"):
        kernels.delta_rule(**_delta_x(gate=None), impl="cuda")


# ---- shape validation --------------------------------------------------------------------------------------------
def _bad_gla_cases():
    x = _gla_x(gate="channel", init=True)
    B, T, H, K = x["q"].shape
    V = x["v"].shape[-1]
    return {
        "q 3-D": dict(x, q=x["q"][..., 0]),
        "k shape": dict(x, k=x["k"][:, :-1]),
        "v time": dict(x, v=x["v"][:, :-1]),
        "v heads": dict(x, v=x["v"][:, :, :1]),
        "g shape": dict(x, g=x["g"][..., :-1]),
        "g time": dict(x, g=x["g"][:, :-1, :, 0]),
        "state shape": dict(x, initial_state=torch.zeros(B, H, V, K + 1, dtype=x["q"].dtype)),
        "int v": dict(x, v=x["v"].long()),
    }


@pytest.mark.parametrize("case", list(_bad_gla_cases()))
def test_gla_bad_shapes_raise(case):
    with pytest.raises(ValueError, match="gla"):
        kernels.gla(**_bad_gla_cases()[case])


def _bad_delta_cases():
    x = _delta_x(gate="scalar", init=True)
    B, T, H, K = x["q"].shape
    return {
        "k shape": dict(x, k=x["k"][..., :-1]),
        "v batch": dict(x, v=x["v"][:1]),
        "beta shape": dict(x, beta=x["beta"][..., None]),
        "beta time": dict(x, beta=x["beta"][:, :-1]),
        "per-channel g": dict(x, g=x["g"][..., None].expand(B, T, H, K)),
        "state shape": dict(x, initial_state=x["initial_state"][:, :1]),
    }


@pytest.mark.parametrize("case", list(_bad_delta_cases()))
def test_delta_bad_shapes_raise(case):
    with pytest.raises(ValueError, match="delta_rule"):
        kernels.delta_rule(**_bad_delta_cases()[case])


def test_bad_chunk_size_raises():
    with pytest.raises(ValueError, match="chunk_size"):
        kernels.gla(**_gla_x(gate=None), chunk_size=0)


# ---- the Triton hook, exercised with a fake module (no CUDA needed) ----------------------------------------------
@pytest.fixture
def fake_triton(monkeypatch):
    mod = types.SimpleNamespace(gla=lambda *a, **k: "triton-gla", delta_rule=lambda *a, **k: "triton-delta")
    monkeypatch.setattr(dispatch, "_load_triton", lambda: (mod, None))
    return mod


def _always(_mod):
    return True


def test_pick_auto_uses_triton_on_cuda_only_when_opted_in(fake_triton, monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.delenv("HYBRID_NAS_TRITON", raising=False)
    assert dispatch._pick("gla", "auto", cuda, _always) is None
    assert dispatch._pick("gla", "triton", cuda, _always) is fake_triton
    monkeypatch.setenv("HYBRID_NAS_TRITON", "1")
    assert dispatch._pick("gla", "auto", cuda, _always) is fake_triton
    assert dispatch._pick("gla", "triton", cuda, _always) is fake_triton
    assert dispatch._pick("gla", "auto", torch.device("cpu"), _always) is None
    assert dispatch._pick("gla", "chunk", cuda, _always) is None


def test_pick_unsupported_call(fake_triton, monkeypatch):
    monkeypatch.setenv("HYBRID_NAS_TRITON", "1")
    cuda = torch.device("cuda")
    assert dispatch._pick("gla", "auto", cuda, lambda m: False) is None
    with pytest.raises(ValueError, match="not support"):
        dispatch._pick("gla", "triton", cuda, lambda m: False)


def test_pick_import_failure(monkeypatch):
    monkeypatch.setenv("HYBRID_NAS_TRITON", "1")
    err = ImportError("no triton here")
    monkeypatch.setattr(dispatch, "_load_triton", lambda: (None, err))
    cuda = torch.device("cuda")
    assert dispatch._pick("gla", "auto", cuda, _always) is None
    with pytest.raises(RuntimeError, match="no triton here"):
        dispatch._pick("delta_rule", "triton", cuda, _always)


def test_imports_without_triton():
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import torch, kernels\n"
        "q = torch.randn(1, 5, 1, 4)\n"
        "o, _ = kernels.gla(q, q, q, -torch.rand(1, 5, 1))\n"
        "o, _ = kernels.delta_rule(q, q, q, torch.rand(1, 5, 1))\n"
        "assert 'kernels.triton' not in sys.modules\n"
        "assert not [m for m in sys.modules if m.startswith('kernels.') and m.endswith('.triton')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_no_attribute_is_both_a_function_and_a_module():
    """Importing every submodule of `kernels` leaves each public name what it was: a function stays a function
    (`kernels.gla` is not rebound to a subpackage by `import kernels.ops.gla.chunk`), a module a module."""
    import importlib
    import pkgutil
    import types

    before = {n: getattr(kernels, n) for n in kernels.__all__}
    for m in pkgutil.walk_packages(kernels.__path__, "kernels."):
        if not m.name.endswith("triton") and ".triton" not in m.name:
            importlib.import_module(m.name)
    assert {n: getattr(kernels, n) for n in kernels.__all__} == before
    assert callable(kernels.gla) and not isinstance(kernels.gla, types.ModuleType)
    assert callable(kernels.delta_rule) and not isinstance(kernels.delta_rule, types.ModuleType)
    names = {m.name.split(".")[1] for m in pkgutil.iter_modules(kernels.__path__, "kernels.")}
    assert not names & set(kernels.__all__), names & set(kernels.__all__)
    assert isinstance(kernels.ops.gla.chunk, types.ModuleType) and kernels.ops.gla.chunk.gla_chunk is kernels.gla_chunk


# ---- on the device -----------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("gate", ["channel", "scalar", None])
def test_gla_auto_on_cuda_matches_reference(gate):
    x = make_inputs(130, gate=gate, init=True, dtype=torch.float32)
    x = {n: (t.detach().cuda() if t is not None else None) for n, t in x.items()}
    o, s = kernels.gla(**x, output_final_state=True)
    o_ref, s_ref = gla_recurrent(**x, output_final_state=True)
    torch.testing.assert_close(o, o_ref, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(s, s_ref, atol=2e-3, rtol=2e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("gate", ["scalar", None])
def test_delta_auto_on_cuda_matches_reference(gate):
    x = make_inputs(130, gate=gate, delta=True, init=True, dtype=torch.float32)
    x = {n: (t.detach().cuda() if t is not None else None) for n, t in x.items()}
    o, s = kernels.delta_rule(**x, output_final_state=True)
    o_ref, s_ref = delta_rule_recurrent(**x, output_final_state=True)
    torch.testing.assert_close(o, o_ref, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(s, s_ref, atol=2e-3, rtol=2e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_chunk_forms_run_on_cuda(dtype):
    x = make_inputs(130, gate="channel", init=True, dtype=dtype)
    x = {n: t.detach().cuda().requires_grad_() for n, t in x.items()}
    o, s = kernels.gla(**x, output_final_state=True, impl="chunk")
    (o.float().sum() + s.sum()).backward()
    o_ref, s_ref = gla_recurrent(**{n: t.detach().double() for n, t in x.items()}, output_final_state=True)
    assert o.dtype == dtype and s.dtype == torch.float32
    assert all(torch.isfinite(t.grad).all() for t in x.values())
    tol = 2e-2 if dtype == torch.bfloat16 else 2e-3
    torch.testing.assert_close(o.double(), o_ref, atol=tol * 5, rtol=tol)

    y = make_inputs(130, gate="scalar", delta=True, init=True, dtype=dtype)
    y = {n: t.detach().cuda().requires_grad_() for n, t in y.items()}
    o, s = kernels.delta_rule(**y, output_final_state=True, impl="chunk")
    (o.float().sum() + s.sum()).backward()
    o_ref, s_ref = delta_rule_recurrent(**{n: t.detach().double() for n, t in y.items()}, output_final_state=True)
    assert all(torch.isfinite(t.grad).all() for t in y.values())
    torch.testing.assert_close(o.double(), o_ref, atol=tol * 5, rtol=tol)
