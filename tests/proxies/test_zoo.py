"""Mixer-specific facts of the zoo (the registry-wide contract is in test_registry.py)."""

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from proxies import ops, registry
from proxies.mixers.attn import Attention
from proxies.mixers.base import MixerConfig, causal_keys
from proxies.mixers.deltanet import DeltaNet
from proxies.mixers.gdn import GatedDeltaNet
from proxies.mixers.hgrn import HGRN, lower_bound
from proxies.mixers.hgrn2 import HGRN2
from proxies.mixers.mamba2 import Mamba2
from proxies.mixers.retnet import RetNet
from proxies.mixers.swa import SlidingWindowAttention
from proxies.model import HybridLM
from search_space.layout import Layout

CFG = MixerConfig(d_model=32, n_heads=2, chunk_size=16, window=5, conv_size=4, impl="chunk")


def _build(cls, cfg=CFG, seed=0):
    torch.manual_seed(seed)
    return cls(cfg).double()


def _x(T=9, d=32, seed=1):
    return torch.randn(2, T, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _capture(monkeypatch, name):
    """Record the arguments of every `ops.<name>` call while still running it."""
    calls = []
    real = getattr(ops, name)

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(ops, name, spy)
    return calls


# -- swa ------------------------------------------------------------------------------------------
def test_swa_equals_attn_when_the_window_covers_the_sequence():
    attn, swa = _build(Attention, replace(CFG, window=16)), _build(SlidingWindowAttention, replace(CFG, window=16))
    swa.load_state_dict(attn.state_dict())
    x = _x(T=16)
    torch.testing.assert_close(swa(x), attn(x), rtol=1e-12, atol=1e-12)
    short = _build(SlidingWindowAttention, replace(CFG, window=4))
    short.load_state_dict(attn.state_dict())
    assert not torch.allclose(short(x), attn(x))  # a window shorter than the sequence does cut


def test_swa_costs_follow_the_window():
    m = SlidingWindowAttention(replace(CFG, window=5))
    d = CFG.d_model
    assert m.flops_per_token(40) == 8 * d * d + 4 * d * (5 * 6 / 2 + 35 * 5) / 40
    assert m.flops_per_token(3) == Attention(CFG).flops_per_token(3)  # L <= W: plain causal attention
    assert m.state_bytes(3) == 2 * 3 * d * 2 and m.state_bytes(10**6) == 2 * 5 * d * 2


# -- deltanet -------------------------------------------------------------------------------------
class _GatedOutputDeltaNet(DeltaNet):
    use_gate = True


def test_deltanet_is_gdn_without_decay():
    gdn = _build(GatedDeltaNet)
    with torch.no_grad():
        gdn.A_log.fill_(-math.inf)  # alpha = exp(-exp(A_log) softplus(.)) = 1: no decay
    net = _build(_GatedOutputDeltaNet, seed=1)
    shared = {k: v for k, v in gdn.state_dict().items() if k not in ("a.weight", "A_log", "dt_bias")}
    assert set(shared) == set(net.state_dict())
    net.load_state_dict(shared)
    x = _x()
    torch.testing.assert_close(net(x), gdn(x), rtol=1e-10, atol=1e-12)


def test_deltanet_defaults_follow_the_release(monkeypatch):
    m = DeltaNet(CFG)
    assert not hasattr(m, "g")  # no output gate by default (use_gate=False)
    assert m.num_params() < GatedDeltaNet(CFG).num_params()
    calls = _capture(monkeypatch, "delta_rule")
    m.double()(_x())
    (q, k, v, beta, g), _ = calls[0]
    assert g is None
    torch.testing.assert_close(q.norm(dim=-1), torch.ones_like(q[..., 0]))  # L2-normalised q and k
    assert ((beta > 0) & (beta < 1)).all()


# -- hgrn / hgrn2 ---------------------------------------------------------------------------------
def test_lower_bound_grows_with_depth():
    L = 6
    bounds = [lower_bound(i, L) for i in range(L)]
    assert bounds[0] == 0.0 and bounds == sorted(bounds) and len(set(bounds)) == L and bounds[-1] < 1
    model = HybridLM(Layout.parse("(hgrn,hgrn2,attn)*2"), 16, MixerConfig(d_model=32, n_heads=2))
    got = [(b.mixer.name, b.mixer.gamma) for b in model.blocks if b.mixer.name != "attn"]
    assert got == [("hgrn", 0.0), ("hgrn2", 1 / 6), ("hgrn", 3 / 6), ("hgrn2", 4 / 6)]


@pytest.mark.parametrize("cls", [HGRN, HGRN2])
def test_forget_gates_respect_the_lower_bound(cls, monkeypatch):
    m = _build(cls, replace(CFG, layer_idx=3, n_layers=4))
    calls = _capture(monkeypatch, "gla")
    m(_x() * 10)  # large inputs push sigmoid(f) to 0 somewhere
    (q, k, v, g), kw = calls[0]
    lam = g.exp()
    assert lam.min() >= 0.75 - 1e-12 and lam.max() <= 1
    torch.testing.assert_close(k, (1 - lam).reshape(k.shape))  # the input gate is tied: k = 1 - lambda


@pytest.mark.parametrize("name", ["hgrn", "hgrn2"])
@pytest.mark.parametrize("impl", ["chunk", "auto"])
def test_bounded_layers_chunked_match_recurrent(name, impl):
    cfg = replace(CFG, layer_idx=2, n_layers=3, impl=impl)
    fast = _build(registry.get(name).cls, cfg)
    ref = _build(registry.get(name).cls, replace(cfg, impl="recurrent"))
    ref.load_state_dict(fast.state_dict())
    x = _x(T=21)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-8, atol=1e-10)


