"""GLA: the recurrent reference pinned by hand; the chunked form held to it on outputs, states and gradients."""
from __future__ import annotations

import math

import pytest
import torch

from kernels.ops.gla.chunk import gla_chunk
from kernels.ops.gla.naive import gla_recurrent
from tests.kernels.helpers import (assert_chunk_matches_under_strong_decay, assert_close_all, detached_copy,
                                   make_inputs, rel_err, run_with_grads)

T_VALUES = [1, 7, 63, 64, 65, 130]


# ---- the reference, by hand -------------------------------------------------------------------------------------
def test_recurrent_hand_scalar_k1():
    # K = V = 1, S0 = 1, decays 0.5 then 0.25, scale 1:
    # S1 = 0.5 * 1 + 3 * 2 = 6.5, o1 = 1 * 6.5 ; S2 = 0.25 * 6.5 + 1 * 5 = 6.625, o2 = 2 * 6.625 = 13.25
    q = torch.tensor([1.0, 2.0], dtype=torch.float64).view(1, 2, 1, 1)
    k = torch.tensor([3.0, 1.0], dtype=torch.float64).view(1, 2, 1, 1)
    v = torch.tensor([2.0, 5.0], dtype=torch.float64).view(1, 2, 1, 1)
    g = torch.tensor([math.log(0.5), math.log(0.25)], dtype=torch.float64).view(1, 2, 1)
    s0 = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    o, s = gla_recurrent(q, k, v, g, scale=1.0, initial_state=s0, output_final_state=True)
    assert o.flatten().tolist() == pytest.approx([6.5, 13.25])
    assert s.item() == pytest.approx(6.625)


def test_recurrent_hand_per_channel_k2():
    # K = 2, V = 1, S0 = 0, per-channel decays: g1 = log[0.5, 1], g2 = log[0.5, 0.5]
    # S1 = [1, 2] * 1 = [1, 2], o1 = [1, 0].S1 = 1 ; S2 = [0.5, 1] + [0, 1] * 3 = [0.5, 4], o2 = [1, 1].S2 = 4.5
    q = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
    k = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
    v = torch.tensor([1.0, 3.0], dtype=torch.float64).view(1, 2, 1, 1)
    g = torch.tensor([[0.5, 1.0], [0.5, 0.5]], dtype=torch.float64).log().view(1, 2, 1, 2)
    o, s = gla_recurrent(q, k, v, g, scale=1.0, output_final_state=True)
    assert o.flatten().tolist() == pytest.approx([1.0, 4.5])
    assert s.flatten().tolist() == pytest.approx([0.5, 4.0])
    o_default, _ = gla_recurrent(q, k, v, g)  # scale defaults to K ** -0.5
    assert o_default.flatten().tolist() == pytest.approx([2 ** -0.5, 4.5 * 2 ** -0.5])


def test_recurrent_no_gate_is_causal_linear_attention():
    x = make_inputs(9, gate=None)
    q, k, v = x["q"].detach(), x["k"].detach(), x["v"].detach()
    scores = torch.einsum("bthk,bshk->bhts", q, k).tril()  # (B, H, T, T)
    ref = torch.einsum("bhts,bshv->bthv", scores, v) * q.shape[-1] ** -0.5
    o, _ = gla_recurrent(q, k, v)
    torch.testing.assert_close(o, ref)


def test_recurrent_scalar_gate_equals_broadcast_channel_gate():
    x = make_inputs(11, gate="scalar")
    q, k, v, g = (x[n].detach() for n in ("q", "k", "v", "g"))
    o1, s1 = gla_recurrent(q, k, v, g, output_final_state=True)
    o2, s2 = gla_recurrent(q, k, v, g.unsqueeze(-1).expand_as(q), output_final_state=True)
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(s1, s2)


# ---- chunk vs recurrent, float64 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("T", T_VALUES)
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("gate", ["channel", "scalar", None])
@pytest.mark.parametrize("init", [False, True])
def test_chunk_matches_recurrent(T, chunk_size, gate, init):
    x = make_inputs(T, gate=gate, init=init, seed=T)
    ref = run_with_grads(gla_recurrent, x)
    got = run_with_grads(gla_chunk, detached_copy(x), chunk_size=chunk_size)
    assert_close_all(got, ref, atol=1e-9, rtol=1e-9)


def test_chunk_odd_chunk_size_without_sub_chunks():
    x = make_inputs(23, gate="channel", init=True)
    ref = run_with_grads(gla_recurrent, x)
    got = run_with_grads(gla_chunk, detached_copy(x), chunk_size=10)  # 10 % 16 != 0: one exact sub-chunk
    assert_close_all(got, ref, atol=1e-9, rtol=1e-9)


def test_chunk_custom_scale_and_no_final_state():
    x = make_inputs(20, gate="channel")
    o_ref, _ = gla_recurrent(**x, scale=0.3)
    o, s = gla_chunk(**x, scale=0.3, chunk_size=16)
    assert s is None
    torch.testing.assert_close(o, o_ref, atol=1e-10, rtol=1e-10)


# ---- stability ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["channel", "scalar"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunk_strong_decay_is_finite_and_exact(gate, dtype):
    # log gates down to -5 per step: over a 64-step chunk the cumulative decay reaches about -160 (exp(+160)
    # overflows float32), so a form that divides decays would produce inf / NaN.
    x = make_inputs(130, gate=gate, init=True, g_min=-5.0, dtype=dtype)
    assert_chunk_matches_under_strong_decay(gla_recurrent, gla_chunk, x, dtype)


# ---- low precision -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["channel", "scalar"])
def test_chunk_bf16_smoke(gate):
    x = make_inputs(65, gate=gate, init=True, dtype=torch.bfloat16)
    o, s, grads = run_with_grads(gla_chunk, x, chunk_size=16)
    assert o.dtype == torch.bfloat16 and s.dtype == torch.float32
    assert torch.isfinite(o).all() and torch.isfinite(s).all()
    assert all(torch.isfinite(t).all() for t in grads.values())
    o_ref, s_ref = gla_recurrent(**detached_copy(x, torch.float64), output_final_state=True)
    assert rel_err(o, o_ref) < 2e-2
    assert rel_err(s, s_ref) < 2e-2


def test_recurrent_state_dtypes():
    x = make_inputs(5, gate="scalar", dtype=torch.float32)
    _, s = gla_recurrent(**x, output_final_state=True)
    assert s.dtype == torch.float32
    x = make_inputs(5, gate="scalar", dtype=torch.float64)
    _, s = gla_recurrent(**x, output_final_state=True)
    assert s.dtype == torch.float64
