"""The `torch_compile` budget knob: the compiled model trains like the plain one and shares its parameters."""

import pytest
import torch

from nas.driver import proxy_settings
from proxies.budget import get_budget
from proxies.build import build_model, runnable
from proxies.feeds import TableFeed
from proxies.train import TrainConfig, train
from search_space.layout import Layout


def _feed(seed: int) -> TableFeed:
    x = torch.randint(0, 32, (24, 25), generator=torch.Generator().manual_seed(seed))
    return TableFeed.shuffled(x[:, :-1], x[:, 1:], 4, 6, seed, torch.device("cpu"))


def test_compiled_training_matches_eager():
    budget = get_budget("smoke", {"d_model": 16, "n_heads": 2, "chunk_size": 8})
    cfg = TrainConfig(steps=6, lr=1e-2, precision="fp32")
    losses = {}
    for flag in (False, True):
        b = get_budget("smoke", {"d_model": 16, "n_heads": 2, "chunk_size": 8, "torch_compile": flag})
        model = build_model(Layout.parse("gla,attn"), b, 32, seed=0)
        run = runnable(model, b)
        assert (run is model) != flag
        losses[flag] = train(run, _feed(0), cfg, torch.device("cpu")).losses
        if flag:  # the compiled module trained the plain model's own parameters
            assert {id(p) for p in run.parameters()} == {id(p) for p in model.parameters()}
    assert budget.torch_compile is False
    assert losses[True] == pytest.approx(losses[False], rel=1e-4, abs=1e-5)


def test_knob_parses_and_keeps_the_key_when_off():
    assert get_budget("quick", {"torch_compile": "true"}).torch_compile is True
    assert "torch_compile" not in proxy_settings(get_budget("smoke"))["budget"]
    assert proxy_settings(get_budget("smoke", {"torch_compile": "yes"}))["budget"]["torch_compile"] is True
