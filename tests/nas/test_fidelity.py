"""Fidelity levels, seeds, the promotion cascade and the ratio-by-mixer grid."""

import json

import pytest

import proxies.evaluate
from nas.results import Results
from nas.cascade import PromotionRule, nondominated_ranks, parse_rule, promote, simulate
from nas.driver import evaluate_into, proxy_settings
from nas.errors import UsageError
from nas.fidelity import parse_level, resolve_levels
from nas.grid import grid_layouts
from proxies.budget import BudgetError, get_budget
from proxies.metrics import Metrics
from search_space.layout import Layout
from storage import open_store, proxy_key
from tests.nas.conftest import TINY

# -- a fast, deterministic stand-in for proxies.evaluate.evaluate ----------------------------------------------
# (recall, perplexity, flops) per layout at the low level; at the high level gla*2 recalls better.
BASE = {"attn*2": (0.9, 10.0, 300.0), "gdn,attn": (0.8, 11.0, 200.0), "gla,attn": (0.7, 12.0, 200.0),
        "gdn*2": (0.3, 13.0, 100.0), "gla*2": (0.29, 13.05, 100.0)}
LEVELS = ["--levels", "lo,hi", "--level", "lo=smoke:mqar_steps=4", "--level", "hi=smoke:mqar_steps=40"]


def fake_evaluate(layout, budget, *, device="cpu", seed=0, progress=None):
    lay = Layout.parse(layout) if isinstance(layout, str) else layout
    recall, ppl, flops = BASE[lay.canonical()]
    if budget.mqar_steps >= 40 and lay.canonical() == "gla*2":
        recall = 0.35
    recall += 0.02 * (seed % 2)  # seed noise: std 0.02/sqrt(2) over seeds 0, 1
    ppl += 0.1 * (seed % 2)
    return Metrics(recall=recall, perplexity=ppl, bits_per_byte=ppl / 10, flops=flops, params=1000, state_bytes=10,
                   flops_context=64, mqar_loss=1.0, lm_loss=1.0, wall_time_s=0.01 * budget.mqar_steps, device="cpu",
                   seed=seed, extra={"recall_tasks": {"recall_mqar_24x4": recall, "recall_noisy": recall / 2}})


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(proxies.evaluate, "evaluate", fake_evaluate)


GRID = ["grid", "--variants", "gdn,gla", "--ratios", "1:1,pure", "--layers", 2]


# -- levels ------------------------------------------------------------------------------------------------------


def test_levels_presets_and_user_defined():
    (lo, b_lo), (q, b_q) = resolve_levels(["lo", "quick"], ["lo=quick:mqar_steps=7,d_model=64"], "smoke",
                                          {"lm_steps": "3", "mqar_steps": "99"})
    assert (lo.name, lo.preset, q.name) == ("lo", "quick", "quick")
    assert (b_lo.mqar_steps, b_lo.d_model, b_lo.lm_steps) == (7, 64, 3)  # the level's own override wins
    assert (b_q.mqar_steps, b_q.lm_steps, b_q.d_model) == (99, 3, 128)
    assert parse_level("x=", "smoke").preset == "smoke" and parse_level("x=:lm_steps=2", "quick").preset == "quick"
    for names, defs, needle in [(["nope"], [], "unknown fidelity level 'nope'"), (["a"], ["a"], "NAME="),
                                (["a"], ["a=huge"], "unknown budget preset"), (["a", "a"], ["a=smoke"], "twice"),
                                (["a"], ["a=smoke", "a=quick"], "defined twice"), (["a"], ["a=smoke:x"], "key=value"),
                                (["a b"], ["a b=smoke"], "bad level name")]:
        with pytest.raises(UsageError, match=needle):
            resolve_levels(names, defs, "smoke")
    with pytest.raises(BudgetError):
        resolve_levels(["a"], ["a=smoke:depth=3"], "smoke")


def test_proxy_key_unchanged_by_the_suite_knobs_and_split_by_level():
    b = get_budget("smoke")
    settings = proxy_settings(b)
    assert not any(k.startswith("recall_") for k in settings["budget"])  # older databases keep their cache
    ladder = proxy_settings(get_budget("smoke", {"recall_suite": "ladder"}))
    assert ladder["budget"]["recall_suite"] == "ladder" and proxy_key(ladder) != proxy_key(settings)
    assert proxy_key(proxy_settings(b, "lo")) != proxy_key(proxy_settings(b, "hi"))


