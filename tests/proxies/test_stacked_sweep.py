"""`stack_sweep=true`: an evaluation whose sweeps train as stacked models scores what the one-by-one sweeps score
(every point, the winners, the metrics), keys the cache the same, and refuses what cannot run under vmap."""

import pytest

from nas.driver import proxy_settings
from proxies.budget import BudgetError, get_budget
from proxies.evaluate import evaluate
from storage.keys import proxy_key

SWEEP = {"recall_lrs": "1e-3,3e-3", "recall_shifts": "0,2", "lm_lrs": "1e-3,3e-3", "mqar_steps": 40,
         "lm_steps": 20, "recall_target": 0.3, "recall_check_every": 10, "recall_stop_sweep": "false"}


def _points(metrics):
    return [(p["task"], p["lr"], p["token_shift"], p["status"], p["steps"]) for p in metrics.sweep]


def test_stacked_sweeps_score_what_one_by_one_sweeps_score():
    plain = evaluate("gla,attn", get_budget("smoke", SWEEP), device="cpu")
    stacked = evaluate("gla,attn", get_budget("smoke", {**SWEEP, "stack_sweep": "true"}), device="cpu")
    assert _points(stacked) == _points(plain)
    for a, b in zip(stacked.sweep, plain.sweep):  # rates where float rounding is not amplified (test_stacked.py)
        assert a["score"] == pytest.approx(b["score"], rel=1e-4, abs=1e-4)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert (stacked.recall_lr, stacked.recall_token_shift, stacked.lm_lr) == (plain.recall_lr,
                                                                              plain.recall_token_shift, plain.lm_lr)
    assert stacked.recall == pytest.approx(plain.recall, abs=1e-4)
    assert stacked.perplexity == pytest.approx(plain.perplexity, rel=1e-4)
    assert (stacked.flops, stacked.params, stacked.state_bytes) == (plain.flops, plain.params, plain.state_bytes)


def test_stopping_the_sweep_keeps_the_winner_and_every_point_stops_with_it():
    over = {**SWEEP, "recall_stop_sweep": "true", "recall_target": 0.2}
    plain = evaluate("gdn,attn", get_budget("smoke", over), device="cpu")
    stacked = evaluate("gdn,attn", get_budget("smoke", {**over, "stack_sweep": "true"}), device="cpu")
    assert (stacked.recall_lr, stacked.recall_token_shift) == (plain.recall_lr, plain.recall_token_shift)
    assert stacked.recall == pytest.approx(plain.recall, abs=1e-4)
    recall_steps = {p["steps"] for p in stacked.sweep if p["task"] == "recall"}
    assert len(recall_steps) == 1 and recall_steps.pop() == stacked.recall_steps  # all stopped at one check


def test_the_knob_keys_nothing_and_refuses_what_vmap_cannot_run():
    assert proxy_key(proxy_settings(get_budget("quick", {"stack_sweep": "true"}))) == proxy_key(
        proxy_settings(get_budget("quick")))
    for over, word in (({"impl": "compile"}, "impl=compile"), ({"impl": "triton"}, "impl=triton"),
                       ({"torch_compile": "true"}, "torch_compile")):
        with pytest.raises(BudgetError, match=word):
            get_budget("smoke", {"stack_sweep": "true", **over})
