"""Issue 16: every input checked at the door. Each case of the issue's "Why" is a test here (the budget knobs
themselves: tests/proxies/test_budget_rules.py; the fuzzing: tests/test_fuzz.py)."""

import hashlib
import time

import optuna
import pytest
from sqlalchemy import create_engine, inspect, text

import proxies.evaluate
from nas.driver import counted_trials
from proxies.metrics import Metrics
from proxies.train import NonFiniteLoss
from search_space.layout import Layout
from storage import open_store


def fake_metrics(layout, budget, *, device="cpu", seed=0, progress=None):
    """A fast, deterministic stand-in for proxies.evaluate.evaluate."""
    lay = Layout.parse(layout) if isinstance(layout, str) else layout
    h = int(hashlib.sha256(lay.canonical().encode()).hexdigest()[:8], 16)
    return Metrics(recall=(h % 1000) / 1000, perplexity=10 + h % 7, bits_per_byte=1.0, flops=100.0 + h % 13,
                   params=1000, state_bytes=10, flops_context=64, mqar_loss=1.0, lm_loss=1.0, wall_time_s=0.01,
                   device="cpu", seed=seed)


@pytest.fixture
def evaluated(monkeypatch):
    """Replace training by `fake_metrics`; returns the list of layouts evaluated (one per call)."""
    calls = []

    def fake(layout, budget, **kw):
        calls.append(Layout.parse(layout).canonical() if isinstance(layout, str) else layout.canonical())
        return fake_metrics(layout, budget, **kw)

    monkeypatch.setattr(proxies.evaluate, "evaluate", fake)
    return calls


