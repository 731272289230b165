"""Every budget knob declares its domain and is checked when a budget is built, whichever way it arrives."""

from dataclasses import fields, replace

import pytest

from nas.fidelity import resolve_levels
from proxies import budget_rules
from proxies.budget import PRESETS, Budget, BudgetError, get_budget
from proxies.budget_rules import (DOMAINS, Choice, FloatList, LearningRate, PositiveInt, PowerOfTwo, Probability,
                                  check_budget)


def test_every_budget_field_declares_its_domain():
    names = {f.name for f in fields(Budget)}
    missing = sorted(names - set(DOMAINS))
    assert not missing, f"declare these Budget fields in proxies/budget_rules.py DOMAINS: {missing}"
    assert not sorted(set(DOMAINS) - names), "DOMAINS names fields that Budget does not have"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid(name):
    check_budget(PRESETS[name])
    assert Budget.from_dict(PRESETS[name].to_dict()) == PRESETS[name]


# The issue's cases (2026-12-01): each reached the training loop, a traceback, or a stored nonsense result.
WHY = [
    ("lm_batch", "0"), ("mqar_batch", "0"), ("mqar_test_examples", "0"), ("mqar_kv_pairs", "0"),
    ("mqar_vocab", "0"), ("lm_seq_len", "0"), ("mqar_lr", "1e9"), ("chunk_size", "0"), ("window", "0"),
    ("n_layers", "0"), ("lm_eval_tokens", "0"), ("lm_steps", "0"), ("mqar_steps", "0"), ("d_model", "0"),
    ("n_heads", "0"),
]


@pytest.mark.parametrize("key,value", WHY)
def test_issue_cases_are_refused_with_field_value_and_range(key, value):
    with pytest.raises(BudgetError) as info:
        get_budget("smoke", {key: value})
    msg = str(info.value)
    shown = repr(type(getattr(PRESETS["smoke"], key))(float(value)))  # the bad value as the budget holds it
    assert "\n" not in msg and f"budget field {key} = {shown}: must be" in msg, msg
    assert " to " in msg or "in [" in msg, msg  # the valid range


@pytest.mark.parametrize("overrides,needle", [
    ({"d_model": "30", "n_heads": "4"}, "not divisible by n_heads"),
    ({"d_model": "34", "n_heads": "2"}, "must be even"),
    ({"mqar_kv_pairs": "8", "mqar_seq_len": "24"}, "do not fit mqar_seq_len"),
    ({"mqar_kv_pairs": "6", "mqar_vocab": "12"}, "too small for mqar_kv_pairs"),
    ({"chunk_size": "128"}, "longer than every training sequence"),
    ({"mqar_train_examples": "16"}, "fewer than one batch"),
    ({"lm_eval_tokens": "32"}, "less than one validation window"),
    ({"recall_suite": "ladder", "recall_ladder": "24x40"}, "recall suite"),
])
def test_cross_field_rules(overrides, needle):
    with pytest.raises(BudgetError, match=needle):
        get_budget("smoke", overrides)


@pytest.mark.parametrize("key,value,needle", [
    ("chunk_size", "24", "power of two"), ("recall_noise", "1", "probability"), ("warmup_frac", "1.5", "fraction"),
    ("mqar_lr", "nan", "learning rate"), ("lm_lr", "-1e-3", "learning rate"), ("lm_lr", "inf", "learning rate"),
    ("precision", "fp8", "one of bf16, fp32"), ("impl", "cuda", "one of auto"), ("recall_suite", "x", "mqar, ladder"),
    ("recall_tasks", "noisy,noisy", "each once"), ("recall_ladder", "64", "SEQxPAIRS"), ("corpus", "", "non-empty"),
    ("token_shift", "1", "token_shift"), ("d_model", "1e400", "needs an integer"), ("mqar_steps", "2.5", "integer"),
    ("match_width", "maybe", "true or false"), ("n_layers", "5000", "1 to 4096"), ("weight_decay", "-0.1", "decay"),
])
def test_field_domains(key, value, needle):
    with pytest.raises(BudgetError, match=needle) as info:
        get_budget("smoke", {key: value})
    assert key in str(info.value)


def test_every_way_a_budget_arrives_is_checked():
    bad = {**PRESETS["smoke"].to_dict(), "lm_batch": 0}
    with pytest.raises(BudgetError, match="lm_batch"):  # a stored study's or a Ray worker's dict
        Budget.from_dict(bad)
    with pytest.raises(BudgetError, match="unknown budget fields"):
        Budget.from_dict({**PRESETS["smoke"].to_dict(), "depth": 3})
    with pytest.raises(BudgetError, match="lm_batch"):  # code
        replace(PRESETS["smoke"], lm_batch=0)
    with pytest.raises(BudgetError, match="mqar_steps"):  # --level
        resolve_levels(["lo"], ["lo=smoke:mqar_steps=0"], "smoke")
    with pytest.raises(BudgetError, match="d_model"):  # --set applied to every level
        resolve_levels(["smoke"], None, "smoke", {"d_model": "0"})


def test_domain_vocabulary():
    assert PositiveInt(max=8).check(8) is None and PositiveInt(max=8).check(9) and PositiveInt().check(True)
    assert PowerOfTwo().check(64) is None and PowerOfTwo().check(48)
    assert Probability().check(1.0) is None and Probability(open_hi=True).check(1.0)
    assert LearningRate().check(3e-3) is None and LearningRate().check(float("nan"))
    assert Choice(("a", "b")).check("a") is None and "one of a, b" in Choice(("a", "b")).check("c")
    lrs = FloatList(LearningRate(), min_len=1)
    assert lrs.check((1e-3, 3e-3)) is None and lrs.check([1e-3]) is None  # a JSON round trip gives a list
    assert lrs.check(()) and lrs.check((1e-3, 5.0)) and lrs.check("1e-3")
    assert set(budget_rules.describe()) == set(DOMAINS)
