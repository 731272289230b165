"""`impl="compile"`: the chunked forms through torch.compile, held to the recurrent references on outputs, final
states and gradients (random inputs, odd lengths, every gate kind), and a proxy model trained through it equal to
the same model on the plain chunked form. On a CPU TorchInductor compiles C++ (a compiler is needed: g++/gcc)."""
from __future__ import annotations

import shutil

import pytest
import torch

import kernels
from kernels.compiled import RECOMPILE_LIMIT, compiled
from kernels.ops.delta.naive import delta_rule_recurrent
from kernels.ops.gla.chunk import gla_chunk
from kernels.ops.gla.naive import gla_recurrent
from tests.kernels.helpers import assert_close_all, detached_copy, make_inputs, run_with_grads

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("gcc") is None,
                                reason="TorchInductor on a CPU compiles C++: no g++ or gcc here")


def _gla(**kw):
    return kernels.gla(**kw, impl="compile", chunk_size=16)


def _delta(**kw):
    return kernels.delta_rule(**kw, impl="compile", chunk_size=16)


@pytest.mark.parametrize("T, gate, init", [(37, "channel", True), (21, "scalar", False), (16, None, False)])
def test_compiled_gla_matches_the_recurrent_reference(T, gate, init):
    x = make_inputs(T, gate=gate, init=init, seed=T, dtype=torch.float32)
    ref = run_with_grads(gla_recurrent, detached_copy(x, torch.float64))
    got = run_with_grads(_gla, x)
    assert_close_all(got, tuple(_to32(r) for r in ref), atol=2e-4, rtol=2e-4)


@pytest.mark.parametrize("T, gate", [(37, "scalar"), (9, None)])
def test_compiled_delta_rule_matches_the_recurrent_reference(T, gate):
    x = make_inputs(T, gate=gate, delta=True, init=True, seed=T, dtype=torch.float32)
    ref = run_with_grads(delta_rule_recurrent, detached_copy(x, torch.float64))
    got = run_with_grads(_delta, x)
    assert_close_all(got, tuple(_to32(r) for r in ref), atol=2e-4, rtol=2e-4)


def test_one_compiled_form_per_chunked_form_really_compiled_and_a_raised_recompile_limit():
    from torch._dynamo.utils import counters

    assert compiled(gla_chunk) is compiled(gla_chunk)
    before = counters["stats"]["unique_graphs"]
    x = make_inputs(5, gate="channel", seed=5, dtype=torch.float32)
    _gla(**x)  # a shape no other test calls: one more graph traced whole, not run eagerly
    assert counters["stats"]["unique_graphs"] == before + 1
    assert torch._dynamo.config.recompile_limit >= RECOMPILE_LIMIT


def test_a_proxy_trains_through_the_compiled_forms_as_through_the_chunked_ones():
    from proxies.budget import get_budget
    from proxies.build import build_model
    from search_space.layout import Layout

    x = torch.randint(0, 32, (4, 19))
    losses = {}
    for impl in ("chunk", "compile"):
        model = build_model(Layout.parse("gla,gdn"), get_budget("smoke", {"impl": impl}), 32, seed=0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        losses[impl] = []
        for _ in range(3):
            loss = torch.nn.functional.cross_entropy(model(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[impl].append(loss.item())
    assert losses["compile"] == pytest.approx(losses["chunk"], rel=1e-4, abs=1e-5)
    assert losses["chunk"][-1] < losses["chunk"][0]


def _to32(x):
    if isinstance(x, torch.Tensor):
        return x.to(torch.float32)
    if isinstance(x, dict):
        return {k: _to32(v) for k, v in x.items()}
    return x


def test_a_form_called_while_another_thread_traces_waits_instead_of_failing():
    """Compiling raises torch.fx's process-wide tracing flag; a compiled function entered from another thread while
    it is up fails on torch <= 2.11 (seen on the GPU host). Calls of the forms are serialised, so a call waits until
    the tracing call has returned. Here the tracing call is simulated (the flag raised inside a serialised call)."""
    import threading
    import time

    import torch.fx._symbolic_trace as fx_trace

    from kernels.compiled import _one_call_at_a_time

    x = make_inputs(12, gate="channel", seed=12, dtype=torch.float32)
    _gla(**x)  # compiled before the race: the other thread's call is a cached one
    inside = threading.Event()

    @_one_call_at_a_time
    def tracing():
        fx_trace._is_fx_tracing_flag = True
        inside.set()
        time.sleep(0.5)
        fx_trace._is_fx_tracing_flag = False

    t = threading.Thread(target=tracing)
    t.start()
    inside.wait()
    try:
        o, _ = _gla(**x)  # without the serialising lock: "Detected that you are using FX to symbolically trace ..."
    finally:
        t.join()
    assert torch.isfinite(o).all()


def test_the_backward_is_compiled_with_its_forward():
    compiled(gla_chunk)
    assert torch._functorch.config.force_non_lazy_backward_lowering


def test_a_form_waits_while_another_thread_holds_the_exclusive_lock():
    """A CUDA-graph capture (and its warm-up steps) holds `exclusive()`: a form called meanwhile from another
    thread, which might compile or first launch kernels that synchronise the device, waits until it is released."""
    import threading

    from kernels.compiled import exclusive

    x = make_inputs(12, gate="channel", seed=12, dtype=torch.float32)
    _gla(**x)
    done = threading.Event()
    t = threading.Thread(target=lambda: (_gla(**x), done.set()))
    with exclusive():
        t.start()
        assert not done.wait(0.5)  # the call is held back while the lock is taken
        _gla(**x)  # re-entrant: the holder itself may call forms
    t.join(30)
    assert done.is_set()
