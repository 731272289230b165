import json

import optuna
import pytest

from nas.driver import counted_trials
from tests.nas.conftest import TINY


def _dominates(a, b):
    ge = a["recall"] >= b["recall"] and a["perplexity"] <= b["perplexity"] and a["flops"] <= b["flops"]
    gt = a["recall"] > b["recall"] or a["perplexity"] < b["perplexity"] or a["flops"] < b["flops"]
    return ge and gt


def test_search_pareto_evaluate_round_trip(cli, db):
    r = cli("search", "--study", "s", "--db", db, "--trials", 4, "--layers", 2, "--sampler", "random",
            "--ratios", "pure,1:1", "--include-attention", *TINY)
    assert r.exit_code == 0, r.output
    front = json.loads(cli("pareto", "--study", "s", "--db", db, "--format", "json").stdout)
    everything = json.loads(cli("pareto", "--study", "s", "--db", db, "--format", "json", "--all").stdout)
    assert front and len(everything) >= len(front)
    for row in front:
        for key in ("layout", "recall", "perplexity", "flops", "params", "trial"):
            assert key in row
        assert not any(_dominates(other, row) for other in everything)
    for row in everything:
        if row not in front:
            assert any(_dominates(f, row) or f == row for f in front) or any(
                _dominates(o, row) for o in everything)
    # evaluate accepts the layout exactly as pareto printed it, and is served from the cache
    r = cli("evaluate", front[0]["layout"], "--db", db, "--format", "json", *TINY)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["cached"] is True and out["layout"] == front[0]["layout"]
    # Optuna's tables share the database
    study = optuna.load_study(study_name="s", storage=db)
    counted = counted_trials(study)  # a sampler's repeat of a layout already evaluated is told, not counted
    assert len(counted) == 4 and len({t.user_attrs["layout"] for t in counted}) == 4
    # csv and table formats
    csv_out = cli("pareto", "--study", "s", "--db", db, "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("layout,recall,perplexity,flops")
    assert "layout" in cli("pareto", "--study", "s", "--db", db).stdout
    assert "s " in cli("studies", "--db", db).stdout


def test_same_command_resumes(cli, db):
    args = ["search", "--study", "r", "--db", db, "--layers", 2, "--sampler", "grid", "--ratios", "pure,1:1", *TINY]
    assert cli(*args, "--trials", 2).exit_code == 0
    assert cli(*args, "--trials", 4).exit_code == 0
    study = optuna.load_study(study_name="r", storage=db)
    assert len(study.trials) == 4
    layouts = {t.user_attrs["layout"] for t in study.trials}
    assert layouts == {"gdn*2", "gla*2", "gdn,attn", "gla,attn"}  # the grid, each once


BAD = [
    (["search", "--mixers", "gdn,foo"], "unknown linear mixer 'foo'"),
    (["search", "--placement", "fixed", "--attention-layers", "9", "--layers", "4"], "outside"),
    (["search", "--ratios", "1:1", "--max-attention", "1", "--layers", "4"], "no ratio"),
    (["search", "--budget", "huge"], "unknown budget 'huge'; valid: smoke"),
    (["search", "--set", "d_model"], "key=value"),
    (["search", "--set", "depth=3"], "unknown budget field 'depth'"),
    (["search", "--sampler", "cma"], "unknown sampler"),
    (["search", "--objectives", "recall,speed"], "unknown objective 'speed'"),
    (["search", "--device", "tpu"], "unknown device"),
    (["search", "--set", "corpus=/nonexistent/book.txt"], "unknown corpus '/nonexistent/book.txt'"),
    (["evaluate", "gdn*2", "--set", "corpus=/nonexistent/book.txt"], "unknown corpus"),
    (["evaluate", "gdn*3,mamba3"], "unknown mixer 'mamba3'"),
    (["evaluate", "(gdn*3,attn"], "unclosed"),
    (["pareto", "--study", "nope"], "no study named 'nope'"),
    (["pareto", "--study", "x", "--db", "foo://bar"], "foo"),
    (["pareto", "--study", "x", "--format", "xml"], "unknown format"),
    (["studies", "--db", "sqlite:////nonexistent/dir/x.db"], "nonexistent"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_exits_2_with_one_line(cli, db, args, needle):
    if "--db" not in args:
        args = args + ["--db", db]
    r = cli(*args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.output


def test_bad_input_loses_nothing(cli, db):
    assert cli("search", "--study", "keep", "--db", db, "--trials", 1, "--layers", 2, *TINY).exit_code == 0
    before = cli("pareto", "--study", "keep", "--db", db, "--format", "json").stdout
    assert cli("search", "--study", "keep", "--db", db, "--mixers", "nope", *TINY).exit_code == 2
    # a study resumed with different settings is refused, and nothing changes
    r = cli("search", "--study", "keep", "--db", db, "--trials", 2, "--layers", 3, *TINY)
    assert r.exit_code == 2 and "keep" in r.stderr
    assert cli("pareto", "--study", "keep", "--db", db, "--format", "json").stdout == before


def test_cuda_on_a_cpu_machine(cli, db):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = cli("evaluate", "gdn*2", "--device", "cuda", "--db", db)
    assert r.exit_code == 2 and "no CUDA device" in r.stderr
