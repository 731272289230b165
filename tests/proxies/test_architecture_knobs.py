"""Architecture knobs: `short_conv` (gla, retnet, hgrn2 and hgrn with a short convolution after their
projections), `mamba2_norm` and `hgrn2_norm` (mamba2 and hgrn2 with or without the norm before their output
projection). The budgets' defaults are the measured ones (conv on, both norms off); each reference's own form
is one --set away and keys the cache as the results stored before the knob existed."""

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
    off = build_model(layout, get_budget("smoke", {"short_conv": "false"}), 32, 0)
    on = build_model(layout, get_budget("smoke"), 32, 0)
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


@pytest.mark.parametrize("preset", ["smoke", "quick", "standard"])
def test_every_preset_builds_the_measured_architecture(preset):
    b = get_budget(preset)
    assert (b.short_conv, b.mamba2_norm, b.hgrn2_norm, b.retnet_decays) == (True, False, False, "spread")
    key = proxy_settings(b)["budget"]  # a different model from the one results stored before were trained at
    assert (key["short_conv"], key["mamba2_norm"], key["hgrn2_norm"], key["retnet_decays"]) == (True, False, False,
                                                                                                  "spread")


def test_off_keeps_the_old_cache_key_on_changes_it_and_bad_values_exit_cleanly():
    reference = {"short_conv": "false", "mamba2_norm": "true", "hgrn2_norm": "true", "retnet_decays": "paper"}
    settings = proxy_settings(get_budget("smoke", reference))
    for knob in reference:  # results cached before the knobs existed (the references' forms) still match
        assert knob not in settings["budget"]
    on = proxy_settings(get_budget("smoke", {**reference, "short_conv": "yes"}))
    assert on["budget"]["short_conv"] is True
    assert proxy_key(on) != proxy_key(settings)
    with pytest.raises(BudgetError, match="short_conv"):
        get_budget("smoke", {"short_conv": "maybe"})


@pytest.mark.parametrize("knob, mixer", [("mamba2_norm", "mamba2"), ("hgrn2_norm", "hgrn2")])
def test_an_output_norm_knob_drops_only_its_mixers_norm_and_keys_apart(knob, mixer):
    layout = Layout.parse(f"{mixer},gdn,mamba2,hgrn2")
    other = {"mamba2_norm": "true", "hgrn2_norm": "true"}  # both norms on, then this knob's off
    on = build_model(layout, get_budget("smoke", other), 32, 0)
    off = build_model(layout, get_budget("smoke", {**other, knob: "false"}), 32, 0)
    assert on.blocks[0].mixer.norm is not None and off.blocks[0].mixer.norm is None
    assert off.blocks[1].mixer.norm is not None  # gdn keeps its own
    other_mixer = 3 if mixer == "mamba2" else 2  # the other knob's mixer keeps its norm
    assert off.blocks[other_mixer].mixer.norm is not None
    assert on.num_params() - off.num_params() == 2 * on.blocks[0].mixer.dv
    assert on.flops_per_token(64) == off.flops_per_token(64)  # norms are not counted
    x = torch.randint(0, 32, (2, 9))
    assert torch.isfinite(off(x)).all()
    assert proxy_key(proxy_settings(get_budget("smoke", other))) != proxy_key(proxy_settings(get_budget("smoke")))
    with pytest.raises(BudgetError, match=knob):
        get_budget("smoke", {knob: "2"})


def test_retnet_decays_spread_the_eight_head_span_over_any_head_count():
    from proxies.mixers.retnet import retention_decays

    paper8 = retention_decays(8)
    assert paper8[0] == 1 - 2**-5 and paper8[-1] == 1 - 2**-12
    torch.testing.assert_close(retention_decays(8, "spread"), paper8, rtol=0, atol=1e-15)  # 8 heads: the same
    assert retention_decays(2).tolist() == [1 - 2**-5, 1 - 2**-6]
    assert retention_decays(2, "spread").tolist() == [1 - 2**-5, 1 - 2**-12]
    spread4 = retention_decays(4, "spread")
    assert spread4[0] == 1 - 2**-5 and spread4[-1] == 1 - 2**-12 and (spread4.diff() > 0).all()
    with pytest.raises(ValueError, match="decays"):
        retention_decays(2, "wide")


def test_the_retnet_decays_knob_sets_only_retnet_decays_and_keys_apart():
    layout = Layout.parse("retnet,gla")
    built = {form: build_model(layout, get_budget("smoke", {"retnet_decays": form}), 32, 0)
             for form in ("paper", "spread")}
    H = get_budget("smoke").n_heads
    for form, model in built.items():
        from proxies.mixers.retnet import retention_decays

        torch.testing.assert_close(model.blocks[0].mixer.log_decay, retention_decays(H, form).log().float())
    x = torch.randint(0, 32, (2, 33))
    assert not torch.allclose(built["paper"](x), built["spread"](x))  # the decays reach the output
    assert built["paper"].num_params() == built["spread"].num_params()
    assert built["paper"].flops_per_token(64) == built["spread"].flops_per_token(64)
    keys = {form: proxy_key(proxy_settings(get_budget("smoke", {"retnet_decays": form}))) for form in built}
    assert keys["paper"] != keys["spread"]
    with pytest.raises(BudgetError, match="retnet_decays"):
        get_budget("smoke", {"retnet_decays": "wide"})