def test_hgrn_is_the_paper_recurrence():
    cfg = replace(CFG, layer_idx=1, n_layers=2)
    m = _build(HGRN, cfg)
    x = _x(T=6)
    gamma = 0.5
    lam = gamma + (1 - gamma) * torch.sigmoid(m.f(x))  # (B, T, d)
    c = F.silu(m.i(x))
    h, hs = torch.zeros_like(c[:, 0]), []
    for t in range(x.shape[1]):
        h = lam[:, t] * h + (1 - lam[:, t]) * c[:, t]
        hs.append(h)
    h = torch.stack(hs, 1)
    g = m.g(x)
    want = m.o(h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * m.norm.weight * F.silu(g))
    torch.testing.assert_close(m(x), want, rtol=1e-10, atol=1e-12)
    assert m.state_bytes(10**6, dtype_bytes=2) == 2 * 32


def test_hgrn2_is_the_paper_recurrence():
    m = _build(HGRN2)
    H, dk, dv = m.H, m.dk // m.H, m.dv // m.H
    x = _x(T=5)
    B, T, _ = x.shape
    q = F.silu(m.q(x)).view(B, T, H, dk)
    lam = torch.sigmoid(m.f(x)).view(B, T, H, dk)  # layer 0: lower bound 0
    i = m.i(x).view(B, T, H, dv)
    S, outs = torch.zeros(B, H, dk, dv, dtype=x.dtype), []
    for t in range(T):
        S = lam[:, t, :, :, None] * S + (1 - lam[:, t, :, :, None]) * i[:, t, :, None, :]
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * dk**-0.5, S))
    o = torch.stack(outs, 1).reshape(B, T, H * dv)
    want = m.o(o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6) * m.norm.weight)
    torch.testing.assert_close(m(x), want, rtol=1e-10, atol=1e-12)


