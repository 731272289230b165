"""Width matching: every mixer sized to attention's per-layer parameters, and the Budget knob that asks for it."""

import pytest
import torch

from proxies import registry
from proxies.budget import Budget, BudgetError, get_budget
from proxies.build import build_model, mixer_config
from proxies.mixers.base import MixerConfig
from proxies.width import match_width, mixer_params
from search_space.errors import LayoutError
from search_space.layout import Layout

MIXERS = sorted(registry.load_all())


@pytest.mark.parametrize("name", MIXERS)
@pytest.mark.parametrize("d, H", [(256, 4), (128, 2), (512, 8)])
def test_matched_params_within_a_few_percent_of_attention(name, d, H):
    cfg = MixerConfig(d_model=d, n_heads=H)
    goal = mixer_params("attn", cfg)
    assert goal == 4 * d * d
    matched = match_width(name, cfg)
    assert mixer_params(name, matched) == pytest.approx(goal, rel=0.03)
    assert matched.d_model == d and matched.n_heads == H


@pytest.mark.parametrize("name", MIXERS)
def test_matched_mixers_run(name):
    cfg = match_width(name, MixerConfig(d_model=64, n_heads=2, impl="chunk"))
    torch.manual_seed(0)
    m = registry.get(name).cls(cfg)
    y = m(torch.randn(1, 5, 64))
    assert y.shape == (1, 5, 64) and torch.isfinite(y).all()
    assert m.num_params() == mixer_params(name, cfg)


def test_knobs_and_targets():
    cfg = MixerConfig(d_model=256, n_heads=4)
    assert match_width("attn", cfg) == cfg  # matching a mixer to itself changes nothing
    assert match_width("retnet", cfg).expand_v == pytest.approx(2 / 3, abs=0.02)  # 8 d^2 -> 4 d^2
    assert match_width("gdn", cfg).expand_v < 1 and match_width("gdn", cfg).expand_k is None
    assert match_width("mamba2", cfg).expand_v < 2
    assert match_width("swa", cfg).head_dim == 64
    to_gdn = match_width("attn", cfg, target="gdn")  # other targets: attention grows its heads
    assert mixer_params("attn", to_gdn) == pytest.approx(mixer_params("gdn", cfg), rel=0.03)
    with pytest.raises(LayoutError, match="valid mixers"):
        match_width("lstm", cfg)


def test_matching_touches_no_random_state():
    state = torch.get_rng_state()
    match_width("gdn", MixerConfig(d_model=96, n_heads=3))
    assert torch.equal(torch.get_rng_state(), state)


def test_budget_knob_builds_matched_models():
    b = get_budget("smoke", {"match_width": "true", "d_model": 128, "n_heads": 2})
    assert b.match_width is True and mixer_config(b).match_width == "attn"
    assert Budget.from_dict(b.to_dict()) == b
    assert mixer_config(get_budget("smoke")).match_width == ""  # off by default
    with pytest.raises(BudgetError, match="match_width"):
        get_budget("smoke", {"match_width": "maybe"})
    model = build_model(Layout.parse("(retnet,mamba2,gdn,attn)"), b, vocab_size=16, seed=0)
    params = [blk.mixer.num_params() for blk in model.blocks]
    assert params == pytest.approx([4 * 128 * 128] * 4, rel=0.03)
    unmatched = build_model(Layout.parse("(retnet,mamba2,gdn,attn)"), get_budget("smoke", {"d_model": 128,
                                                                                            "n_heads": 2}), 16, 0)
    assert unmatched.blocks[0].mixer.num_params() > 1.9 * params[0]  # retnet's paper default: 8 d^2
