"""Noise floors (nas.results) and `hybrid-nas calibrate`; rank statistics: test_rankstats.py."""

import json
import math

import pytest

from nas.results import Results
from tests.nas.test_fidelity import GRID, LEVELS, _Eval, fake  # noqa: F401  (fake is a fixture)


def test_noise_floor_and_spread():
    evals = [_Eval("A", "lo", 0, {"recall": 0.5}, 1.0), _Eval("A", "lo", 1, {"recall": 0.7}, 1.0),
             _Eval("B", "lo", 0, {"recall": 0.2}, 1.0), _Eval("B", "lo", 1, {"recall": 0.2}, 1.0),
             _Eval("C", "lo", 0, {"recall": 0.9}, 1.0),  # one seed: no std, left out of the floor
             _Eval("A", "lo", 0, {"recall": 0.0}, 1.0)]  # a second run of (A, seed 0) does not count
    res = Results.from_evaluations(evals, ["recall"])
    floor, n = res.noise_floor("lo", "recall")
    assert n == 2 and floor == pytest.approx((math.sqrt(0.02) + 0.0) / 2)  # std(0.5, 0.7) = 0.1414
    assert res.means("lo", "recall") == pytest.approx({"A": 0.6, "B": 0.2, "C": 0.9})
    assert res.spread("lo", "recall") == pytest.approx(math.sqrt(((0.6 - 17 / 30) ** 2 + (0.2 - 17 / 30) ** 2
                                                                  + (0.9 - 17 / 30) ** 2) / 2))
    assert res.noise_floor("lo", "perplexity") == (None, 0) and res.cost("lo") == 5.0


@pytest.fixture
def study(cli, db, fake):  # noqa: F811
    r = cli(*GRID, "--study", "cal", "--db", db, *LEVELS, "--seeds", 2)
    assert r.exit_code == 0, r.output
    return db


def test_calibrate_between_levels_seeds_and_a_reference(cli, study, tmp_path):
    ref = tmp_path / "ref.csv"
    ref.write_text("layout,recall,notes\nattn*2,1.0,x\n\"gdn,attn\",0.9,\ngla attn,0.8,\ngdn*2,0.1,\ngla*2,0.2,\n"
                   "\"(gdn*3,attn)*3\",0.5,not in the study\n")
    r = cli("calibrate", "--study", "cal", "--db", study, "--reference", ref, "--format", "json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["levels"] == ["lo", "hi"]
    assert rep["metrics"] == ["recall", "perplexity", "flops", "bits_per_byte", "recall_mqar_24x4", "recall_noisy"]
    row = {(x["level_a"], x["level_b"], x["metric"]): x for x in rep["cross_level"]}[("lo", "hi", "recall")]
    # gla*2 overtakes gdn*2 at the high level: one swapped pair of five layouts
    assert row["n"] == 5 and row["spearman"] == pytest.approx(0.9) and row["kendall"] == pytest.approx(0.8)
    seeds = {(x["level"], x["metric"]): x for x in rep["cross_seed"]}
    assert seeds[("lo", "recall")]["spearman"] == pytest.approx(1) and seeds[("lo", "recall")]["seed_pairs"] == 1
    assert seeds[("lo", "flops")]["kendall"] == pytest.approx(1)  # tied flops, ranked alike by both seeds
    noise = {(x["level"], x["metric"]): x for x in rep["noise"]}
    assert noise[("lo", "recall")]["noise_floor"] == pytest.approx(0.02 / math.sqrt(2))
    assert noise[("lo", "flops")]["noise_floor"] == 0 and noise[("lo", "flops")]["spread_over_noise"] is None
    assert noise[("hi", "recall")]["spread_over_noise"] > 10  # layouts differ far more than seeds do
    refs = {(x["level"], x["metric"]): x for x in rep["reference"]}
    assert refs[("lo", "recall")]["n"] == 5 and refs[("lo", "recall")]["spearman"] == pytest.approx(0.9)
    assert refs[("hi", "recall")]["kendall"] == pytest.approx(1.0)
    assert rep["reference_ignored"] == ["notes"] and rep["reference_layouts"] == 6
    assert rep["cascade"]["front_changed"] is False and rep["cascade"]["saved_frac"] == pytest.approx(0.8 / 4.4)
    # the table names every section
    out = cli("calibrate", "--study", "cal", "--db", study, "--reference", ref, "--levels", "hi,lo").stdout
    for needle in ("noise floor", "between seeds", "between levels", "hi vs lo", "against the reference",
                   "simulated cascade hi -> lo", "ignored reference columns (not metrics of this study): notes"):
        assert needle in out


BAD_CSV = [
    ("", "is empty"),
    ("layout,recall\n", "no rows"),
    ("name,recall\ngdn*2,0.1\n", "no 'layout' column"),
    ("layout,mmlu\ngdn*2,0.1\n", "no column named after a metric"),
    ("layout,recall\ngdn*2,high\n", "is not a number"),
    ("layout,recall\ngdn*x,0.1\n", "line 2"),
    ("layout,recall\ngdn*2,0.1\n(gdn)*2,0.2\n", "appears twice"),
    ("layout,recall\ngdn,attn,0.1\n", "3 cells"),
    ("layout,recall,recall\ngdn*2,0.1,0.1\n", "repeats a column"),
]


@pytest.mark.parametrize("text,needle", BAD_CSV)
def test_calibrate_rejects_a_bad_reference_csv(cli, study, tmp_path, text, needle):
    ref = tmp_path / "ref.csv"
    ref.write_text(text)
    r = cli("calibrate", "--study", "cal", "--db", study, "--reference", ref)
    assert r.exit_code == 2 and needle in r.stderr, r.output
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1 and "Traceback" not in r.output


@pytest.mark.parametrize("args,needle", [
    (["--study", "nope"], "no study named 'nope'"),
    (["--study", "cal", "--reference", "/nonexistent/ref.csv"], "cannot read reference CSV"),
    (["--study", "cal", "--metrics", "recall,speed"], "unknown metric(s) speed"),
    (["--study", "cal", "--levels", "lo,top"], "top have no complete evaluation"),
    (["--study", "cal", "--promote", "best"], "bad promotion rule"),
    (["--study", "cal", "--format", "xml"], "unknown format"),
])
def test_calibrate_bad_input_exits_2_with_one_line(cli, study, args, needle):
    r = cli("calibrate", "--db", study, *args)
    assert r.exit_code == 2 and needle in r.stderr, r.output
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1


def test_calibrate_a_single_level_single_seed_study_says_what_is_missing(cli, db, fake):  # noqa: F811
    assert cli(*GRID, "--study", "one", "--db", db).exit_code == 0
    out = cli("calibrate", "--study", "one", "--db", db).stdout
    assert "one seed per layout" in out and "one fidelity level" in out