# -- retnet ---------------------------------------------------------------------------------------
def test_retnet_decays_are_the_papers(monkeypatch):
    m = _build(RetNet, replace(CFG, n_heads=4))
    want = torch.tensor([1 - 2**-5, 1 - 2**-6, 1 - 2**-7, 1 - 2**-8], dtype=torch.float64)
    torch.testing.assert_close(m.log_decay.exp(), want, rtol=1e-7, atol=0)
    calls = _capture(monkeypatch, "gla")
    m(_x(T=7))
    (q, k, v, g), _ = calls[0]
    assert g.shape == (2, 7, 4)
    assert (g == g[:, :1]).all() and (g == g[:1]).all()  # the same decay at every step, for every sequence
    assert v.shape[-1] == 2 * q.shape[-1]  # value heads twice the key heads (expand_v = 2)
    assert m.num_params() == 8 * 32 * 32 + 2 * 32 // 4  # 8 d^2 + the per-head norm


# -- mamba2 ---------------------------------------------------------------------------------------
def _ssd_reference(m: Mamba2, x: torch.Tensor) -> torch.Tensor:
    """Mamba-2 written out step by step, independently of ops.gla."""
    B, T, _ = x.shape
    H, P, N, dv = m.H, m.P, m.N, m.dv
    z, xBC, dt = m.in_proj(x).split([dv, dv + 2 * N, H], dim=-1)
    W = m.conv.weight.shape[1]
    pad = F.pad(xBC, (0, 0, W - 1, 0))  # (B, T + W - 1, C)
    xBC = F.silu(sum(pad[:, j : j + T] * m.conv.weight[:, j] for j in range(W)) + m.conv_bias)
    xs, Bm, Cm = xBC.split([dv, N, N], dim=-1)
    xs = xs.view(B, T, H, P)
    dt = F.softplus(dt + m.dt_bias)  # (B, T, H)
    A = -m.A_log.exp()
    h, ys = torch.zeros(B, H, N, P, dtype=x.dtype), []
    for t in range(T):
        write = dt[:, t, :, None, None] * Bm[:, t, None, :, None] * xs[:, t, :, None, :]  # dt B^T x: (B, H, N, P)
        h = torch.exp(dt[:, t] * A)[:, :, None, None] * h + write
        ys.append(torch.einsum("bn,bhnp->bhp", Cm[:, t], h) + m.D[:, None] * xs[:, t])
    y = torch.stack(ys, 1).reshape(B, T, dv) * F.silu(z)
    if m.norm is None:  # mamba2_norm off: the gated output straight into the projection
        return m.out_proj(y)
    return m.out_proj(y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-6) * m.norm.weight)


@pytest.mark.parametrize("impl,norm", [("chunk", True), ("recurrent", True), ("chunk", False)])
def test_mamba2_is_the_ssd_recurrence_with_d_skip(impl, norm):
    m = _build(Mamba2, replace(CFG, impl=impl, mamba2_norm=norm))
    assert (m.norm is None) == (not norm)
    with torch.no_grad():
        m.D.copy_(torch.linspace(0.5, 2.0, m.H))
        m.conv_bias.normal_()
    x = _x(T=11)
    torch.testing.assert_close(m(x), _ssd_reference(m, x), rtol=1e-9, atol=1e-11)


def test_mamba2_skip_alone_when_c_is_zero():
    m = _build(Mamba2)
    dv, N = m.dv, m.N
    with torch.no_grad():
        m.in_proj.weight[2 * dv + N : 2 * dv + 2 * N].zero_()  # C = silu(conv(0) + 0) = 0: the scan reads nothing
        m.D.fill_(3.0)
    x = _x()
    z, xBC, _ = m.in_proj(x).split([dv, dv + 2 * N, m.H], dim=-1)
    xs = F.silu(F.pad(xBC, (0, 0, 3, 0)).unfold(1, 4, 1).mul(m.conv.weight).sum(-1))[..., :dv]  # conv, no bias
    y = 3.0 * xs * F.silu(z)
    want = m.out_proj(y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-6) * m.norm.weight)
    torch.testing.assert_close(m(x), want, rtol=1e-10, atol=1e-12)