def test_evaluate_into_stores_per_task_recall_as_metrics(tmp_path, fake):
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    status, metrics, _, _ = evaluate_into(store, layout=Layout.parse("gdn,attn"), budget=get_budget("smoke"), seed=1,
                                          device="cpu", fidelity="lo", study=None, trial_number=None)
    assert status == "complete" and metrics["recall_noisy"] == pytest.approx(0.41)
    hit = store.lookup(layout="gdn,attn", proxy_key=proxy_key(proxy_settings(get_budget("smoke"), "lo")), seed=1,
                       fidelity="lo")
    assert hit.value("recall_mqar_24x4") == pytest.approx(0.82) and hit.fidelity == "lo" and hit.seed == 1


# -- the promotion rule -----------------------------------------------------------------------------------------
POINTS = {"A": (0.9, 10.0), "B": (0.8, 12.0), "C": (0.85, 10.05), "D": (0.5, 20.0)}
DIRS = ("maximize", "minimize")


def test_promotion_rules():
    assert promote(POINTS, DIRS, [0, 0], parse_rule("front")) == ["A"]
    # C is within 0.06 recall of A: not clearly dominated; B and D are beaten by more than the noise
    assert promote(POINTS, DIRS, [0.06, 0.1], parse_rule("noise")) == ["A", "C"]
    assert promote(POINTS, DIRS, [0.03, 0.01], parse_rule("noise:2")) == ["A", "C"]
    assert promote(POINTS, DIRS, [0.03, 0.01], parse_rule("noise")) == ["A"]
    assert promote(POINTS, DIRS, [0.03, 0.1], parse_rule("noise")) == ["A", "C"]  # within noise in perplexity
    assert promote(POINTS, DIRS, [None, None], parse_rule("noise")) == ["A"]  # unknown floor: the exact front
    assert nondominated_ranks(POINTS, DIRS) == {"A": 0, "C": 1, "B": 2, "D": 3}
    assert promote(POINTS, DIRS, [0, 0], parse_rule("ranks:2")) == ["A", "C"]
    assert promote(POINTS, DIRS, [0, 0], parse_rule("ranks:3")) == ["A", "B", "C"]
    assert promote({"x": (1.0, 1.0), "y": (1.0, 1.0)}, DIRS, [0, 0], parse_rule("front")) == ["x", "y"]  # ties kept
    assert str(parse_rule("noise:1")) == "noise" and str(parse_rule("ranks:2")) == "ranks:2"
    for bad in ("best", "ranks:0", "ranks:1.5", "front:2", "noise:x"):
        with pytest.raises(UsageError):
            parse_rule(bad)


class _Eval:
    """What the store hands out, as far as Results reads it."""

    def __init__(self, layout, level, seed, values, cost):
        self.layout, self.fidelity, self.seed, self.status = layout, level, seed, "complete"
        self.metrics = {**values, "wall_time_s": cost}
        self.wall_time_s, self.device = cost, "cpu"

    def value(self, m):
        return self.metrics.get(m)


OBJ = [{"metric": "recall", "direction": "maximize"}, {"metric": "perplexity", "direction": "minimize"}]


def _records(hi_layouts, hi_values=None):
    lo = {"a": (0.9, 10.0), "b": (0.5, 10.5), "c": (0.7, 9.0), "d": (0.2, 20.0)}
    hi = {**lo, **(hi_values or {})}
    out = []
    for level, table, cost, layouts in (("lo", lo, 1.0, lo), ("hi", hi, 10.0, hi_layouts)):
        for lay in layouts:
            for s in (0, 1):
                r, p = table[lay]
                out.append(_Eval(lay, level, s, {"recall": r + 0.01 * s, "perplexity": p}, cost))
    return out


def test_cascade_accounting_with_every_result_present():
    res = Results.from_evaluations(_records("abcd"), ["recall", "perplexity"])
    rep = simulate(res, ["lo", "hi"], OBJ, PromotionRule("noise"))
    assert [len(s.evaluated) for s in rep.stages] == [4, 2] and rep.stages[0].promoted == ["a", "c"]
    assert rep.stages[0].tolerance["recall"] == pytest.approx(0.01 / 2 ** 0.5)
    assert rep.cost_s == pytest.approx(8 + 40) and rep.full_cost_s == pytest.approx(8 + 80)
    assert not rep.full_cost_estimated and rep.saved_s == pytest.approx(40) and rep.saved_frac == pytest.approx(40 / 88)
    assert rep.full_front == ["a", "c"] and rep.front_changed is False


