"""The `token_shift` budget knob: a residual depthwise causal conv on every block's mixer input."""

import pytest
import torch

from nas.driver import proxy_settings
from proxies.budget import BudgetError, get_budget
from proxies.flops import flops_per_token
from proxies.mixers.base import MixerConfig
from proxies.model import HybridLM, TokenShift
from search_space.layout import Layout
from storage.keys import proxy_key


def _model(layout: str, shift: int) -> HybridLM:
    torch.manual_seed(0)
    return HybridLM(Layout.parse(layout), 16, MixerConfig(d_model=32, n_heads=2, chunk_size=16), token_shift=shift)


def test_is_the_identity_at_init_and_causal_once_trained():
    shift = TokenShift(8, 3)
    h = torch.randn(2, 11, 8)
    assert torch.equal(shift(h), h)  # zero init: a model with the knob on starts where one without starts
    with torch.no_grad():
        shift.weight.normal_()
    h2 = h.clone()
    h2[:, 6:] = torch.randn(2, 5, 8)  # change the future only
    torch.testing.assert_close(shift(h2)[:, :6], shift(h)[:, :6])
    # each output is its input plus a weighted sum over the last 3 tokens, channel by channel
    w = shift.weight  # (d, width): the last column weighs the current token
    t = 5
    expect = h[:, t] + sum(w[:, -1 - j] * h[:, t - j] for j in range(3))
    torch.testing.assert_close(shift(h)[:, t], expect)


@pytest.mark.parametrize("layout", ["gla,attn", "(gdn*2,swa)", "mamba2,hgrn"])
def test_fvcore_counts_the_shift_like_the_formula(layout):
    with_shift, without = _model(layout, 4), _model(layout, 0)
    for m in (with_shift, without):
        assert flops_per_token(m, 40) == pytest.approx(m.flops_per_token(40), rel=1e-9)
    per_block = 2 * 32 * 4  # one multiply-add per channel and tap
    n = with_shift.layout.n_layers
    assert with_shift.flops_per_token(40) - without.flops_per_token(40) == pytest.approx(n * per_block, rel=1e-9)
    assert with_shift.num_params() - without.num_params() == n * 32 * 4
    # decode state: the last 3 inputs of every channel, per block
    assert with_shift.state_bytes(40) - without.state_bytes(40) == n * 3 * 32 * 2


def test_model_with_shift_trains():
    model = _model("gla,attn", 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, 16, (4, 24))
    losses = []
    for _ in range(30):
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 16), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(b.shift.weight.abs().sum() > 0 for b in model.blocks)  # the shift itself learned


def test_budget_rejects_a_width_of_one_and_negative():
    with pytest.raises(BudgetError, match="token_shift"):
        get_budget("smoke", {"token_shift": "1"})
    with pytest.raises(BudgetError):
        get_budget("smoke", {"token_shift": "-2"})
    assert get_budget("smoke", {"token_shift": "3"}).token_shift == 3


def test_off_keeps_the_cache_key_on_changes_it():
    smoke = get_budget("smoke")
    assert smoke.token_shift == 0
    settings = proxy_settings(smoke)
    assert "token_shift" not in settings["budget"]  # results cached before the knob existed still match
    on = proxy_settings(get_budget("smoke", {"token_shift": 2}))
    assert on["budget"]["token_shift"] == 2
    assert proxy_key(on) != proxy_key(settings)
