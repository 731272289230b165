"""Registry-wide tests: every registered mixer is covered the moment it is registered."""

import sys
from dataclasses import replace

import pytest
import torch

from proxies import registry
from proxies.flops import count_flops
from proxies.mixers.base import MixerConfig
from search_space.names import ALL_MIXERS

MIXERS = sorted(registry.load_all())
# every mixer as its paper has it, each one that takes `short_conv` with its optional convolutions, and mamba2
# and hgrn2 without their output norms (the proxies' defaults)
CASES = [pytest.param(n, {}, id=n) for n in MIXERS] + [
    pytest.param(n, {"short_conv": True}, id=f"{n}-short_conv") for n in MIXERS if registry.get(n).cls.optional_conv
] + [pytest.param("mamba2", {"mamba2_norm": False}, id="mamba2-no-norm"),
     pytest.param("hgrn2", {"hgrn2_norm": False}, id="hgrn2-no-norm"),
     pytest.param("hgrn2", {"hgrn2_norm": False, "short_conv": True}, id="hgrn2-no-norm-short_conv")]


def test_registry_matches_search_space_names():
    assert sorted(registry.load_all()) == sorted(ALL_MIXERS)


def test_every_name_has_exactly_one_module_and_every_spec_a_name():
    from search_space.names import GRID_VARIANTS, LINEAR_MIXERS, MIXER_NAMES

    specs = registry.load_all()
    assert [m.name for m in MIXER_NAMES] == list(ALL_MIXERS)
    for entry in MIXER_NAMES:
        spec = specs[entry.name]
        assert spec.cls.__module__ == entry.module, entry
        assert spec.linear == entry.linear, entry
    for name, spec in specs.items():
        assert name == spec.name and name in ALL_MIXERS
    assert set(GRID_VARIANTS) <= set(LINEAR_MIXERS) and len(GRID_VARIANTS) == 6


def test_registry_refuses_a_spec_without_a_name(monkeypatch):
    monkeypatch.setitem(registry.MIXERS, "nope", registry.MIXERS["attn"])
    with pytest.raises(RuntimeError, match="nope"):
        registry.load_all()


def _pair(name, **kw):
    cfg = MixerConfig(d_model=32, n_heads=2, chunk_size=16, window=5, conv_size=4, impl="chunk", **kw)
    torch.manual_seed(0)
    fast = registry.get(name).cls(cfg).double()
    ref = registry.get(name).cls(replace(cfg, impl="recurrent")).double()
    ref.load_state_dict(fast.state_dict())
    return fast, ref


@pytest.mark.parametrize("name,variant", CASES)
@pytest.mark.parametrize("T", [1, 7, 33])
def test_chunked_matches_recurrent_outputs_and_grads(name, variant, T):
    fast, ref = _pair(name, **variant)
    x = torch.randn(2, T, 32, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y, y_ref = fast(x), ref(x2)
    assert y.shape == x.shape
    torch.testing.assert_close(y, y_ref, rtol=1e-7, atol=1e-9)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-7, atol=1e-9)
    for (n, p), (_, p_ref) in zip(fast.named_parameters(), ref.named_parameters()):
        assert p.grad is not None, f"{name}.{n} got no gradient"
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-6, atol=1e-8, msg=f"{name}.{n}")


@pytest.mark.parametrize("name,variant", CASES)
@pytest.mark.parametrize("T", [16, 40])
def test_fvcore_flops_equal_formula(name, variant, T):
    fast, _ = _pair(name, **variant)
    fast = fast.float()
    counted = count_flops(fast, torch.randn(1, T, 32)) / T
    assert counted == pytest.approx(fast.flops_per_token(T), rel=1e-9)


@pytest.mark.parametrize("name,variant", CASES)
def test_state_bytes_and_params(name, variant):
    m, _ = _pair(name, **variant)
    assert m.num_params() == sum(p.numel() for p in m.parameters()) > 0
    small, large = m.state_bytes(16), m.state_bytes(4096)
    assert 0 < small <= large
    if name == "attn":
        assert large == 256 * small  # the KV cache grows with the context
    elif name == "swa":
        assert m.state_bytes(4096) == m.state_bytes(5)  # a window of 5 keys, however long the context
    else:
        assert small == large  # fixed recurrent state
    assert m.state_bytes(16, dtype_bytes=4) == 2 * small


@pytest.mark.parametrize("name", MIXERS)
def test_spec_is_documented(name):
    spec = registry.get(name)
    assert spec.paper and spec.flops_formula and spec.state_formula
    assert spec.cls.name == name
    assert "arXiv" in (sys.modules[spec.cls.__module__].__doc__ or ""), "the mixer file names its paper"


@pytest.mark.parametrize("name", [n for n in MIXERS if registry.get(n).cls.optional_conv])
def test_short_conv_adds_a_causal_convolution_and_its_costs(name):
    """With short_conv the mixer gains W taps per convolved channel (parameters and FLOPs) and W - 1 inputs per
    channel of decode state; its output changes, yet stays causal (a later input never moves an earlier output)."""
    plain, _ = _pair(name)
    conv, _ = _pair(name, short_conv=True)
    taps = conv.num_params() - plain.num_params()
    assert taps > 0 and taps % 4 == 0  # conv_size 4
    assert conv.flops_per_token(64) - plain.flops_per_token(64) == 2 * taps
    assert conv.state_bytes(64) - plain.state_bytes(64) == 2 * (taps // 4) * 3
    x = torch.randn(1, 12, 32, dtype=torch.float64)
    y = conv(x)
    assert not torch.allclose(y, plain(x))
    x2 = x.clone()
    x2[:, 8:] = torch.randn(1, 4, 32, dtype=torch.float64)
    torch.testing.assert_close(conv(x2)[:, :8], y[:, :8], rtol=0, atol=0)
    assert not registry.get("attn").cls.optional_conv and not registry.get("gdn").cls.optional_conv