def test_cascade_accounting_estimates_what_was_not_run_and_sees_a_changed_front():
    res = Results.from_evaluations(_records("ac"), ["recall", "perplexity"])
    rep = simulate(res, ["lo", "hi"], OBJ, PromotionRule("noise"))
    assert rep.full_cost_estimated and rep.full_cost_s == pytest.approx(88)  # b, d at hi: lo cost x median ratio 10
    assert rep.full_front is None and rep.front_changed is None
    # d turns out best at the high level: the cascade, which dropped it, misses it
    res = Results.from_evaluations(_records("abcd", {"d": (0.95, 8.0)}), ["recall", "perplexity"])
    rep = simulate(res, ["lo", "hi"], OBJ, PromotionRule("noise"))
    assert rep.final_front == ["a", "c"] and rep.full_front == ["d"] and rep.front_changed is True
    assert rep.to_dict()["missed_from_full_front"] == ["d"]


# -- the grid --------------------------------------------------------------------------------------------------


def test_grid_preset_layouts(cli):
    layouts = grid_layouts(["hgrn", "hgrn2", "gla", "retnet", "deltanet", "gdn"],
                           ["24:1", "12:1", "6:1", "3:1", "pure"], 24)
    assert len(layouts) == 31 and layouts[-1] == Layout(("attn",) * 24)
    assert [lay.n_attention for lay in layouts[:5]] == [1, 2, 3, 6, 0]
    assert layouts[3].attention_indices == (3, 7, 11, 15, 19, 23)  # evenly spaced, each at the end of its period
    assert grid_layouts(["gdn"], ["1:1", "2:2"], 2) == [Layout.parse("gdn,attn"), Layout.parse("attn*2")]  # deduped
    r = cli("grid", "--study", "x", "--layers", 24, "--dry-run")
    assert r.exit_code == 0 and "31 layouts x 1 levels x 1 seed(s)" in r.stdout and "(gdn*3,attn)*6" in r.stdout
    for args, needle in [(["--variants", "gdn,mamba9"], "unknown linear mixer"), (["--ratios", "3-1"], "bad ratio"),
                         (["--levels", "zz"], "unknown fidelity level"), (["--promote", "best"], "promotion rule"),
                         (["--device", "tpu"], "unknown device")]:
        r = cli("grid", "--study", "x", "--dry-run", *args)
        assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_grid_cascade_promotes_near_the_front_and_reports_savings(cli, db, fake):
    r = cli(*GRID, "--study", "c", "--db", db, *LEVELS, "--seeds", 2, "--cascade")
    assert r.exit_code == 0, r.output
    store = open_store(db)
    lo, hi = (store.evaluations("c", status="complete", fidelity=f) for f in ("lo", "hi"))
    assert len(lo) == 10 and {e.seed for e in lo} == {0, 1}
    # gla,attn is beaten by gdn,attn by more than the noise; gla*2 is within noise of gdn*2 and goes up
    assert sorted({e.layout for e in hi}) == ["attn*2", "gdn*2", "gdn,attn", "gla*2"] and len(hi) == 8
    assert "promoting 4 of 5 layouts to level hi" in r.stderr and r.stderr.count("[") >= 18
    assert "compute: 3.6 s vs 4.4 s for every layout at every level (partly estimated); saved 0.8 s (18%)" in r.stdout
    assert "not available" in r.stdout
    # the full grid (the same command without --cascade reuses every finished run) makes the comparison possible
    r = cli(*GRID, "--study", "c", "--db", db, *LEVELS, "--seeds", 2, "--format", "json")
    out = json.loads(r.stdout)
    assert out["counts"] == {"complete": 2, "cached": 18, "failed": 0}
    cascade = out["calibration"]["cascade"]
    assert cascade["front_changed"] is False and cascade["saved_s"] == pytest.approx(0.8)
    assert sorted(cascade["final_front"]) == ["attn*2", "gdn*2", "gdn,attn", "gla*2"]
    # pareto shows one front per level over seed means, with their spread
    front = json.loads(cli("pareto", "--study", "c", "--db", db, "--format", "json").stdout)
    gla = [row for row in front if row["layout"] == "gla*2" and row["fidelity"] == "hi"][0]
    assert gla["seeds"] == 2 and gla["recall"] == pytest.approx(0.36)
    assert gla["recall_std"] == pytest.approx(0.02 / 2 ** 0.5)
    assert "level lo" in cli("pareto", "--study", "c", "--db", db).stdout


