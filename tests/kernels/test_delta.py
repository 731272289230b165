"""Delta rule: the recurrent reference pinned by hand; the chunked (WY / UT) form held to it on outputs, states
and gradients."""
from __future__ import annotations

import math

import pytest
import torch

from kernels.ops.delta.chunk import delta_rule_chunk
from kernels.ops.delta.naive import delta_rule_recurrent
from tests.kernels.helpers import (assert_chunk_matches_under_strong_decay, assert_close_all, detached_copy,
                                   make_inputs, rel_err, run_with_grads)

T_VALUES = [1, 7, 63, 64, 65, 130]


def _t(values, *shape):
    return torch.tensor(values, dtype=torch.float64).view(*shape)


# ---- the reference, by hand -------------------------------------------------------------------------------------
def test_recurrent_hand_gated_k1():
    # K = V = 1, S0 = 0, beta = 0.5, decays 1 then 0.5, scale 1: S_t = a (1 - beta k^2) S + beta k v
    # S1 = 0.5 * 2 = 1, o1 = 1 ; S2 = 0.5 * (1 - 0.5) * 1 + 0.5 * 4 = 2.25, o2 = 2.25
    q, k = _t([1.0, 1.0], 1, 2, 1, 1), _t([1.0, 1.0], 1, 2, 1, 1)
    v = _t([2.0, 4.0], 1, 2, 1, 1)
    beta = _t([0.5, 0.5], 1, 2, 1)
    g = _t([0.0, math.log(0.5)], 1, 2, 1)
    o, s = delta_rule_recurrent(q, k, v, beta, g, scale=1.0, output_final_state=True)
    assert o.flatten().tolist() == pytest.approx([1.0, 2.25])
    assert s.item() == pytest.approx(2.25)


def test_recurrent_hand_k2():
    # K = 2, V = 1, no gate. k1 = [1, 0], beta1 = 1: S1 = [1, 0]; o1 = [1, 0].S1 = 1
    # k2 = [0.6, 0.8], beta2 = 0.5, v2 = 2: S2 = S1 - 0.5 k2 (k2.S1) + 0.5 k2 * 2 = [0.82, -0.24] + [0.6, 0.8]
    #   = [1.42, 0.56]; o2 = [0, 1].S2 = 0.56
    q = _t([[1.0, 0.0], [0.0, 1.0]], 1, 2, 1, 2)
    k = _t([[1.0, 0.0], [0.6, 0.8]], 1, 2, 1, 2)
    v = _t([1.0, 2.0], 1, 2, 1, 1)
    beta = _t([1.0, 0.5], 1, 2, 1)
    o, s = delta_rule_recurrent(q, k, v, beta, scale=1.0, output_final_state=True)
    assert o.flatten().tolist() == pytest.approx([1.0, 0.56])
    assert s.flatten().tolist() == pytest.approx([1.42, 0.56])


def test_recurrent_beta_one_overwrites():
    # writing the same unit key twice with beta = 1 keeps only the latest value (linear attention would sum them)
    k = _t([[0.6, 0.8], [0.6, 0.8]], 1, 2, 1, 2)
    v = _t([[1.0, -1.0], [5.0, 3.0]], 1, 2, 1, 2)
    o, _ = delta_rule_recurrent(k, k, v, torch.ones(1, 2, 1, dtype=torch.float64), scale=1.0)
    assert o[0, 1, 0].tolist() == pytest.approx([5.0, 3.0])


def test_recurrent_beta_zero_keeps_state():
    x = make_inputs(6, gate=None, delta=True, init=True)
    q, k, v, s0 = (x[n].detach() for n in ("q", "k", "v", "initial_state"))
    o, s = delta_rule_recurrent(q, k, v, torch.zeros(q.shape[:3], dtype=q.dtype), initial_state=s0,
                                output_final_state=True)
    torch.testing.assert_close(s, s0)
    torch.testing.assert_close(o, torch.einsum("bthk,bhkv->bthv", q, s0) * q.shape[-1] ** -0.5)


# ---- chunk vs recurrent, float64 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("T", T_VALUES)
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("gate", ["scalar", None])
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent(T, chunk_size, gate, init):
    x = make_inputs(T, gate=gate, delta=True, init=init, seed=T)
    ref = run_with_grads(delta_rule_recurrent, x)
    got = run_with_grads(delta_rule_chunk, detached_copy(x), chunk_size=chunk_size)
    assert_close_all(got, ref, atol=1e-9, rtol=1e-9)


def test_chunk_odd_chunk_size_and_scale():
    x = make_inputs(29, gate="scalar", delta=True, init=True)
    ref = run_with_grads(delta_rule_recurrent, x, scale=0.7)
    got = run_with_grads(delta_rule_chunk, detached_copy(x), scale=0.7, chunk_size=10)
    assert_close_all(got, ref, atol=1e-9, rtol=1e-9)


def test_chunk_no_final_state():
    x = make_inputs(20, gate="scalar", delta=True)
    o, s = delta_rule_chunk(**x, chunk_size=16)
    assert s is None
    torch.testing.assert_close(o, delta_rule_recurrent(**x)[0], atol=1e-10, rtol=1e-10)


# ---- stability ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunk_strong_decay_is_finite_and_exact(dtype):
    # log gates down to -5 per step: the cumulative decay over a 64-step chunk reaches about -160
    x = make_inputs(130, gate="scalar", delta=True, init=True, g_min=-5.0, dtype=dtype)
    assert_chunk_matches_under_strong_decay(delta_rule_recurrent, delta_rule_chunk, x, dtype)


# ---- low precision -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["scalar", None])
def test_chunk_bf16_smoke(gate):
    x = make_inputs(65, gate=gate, delta=True, init=True, dtype=torch.bfloat16)
    o, s, grads = run_with_grads(delta_rule_chunk, x, chunk_size=16)
    assert o.dtype == torch.bfloat16 and s.dtype == torch.float32
    assert torch.isfinite(o).all() and torch.isfinite(s).all()
    assert all(torch.isfinite(t).all() for t in grads.values())
    o_ref, s_ref = delta_rule_recurrent(**detached_copy(x, torch.float64), output_final_state=True)
    assert rel_err(o, o_ref) < 2e-2
    assert rel_err(s, s_ref) < 2e-2