def test_mamba2_defaults():
    m = Mamba2(MixerConfig(d_model=256, n_heads=4))
    assert (m.dv, m.P, m.H, m.N) == (512, 64, 8, 16)  # expand 2, head size d / n_heads, d_state 16
    A = -m.A_log.exp()
    assert ((A <= -1) & (A >= -16)).all()
    dt = F.softplus(m.dt_bias)
    assert ((dt >= 1e-4) & (dt <= 0.1 + 1e-6)).all()
    assert (m.D == 1).all()
    model = HybridLM(Layout.parse("mamba2"), 16, MixerConfig(d_model=32, n_heads=2))  # survives the generic init
    assert (model.blocks[0].mixer.D == 1).all() and (model.blocks[0].mixer.A_log.exp() >= 1).all()


# -- the registered formulas, written out -------------------------------------------------------
def _formulas(d, H, L, W, N, window):
    return {  # name -> (flops per token, state elements) from the registered strings
        "swa": lambda dk, dv: (8 * d * d + 4 * d * causal_keys(L, window) / L, 2 * min(L, window) * d),
        "deltanet": lambda dk, dv: (4 * d * dk + 4 * d * dv + 2 * d * H + 2 * W * (2 * dk + dv) + 6 * dk * dv / H,
                                    dk * dv / H + (W - 1) * (2 * dk + dv)),
        "hgrn": lambda dk, dv: (8 * d * dv + 4 * dv, dv),
        "hgrn2": lambda dk, dv: (4 * d * dk + 4 * d * dv + 4 * dk * dv / H, dk * dv / H),
        "retnet": lambda dk, dv: (4 * d * dk + 6 * d * dv + 4 * dk * dv / H, dk * dv / H),
        "mamba2": lambda dk, dv: (2 * d * (3 * dv + 2 * N + dv // (d // H)) + 2 * W * (dv + 2 * N) + 4 * N * dv,
                                  N * dv + (W - 1) * (dv + 2 * N)),
    }


@pytest.mark.parametrize("name", ["swa", "deltanet", "hgrn", "hgrn2", "retnet", "mamba2"])
def test_registered_formulas_match_the_code(name):
    d, H, L, W, N, window = 256, 4, 4096, 4, 16, 128
    with torch.device("meta"):
        m = registry.get(name).cls(MixerConfig(d_model=d, n_heads=H, window=window, conv_size=W, state_size=N))
    dk, dv = getattr(m, "dk", None), getattr(m, "dv", None)
    flops, state = _formulas(d, H, L, W, N, window)[name](dk, dv)
    assert m.flops_per_token(L) == pytest.approx(flops, rel=1e-12)
    assert m.state_bytes(L, dtype_bytes=2) == 2 * state


# -- ops: where "auto" keeps off the Triton kernels ---------------------------------------------
def test_auto_takes_the_chunked_form_where_triton_cannot():
    from types import SimpleNamespace

    def t(*shape, cuda=True):
        return SimpleNamespace(is_cuda=cuda, shape=shape)

    assert ops._auto("auto", t(1, 8, 4, 64), t(1, 8, 4, 64)) == "auto"
    assert ops._auto("auto", t(1, 8, 4, 64), t(1, 8, 4, 41)) == "chunk"  # matched widths: odd head sizes
    assert ops._auto("auto", t(1, 8, 4, 16), t(1, 8, 4, 64), scalar_gate=True) == "chunk"  # mamba2's K = N = 16
    assert ops._auto("auto", t(1, 8, 4, 16), t(1, 8, 4, 64)) == "auto"
    assert ops._auto("auto", t(1, 8, 4, 41, cuda=False), t(1, 8, 4, 41, cuda=False)) == "auto"  # CPU: chunk anyway
    assert ops._auto("triton", t(1, 8, 4, 41), t(1, 8, 4, 41)) == "triton"  # an explicit choice is kept
