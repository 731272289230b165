"""Architecture knobs: `short_conv` (gla, retnet, hgrn2 and hgrn with a short convolution after their
projections) and `mamba2_norm` (mamba2 with or without its output norm)."""

import pytest
import torch

from nas.driver import proxy_settings
from proxies.budget import BudgetError, get_budget
from proxies.build import build_model
from proxies.flops import flops_per_token
from proxies.mixers.common import ShortConv
from search_space.layout import Layout
from storage.keys import proxy_key


def _convs(model):
    return [(i, name) for i, b in enumerate(model.blocks) for name, m in b.mixer.named_children()
            if isinstance(m, ShortConv)]


def test_the_knob_reaches_only_the_mixers_that_take_it():
    layout = Layout.parse("gla,attn,retnet,hgrn2,hgrn,gdn")
    off = build_model(layout, get_budget("smoke"), 32, 0)
    on = build_model(layout, get_budget("smoke", {"short_conv": "true"}), 32, 0)
    gdn_convs = [(5, "conv_q"), (5, "conv_k"), (5, "conv_v")]  # GatedDeltaNet has its convolutions either way
    assert _convs(off) == gdn_convs
    assert _convs(on) == [(0, "conv_q"), (0, "conv_k"), (0, "conv_v"), (2, "conv_q"), (2, "conv_k"), (2, "conv_v"),
                          (3, "conv_q"), (3, "conv_f"), (3, "conv_i"), (4, "conv_i"), (4, "conv_f")] + gdn_convs
    x = torch.randint(0, 32, (2, 9))
    assert on(x).shape == off(x).shape == (2, 9, 32)


def test_fvcore_counts_the_convolutions_like_the_formulas():
    model = build_model(Layout.parse("gla,retnet,hgrn2,hgrn"), get_budget("smoke", {"short_conv": "true"}), 32, 0)
    assert flops_per_token(model, 40) == pytest.approx(model.flops_per_token(40), rel=1e-9)


def test_a_conv_size_of_one_leaves_the_mixer_as_its_paper_has_it():
    from proxies.mixers.base import MixerConfig
    from proxies.mixers.gla import GLA

    m = GLA(MixerConfig(d_model=32, n_heads=2, conv_size=1, short_conv=True))
    assert m.conv_q is None and m.conv_k is None and m.conv_v is None


def test_off_keeps_the_cache_key_on_changes_it_and_bad_values_exit_cleanly():
    smoke = get_budget("smoke")
    assert smoke.short_conv is False
    settings = proxy_settings(smoke)
    assert "short_conv" not in settings["budget"]  # results cached before the knob existed still match
    on = proxy_settings(get_budget("smoke", {"short_conv": "yes"}))
    assert on["budget"]["short_conv"] is True
    assert proxy_key(on) != proxy_key(settings)
    with pytest.raises(BudgetError, match="short_conv"):
        get_budget("smoke", {"short_conv": "maybe"})


def test_mamba2_norm_off_drops_only_mamba2s_output_norm_and_keys_apart():
    layout = Layout.parse("mamba2,gdn")
    on = build_model(layout, get_budget("smoke"), 32, 0)
    off = build_model(layout, get_budget("smoke", {"mamba2_norm": "false"}), 32, 0)
    assert on.blocks[0].mixer.norm is not None and off.blocks[0].mixer.norm is None
    assert off.blocks[1].mixer.norm is not None  # gdn keeps its own
    assert on.num_params() - off.num_params() == on.blocks[0].mixer.dv
    assert on.flops_per_token(64) == off.flops_per_token(64)  # norms are not counted
    smoke = proxy_settings(get_budget("smoke"))
    assert "mamba2_norm" not in smoke["budget"]
    assert proxy_key(proxy_settings(get_budget("smoke", {"mamba2_norm": "false"}))) != proxy_key(smoke)
    with pytest.raises(BudgetError, match="mamba2_norm"):
        get_budget("smoke", {"mamba2_norm": "2"})
