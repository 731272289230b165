"""Property-based tests (issue 16): the layout notation, the budget overrides and the CLI's arguments.

Any input either works or ends with exit code 2 and one `error:` line; never a traceback; a refused command
leaves the database as it was (rows of every table counted before and after). Training is replaced by a fast
stand-in (tests/nas/test_door.py), so "works" costs milliseconds; the examples are few enough to keep the
whole file to tens of seconds on a shared 2-core machine.
"""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import proxies.evaluate
from nas.cli import app
from proxies.budget import PRESETS, Budget, BudgetError, get_budget
from proxies.budget_rules import check_budget
from search_space.errors import LayoutError
from search_space.layout import MAX_LAYERS, Layout
from search_space.names import ALL_MIXERS
from tests.nas.test_door import fake_metrics, rows

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
CLI = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])

# -- the layout notation -------------------------------------------------------------------------------------
TOKENS = st.one_of(
    st.sampled_from(list(ALL_MIXERS) + ["GDN", "Attn", "foo", "mamba3", "_", "x1"]),
    st.sampled_from(["(", ")", "*", ",", " ", "\t", "\n", "()", "*0", "*-1", "-", "é", ";", ":", "**", "\x00"]),
    st.integers(0, 10**12).map(str),
)
NOTATION = st.one_of(st.lists(TOKENS, max_size=24).map("".join), st.text(max_size=40))


@FAST
@given(text=NOTATION)
def test_layout_notation_parses_or_says_why(text):
    try:
        layout = Layout.parse(text)
    except LayoutError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert 1 <= layout.n_layers <= MAX_LAYERS
    assert Layout.parse(layout.canonical()) == layout  # one canonical form, which parses back
    assert Layout.parse(layout.canonical()).canonical() == layout.canonical()


@FAST
@given(layers=st.lists(st.sampled_from(ALL_MIXERS), min_size=1, max_size=40))
def test_every_layer_list_round_trips(layers):
    layout = Layout(tuple(layers))
    assert Layout.parse(layout.canonical()) == layout


# -- the budget overrides ------------------------------------------------------------------------------------
FIELDS = [f for f in Budget.__dataclass_fields__]
VALUES = st.one_of(
    st.integers(-10, 10**9).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "0", "1", "2", "-0", "nan", "inf", "-inf", "1e400", "1e-400", "1e3", "2.5", "true",
                     "maybe", "bf16", "fp8", "ladder", "mqar", "64x4", "24x4,48x8", "noisy", "selcopy,noisy",
                     "triton", "x" * 5000, "9" * 5000, "\x00", "shakespeare"]),
    st.text(max_size=12),
)
OVERRIDES = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.sampled_from(["depth", "", "D_MODEL"])), VALUES,
                            max_size=4)


@FAST
@given(preset=st.sampled_from(sorted(PRESETS)), overrides=OVERRIDES)
def test_budget_overrides_build_a_valid_budget_or_say_why(preset, overrides):
    try:
        budget = get_budget(preset, overrides)
    except BudgetError as e:
        assert str(e) and "\n" not in str(e)
        return
    check_budget(budget)
    assert Budget.from_dict(budget.to_dict()) == budget  # what a stored study or a Ray worker rebuilds


# -- the CLI's arguments -------------------------------------------------------------------------------------
LAYER_COUNTS = ["1", "2", "3", "0", "-1", "4097", "100000", "x", "2.5"]
SEARCH_OPTIONS = {
    "--layers": LAYER_COUNTS, "--mixers": ["gdn", "gdn,gla", "gla,gla", "attn", "foo", "", "hgrn2,retnet"],
    "--placement": ["free", "periodic", "fixed", "zigzag"], "--ratios": ["pure,1:1", "7:1", "3-1", "0:0", "1:1", ""],
    "--attention-layers": ["0", "1", "0,1", "9", "x", "-1"], "--min-attention": ["0", "1", "5", "-1"],
    "--max-attention": ["0", "1", "9"], "--min-ratio": ["0", "1.5", "nan", "x"], "--max-ratio": ["1", "0.5"],
    "--sampler": ["tpe", "random", "grid", "nsga2", "cma", "tune-random"], "--trials": ["1", "2", "0", "-3"],
    "--seed": ["0", "7", "x"], "--seeds": ["1", "2", "0"], "--objectives": ["recall,flops", "speed", "", "params"],
    "--budget": ["smoke", "quick", "huge"], "--format": ["table", "json", "csv", "xml"], "--device": ["cpu", "tpu"],
    "--set": ["d_model=0", "lm_steps=2", "mqar_kv_pairs=40", "depth=3", "x", "=", "chunk_size=8", "mqar_lr=1e9"],
    "--cascade": ["smoke,quick", "smoke", "nope"], "--level": ["lo=smoke:lm_steps=0", "lo=smoke", "bad"],
    "--promote": ["noise", "front", "ranks:0", "x"], "--study": ["s", "t", "", "a b"],
}
EVALUATE_OPTIONS = {k: SEARCH_OPTIONS[k] for k in ("--budget", "--set", "--seed", "--format", "--device")}
FLAGS = ["--mix-linear", "--include-attention", "--resume", "--no-store", "--all", "--bogus", "--", "-x"]


def _argv(options, n):
    return st.lists(st.one_of(
        st.sampled_from(sorted(options)).flatmap(lambda k: st.sampled_from(options[k]).map(lambda v: [k, v])),
        st.sampled_from(FLAGS).map(lambda f: [f]),
    ), max_size=n).map(lambda parts: [t for p in parts for t in p])


ARGV = st.one_of(
    _argv(SEARCH_OPTIONS, 4).map(lambda a: ["search", "--trials", "1", "--layers", "2", *a]),
    st.tuples(st.one_of(st.sampled_from(["gdn,attn", "(gla*3,attn)*2", "attn*2", "hgrn2 swa", "mamba2*3"]), NOTATION),
              _argv(EVALUATE_OPTIONS, 3)).map(lambda t: ["evaluate", t[0], *t[1]]),
    st.sampled_from([["pareto", "--study", "s"], ["pareto", "--study", "nope"], ["studies"], ["pareto"],
                     ["pareto", "--study", "s", "--format", "xml"], ["calibrate", "--study", "nope"], ["mixers"],
                     ["nope"], ["search", "--help"], ["--version"], ["bench", "proxy", "--bogus"]]),
)


@pytest.fixture
def shared_db(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"


@CLI
@given(argv=ARGV)
def test_cli_arguments_work_or_exit_2_with_one_line(argv, shared_db, monkeypatch):
    monkeypatch.setattr(proxies.evaluate, "evaluate", fake_metrics)
    runner = CliRunner()
    before = rows(shared_db)
    r = runner.invoke(app, [*argv, "--db", shared_db] if argv[0] in ("search", "evaluate", "pareto", "studies",
                                                                     "calibrate") else argv)
    assert r.exception is None or isinstance(r.exception, SystemExit), (argv, r.exception)
    assert "Traceback" not in r.output, (argv, r.output)
    assert r.exit_code in (0, 2), (argv, r.exit_code, r.output)
    if r.exit_code == 2:
        errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, (argv, r.stderr)
        assert rows(shared_db) == before, argv  # refused: nothing stored, nothing lost
    if r.exit_code == 0 and argv[0] == "search" and "--help" not in argv:
        assert re.search(r"\d+ trials finished", r.stderr), r.stderr
