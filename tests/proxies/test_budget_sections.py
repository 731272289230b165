"""`Budget` in typed sections for readers (proxies.budget.SECTIONS): every field in exactly one section, and the
grouping a view only: the flat serialised form and the cache key do not change."""

import json
from dataclasses import fields

import pytest

from proxies.budget import PRESETS, SECTIONS, Budget, BudgetError, Section, describe_budget, get_budget


def test_every_field_is_in_exactly_one_section():
    names = [f.name for f in fields(Budget)]
    listed = [n for sec in SECTIONS.values() for n in sec.fields]
    assert sorted(listed) == sorted(names), (set(names) ^ set(listed), [n for n in listed if listed.count(n) > 1])
    assert len(listed) == len(set(listed))
    assert all(isinstance(sec, Section) and sec.title and sec.fields for sec in SECTIONS.values())
    assert list(SECTIONS) == ["model", "recall", "sweep", "lm", "training", "engine", "distill"]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_sections_are_a_view_of_the_flat_form(preset):
    b = get_budget(preset)
    flat = b.to_dict()
    assert list(flat) == [f.name for f in fields(Budget)]  # still flat, in declaration order
    grouped = {k: v for name in SECTIONS for k, v in b.section(name).items()}
    assert grouped == flat
    assert Budget.from_dict(json.loads(json.dumps(flat))) == b
    with pytest.raises(BudgetError, match="unknown budget section"):
        b.section("optimizer")


def test_describe_budget_lists_every_field_with_its_value_and_domain():
    b = get_budget("smoke", {"d_model": "64"})
    out = describe_budget(b)
    assert [s["section"] for s in out] == list(SECTIONS)
    rows = {f["field"]: f for s in out for f in s["fields"]}
    assert set(rows) == {f.name for f in fields(Budget)}
    assert rows["d_model"]["value"] == 64 and "positive integer" in rows["d_model"]["valid"]