def test_search_with_seeds_and_a_cascade(cli, db, fake):
    r = cli("search", "--study", "s", "--db", db, "--trials", 5, "--layers", 2, "--sampler", "grid",
            "--ratios", "pure,1:1", "--mixers", "gdn,gla", "--include-attention", "--seeds", 2,
            "--cascade", "lo,hi", "--level", "lo=smoke:mqar_steps=4", "--level", "hi=smoke:mqar_steps=40")
    assert r.exit_code == 0, r.output
    store = open_store(db)
    lo = store.evaluations("s", status="complete", fidelity="lo")
    assert len(lo) == 10 and all(e.trial_number is not None for e in lo)
    assert len(store.evaluations("s", status="complete", fidelity="hi")) == 8
    assert "cascade lo -> hi" in r.stderr and "saved" in r.stderr
    import optuna

    trial = [t for t in optuna.load_study(study_name="s", storage=db).trials if t.user_attrs["layout"] == "gdn*2"][0]
    assert trial.values[0] == pytest.approx(0.31)  # the seed mean
    r = cli("search", "--study", "t", "--db", db, "--level", "a=smoke")
    assert r.exit_code == 2 and "--cascade" in r.stderr


def test_real_tiny_grid_cascade_then_calibrate(cli, db, tmp_path):
    """The real proxies, end to end through the CLI: a two-level cascade with two seeds, then calibrate."""
    r = cli("grid", "--study", "real", "--db", db, "--variants", "gla", "--ratios", "1:1,pure", "--layers", 2,
            "--levels", "lo,hi", "--level", "lo=smoke", "--level", "hi=smoke:mqar_steps=6", "--seeds", 2,
            "--cascade", "--promote", "ranks:1", *TINY)
    assert r.exit_code == 0, r.output
    store = open_store(db)
    lo = store.evaluations("real", status="complete", fidelity="lo")
    assert len(lo) == 6 and all(e.device == "cpu" and e.wall_time_s > 0 for e in lo)
    assert all(e.proxy["fidelity"] == "lo" and e.proxy["budget"]["mqar_steps"] == 4 for e in lo)
    hi = store.evaluations("real", status="complete", fidelity="hi")
    assert len(hi) in (2, 4, 6) and all(e.proxy["budget"]["mqar_steps"] == 6 for e in hi)
    ref = tmp_path / "ref.csv"
    ref.write_text('layout,recall,perplexity,mmlu\n"(gla, attn)",0.9,20,0.3\ngla*2,0.5,21,0.2\nattn*2,0.95,19,\n')
    r = cli("calibrate", "--study", "real", "--db", db, "--reference", ref, "--format", "json", "--promote", "ranks:1")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["levels"] == ["lo", "hi"] and rep["reference_ignored"] == ["mmlu"]
    assert {row["metric"] for row in rep["reference"]} == {"recall", "perplexity"}
    assert [row["n"] for row in rep["reference"] if row["level"] == "lo"] == [3, 3]
    assert rep["cascade"]["stages"][0]["evaluated"] == 3  # the replay promotes what the live cascade did
    assert sorted(rep["cascade"]["stages"][0]["promoted_layouts"]) == sorted({e.layout for e in hi})
    # a pool of two processes writing into one database gives the same numbers as the serial run
    db2 = f"sqlite:///{tmp_path / 'pool.db'}"
    r = cli("grid", "--study", "pool", "--db", db2, "--variants", "gla", "--ratios", "1:1,pure", "--layers", 2,
            "--levels", "lo", "--level", "lo=smoke", "--seeds", 2, "--workers", 2, *TINY)
    assert r.exit_code == 0, r.output
    pooled = {(e.layout, e.seed): (e.recall, e.perplexity) for e in open_store(db2).evaluations("pool")}
    serial = {(e.layout, e.seed): (e.recall, e.perplexity) for e in lo}
    assert pooled.keys() == serial.keys()
    for key, (recall, ppl) in serial.items():  # equal up to float summation order (1 thread per worker)
        assert pooled[key][0] == pytest.approx(recall, abs=1e-9) and pooled[key][1] == pytest.approx(ppl, rel=1e-4), key


def test_grid_time_limit_starts_nothing_more_and_the_same_command_finishes(cli, db, fake):
    r = cli(*GRID, "--study", "t", "--db", db, "--max-time", 1e-9, "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["skipped"] == 5 and "time limit" in r.stderr
    r = cli(*GRID, "--study", "t", "--db", db, "--format", "json")
    assert json.loads(r.stdout)["counts"]["complete"] == 5
