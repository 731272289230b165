"""The teacher from the command line: `teacher train`, `evaluate --teacher`, `search --teacher`, `pareto`,
`teacher sensitivity`, and bad checkpoints ending with exit 2 and one line."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from tests.teacher_util import BERT, FAST_SETS, LLAMA, write_config  # noqa: E402


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    from typer.testing import CliRunner

    from nas.cli import app

    d = tmp_path_factory.mktemp("cli-teacher") / "ckpt"
    r = CliRunner().invoke(app, ["teacher", "train", str(d), "--budget", "smoke", *FAST_SETS],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "teacher saved to" in r.stdout and "validation perplexity" in r.stdout
    return d


def _one_error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def test_evaluate_a_student_stores_and_caches_it(cli, db, teacher_dir):
    args = ["evaluate", "gla,attn*3", "--teacher", teacher_dir, "--db", db, "--format", "json", *FAST_SETS]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["cached"] is False and out["kl"] >= 0 and out["tokenizer"] == "bytes-utf8"
    assert out["flops_context"] == 64 and "recall_passkey_2x" in out and "teacher_perplexity" in out
    again = json.loads(cli(*args).stdout)
    assert again["cached"] is True and again["kl"] == out["kl"]


def test_search_pareto_and_sensitivity(cli, db, teacher_dir):
    r = cli("search", "--teacher", teacher_dir, "--study", "t", "--db", db, "--trials", 2, "--mixers", "gla",
            "--placement", "free", "--min-attention", 2, "--max-attention", 2, "--sampler", "random", *FAST_SETS)
    assert r.exit_code == 0, r.output
    front = json.loads(cli("pareto", "--study", "t", "--db", db, "--format", "json").stdout)
    assert front and all("kl" in row for row in front)
    from search_space.layout import Layout

    assert all(Layout.parse(row["layout"]).n_attention == 2 == Layout.parse(row["layout"]).n_layers - 2
               for row in front)
    table = cli("pareto", "--study", "t", "--db", db).stdout
    assert table.splitlines()[0].split()[:2] == ["layout", "kl"]
    r = cli("teacher", "sensitivity", "--study", "t", "--db", db, "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert sorted(out["ranking"]) == [0, 1, 2, 3] and len(out["layers"]) == 4
    assert [c["k"] for c in out["comparisons"]] == [2]
    c = out["comparisons"][0]
    assert Layout.parse(c["baseline_layout"]).attention_indices == tuple(sorted(out["ranking"][:2]))
    assert isinstance(c["beat"], bool)
    table = cli("teacher", "sensitivity", "--study", "t", "--db", db).stdout  # cached now
    assert "most sensitive first" in table and "k=2 attention: search best" in table


def test_depth_must_be_the_teachers(cli, db, teacher_dir):
    line = _one_error_line(cli("search", "--teacher", teacher_dir, "--study", "d", "--db", db, "--layers", 6))
    assert "teacher's depth 4" in line
    line = _one_error_line(cli("evaluate", "gla,attn", "--teacher", teacher_dir, "--db", db))
    assert "the teacher has 4" in line


@pytest.mark.parametrize("config, words", [
    (None, "no such directory"),
    ("garbage", "not a readable model config"),
    (BERT, "not a causal language model"),
    ({**LLAMA, "hidden_size": 36, "num_attention_heads": 4}, "head size 9"),
])
def test_bad_checkpoints_exit_2_with_one_line(cli, db, tmp_path, config, words):
    d = tmp_path / "bad"
    if config is not None:
        write_config(d, config)
    for args in (["evaluate", "gla*2", "--teacher", d, "--db", db],
                 ["search", "--teacher", d, "--study", "b", "--db", db]):
        assert words in _one_error_line(cli(*args))


def test_grid_of_students(cli, db, teacher_dir):
    r = cli("grid", "--teacher", teacher_dir, "--study", "g", "--db", db, "--variants", "gdn", "--ratios", "1:1",
            "--no-attention", "--format", "json", *FAST_SETS)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["layouts"] == ["(gdn,attn)*2"] and out["counts"].get("complete") == 1
    assert "teacher's depth 4" in _one_error_line(cli("grid", "--teacher", teacher_dir, "--study", "g2", "--db", db,
                                                      "--layers", 8))