def rows(url):
    """Rows of every table, to hold a database unchanged across a refused command."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar() for t in inspect(engine).get_table_names()}
    finally:
        engine.dispose()


def one_error_line(r, code=2):
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    return errors[0]


WHY_SETS = ["lm_batch=0", "mqar_batch=0", "mqar_test_examples=0", "mqar_kv_pairs=0", "mqar_vocab=0",
            "lm_seq_len=0", "mqar_lr=1e9", "chunk_size=0", "window=0", "n_layers=0", "lm_eval_tokens=0",
            "lm_steps=0", "mqar_steps=0", "d_model=0", "n_heads=0"]


@pytest.mark.parametrize("item", WHY_SETS)
def test_evaluate_refuses_nonsense_knobs(cli, db, item, evaluated):
    cli("search", "--study", "keep", "--db", db, "--trials", 1, "--layers", 2)  # something stored to keep
    before = rows(db)
    key = item.split("=")[0]
    line = one_error_line(cli("evaluate", "gdn,attn", "--db", db, "--set", item))
    assert f"budget field {key} = " in line and "must be" in line, line
    line = one_error_line(cli("search", "--study", "other", "--db", db, "--set", item))
    assert f"budget field {key} = " in line, line
    assert rows(db) == before
    assert len(evaluated) == 1  # only the first search trained anything


def test_levels_and_stored_studies_get_the_same_check(cli, db, evaluated):
    line = one_error_line(cli("search", "--study", "c", "--db", db, "--cascade", "lo,smoke",
                              "--level", "lo=smoke:lm_steps=0"))
    assert "budget field lm_steps = 0" in line
    # a study stored by an older version with a budget that is now refused: resuming it is refused the same way
    store = open_store(db)
    store.create_or_resume_study("old", space={"n_layers": 2}, proxy={"budget": {"lm_steps": 0}, "fidelity": "default"},
                                 objectives=[{"metric": "recall", "direction": "maximize"}])
    before = rows(db)
    line = one_error_line(cli("search", "--study", "old", "--db", db, "--set", "lm_steps=0", "--resume"))
    assert "budget field lm_steps = 0" in line
    assert rows(db) == before and not evaluated


def test_a_diverging_evaluation_is_one_line_exit_1_and_stored_failed(cli, db, monkeypatch):
    msg = "non-finite training loss nan at step 7 (task mqar, lr 0.003)"

    def diverge(layout, budget, **kw):
        raise NonFiniteLoss(msg)

    monkeypatch.setattr(proxies.evaluate, "evaluate", diverge)
    line = one_error_line(cli("evaluate", "gdn,attn", "--db", db), code=1)
    assert msg in line and "gdn,attn" in line, line
    engine = create_engine(db)  # the failed run is stored as failed, not as a result
    with engine.connect() as conn:
        status, error = conn.execute(text("SELECT status, error FROM hnas_evaluations")).one()
    engine.dispose()
    assert status == "failed" and msg in error
    line = one_error_line(cli("evaluate", "gdn,attn", "--no-store", "--db", db), code=1)
    assert msg in line


def test_search_layers_beyond_the_layout_cap_exits_2_at_once(cli, db):
    t0 = time.perf_counter()
    line = one_error_line(cli("search", "--layers", 100000, "--db", db))
    assert time.perf_counter() - t0 < 10 and "4096" in line


def test_a_ratio_the_depth_cannot_hold_says_what_runs(cli, db, evaluated):
    r = cli("search", "--study", "r", "--db", db, "--layers", 4, "--ratios", "7:1", "--trials", 1)
    assert r.exit_code == 0, r.output
    assert "note: at 4 layers, ratio 7:1 runs as 3:1 (1 attention layer of 4)" in r.stderr
    assert Layout.parse(evaluated[0]).n_attention == 1


def test_fixed_placement_needs_positions(cli, db):
    assert "--attention-layers" in one_error_line(cli("search", "--placement", "fixed", "--db", db))
    assert "--placement fixed" in one_error_line(cli("search", "--attention-layers", "1", "--db", db))


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.startswith("hybrid-nas ")


def test_a_search_where_every_trial_fails_exits_1(cli, db, monkeypatch):
    def crash(layout, budget, **kw):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(proxies.evaluate, "evaluate", crash)
    r = cli("search", "--study", "f", "--db", db, "--trials", 2, "--layers", 2)
    line = one_error_line(r, code=1)
    assert "no trial of study 'f' succeeded" in line and "kernel exploded" in line
    assert "2 trials finished" in r.stderr and "0 complete, 2 failed" in r.stderr
    s = {x.name: x for x in open_store(db).list_studies()}["f"]
    assert (s.n_complete, s.n_failed) == (0, 2)


@pytest.mark.parametrize("sampler", ["random", "tpe", "nsga2"])
def test_trials_finished_is_what_studies_counts_and_small_spaces_are_not_reproposed(cli, db, evaluated, sampler):
    # the README's smoke search: 4 layers, gdn/gla, the default ratios = 6 distinct layouts
    r = cli("search", "--study", "s", "--db", db, "--trials", 6, "--sampler", sampler)
    assert r.exit_code == 0, r.output
    assert len(evaluated) == len(set(evaluated)) == 6
    s = {x.name: x for x in open_store(db).list_studies()}["s"]
    assert "6 trials finished" in r.stderr and (s.n_complete, s.n_failed) == (6, 0)
    # more trials than the space holds: it says so and stops when every layout is evaluated
    r = cli("search", "--study", "s", "--db", db, "--trials", 9, "--sampler", sampler)
    assert r.exit_code == 0, r.output
    assert "the search space holds 6 layouts" in r.stderr and len(evaluated) == 6


@pytest.mark.parametrize("sampler", ["random", "tpe", "grid"])
def test_a_resumed_search_reruns_the_interrupted_layout_whatever_the_sampler(cli, db, monkeypatch, sampler):
    calls, done = [], []

    def interrupted_third(layout, budget, **kw):
        calls.append(layout.canonical())
        if len(calls) == 3:
            raise KeyboardInterrupt
        done.append(layout.canonical())
        return fake_metrics(layout, budget, **kw)

    monkeypatch.setattr(proxies.evaluate, "evaluate", interrupted_third)
    args = ["search", "--study", "i", "--db", db, "--trials", 5, "--sampler", sampler]
    assert cli(*args).exit_code == 130
    cut = calls[2]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert "1 interrupted layout(s) queued to run again" in r.stderr or sampler == "grid"
    assert cut in done and len(done) == len(set(done)) == 5  # the cut layout trained; nothing trained twice
    study = optuna.load_study(study_name="i", storage=db)
    assert len(counted_trials(study)) == 5
    s = {x.name: x for x in open_store(db).list_studies()}["i"]
    assert s.n_complete == 5


@pytest.mark.parametrize("size", [40, 600])  # shorter than lm_seq_len; long enough but a validation tail too short
def test_a_corpus_too_short_for_lm_seq_len_exits_2_before_anything_is_stored(cli, db, tmp_path, evaluated, size):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(("To be, or not to be, that is the question. " * 40)[:size])
    cli("search", "--study", "keep", "--db", db, "--trials", 1, "--layers", 2)  # something stored to keep
    before = rows(db)
    for args in (("evaluate", "gdn,attn"), ("search", "--study", "short", "--layers", 2, "--trials", 1)):
        line = one_error_line(cli(*args, "--db", db, "--set", f"corpus={corpus}", "--set", "lm_seq_len=64"))
        assert "corpus" in line and "lm_seq_len = 64" in line and "too short" in line, line
    assert rows(db) == before
    assert len(evaluated) == 1  # only the kept search trained


@pytest.mark.parametrize("store", [["--db"], ["--no-store", "--db"]])
def test_a_failed_evaluation_prints_its_traceback_when_asked(cli, db, monkeypatch, store):
    def deep_inside_the_training(layout, budget, **kw):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(proxies.evaluate, "evaluate", deep_inside_the_training)
    quiet = cli("evaluate", "gdn,attn", *store, db)
    assert "operation not permitted" in one_error_line(quiet, code=1)  # one line, no traceback by default
    loud = cli("evaluate", "gdn,attn", *store, db, "--traceback")
    assert loud.exit_code == 1
    errors = [line for line in loud.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "operation not permitted" in errors[0]
    assert "Traceback (most recent call last)" in loud.stderr and "deep_inside_the_training" in loud.stderr
    assert loud.stderr.index("error: ") < loud.stderr.index("Traceback")
