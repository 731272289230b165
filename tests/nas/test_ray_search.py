"""`hybrid-nas search --ray` on a real local Ray (2 CPUs, a 200 MB object store), and its reconciliation.

Every Ray process these tests start carries a marker in its environment; a test ends by checking that they
are gone and killing (by pid) any that are not. Nothing else on the machine is touched.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import optuna
import pytest

from nas.driver import INTERRUPTED, SearchSettings
from nas.objectives import parse_objectives
from nas.raytune.driver import RaySearch
from nas.raytune.ledger import Ledger
from nas.raytune.settings import PID_DIR_ENV, RaySettings
from proxies.budget import get_budget
from search_space import SearchSpace
from storage import open_store
from tests.nas.conftest import TINY

MARK = "HNAS_TEST_RAY_MARK"
ROOT = Path(__file__).resolve().parents[2]
SPACE = ["--layers", 2, "--ratios", "pure,1:1"]
SLOW = ["--set", "mqar_steps=30", "--set", "lm_steps=4", "--set", "lm_eval_tokens=512",
        "--set", "mqar_train_examples=256", "--set", "mqar_test_examples=64", "--set", "flops_context=64"]


def marked_pids(mark: str) -> list[int]:
    """Processes (not this one) whose environment carries `MARK=mark`: exactly those these tests started."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def reap(mark: str, grace_s: float = 20.0) -> list[int]:
    """Wait for the marked processes to end; kill the ones still there after `grace_s`; return those."""
    deadline = time.time() + grace_s
    while time.time() < deadline and marked_pids(mark):
        time.sleep(0.25)
    left = marked_pids(mark)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@pytest.fixture
def ray_env(tmp_path, monkeypatch):
    """Environment for a local Ray that these tests own: small, isolated (its own temp dir), marked."""
    import tempfile

    mark = uuid.uuid4().hex
    short = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # Ray's socket paths must stay short
    env = {MARK: mark, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": short, "HYBRID_NAS_RAY_OBJECT_STORE_MB": "200",
           "HYBRID_NAS_RAY_NUM_CPUS": "2", "HYBRID_NAS_TUNE_DIR": str(tmp_path / "tune"),
           "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        monkeypatch.delenv(k, raising=False)
    yield mark
    left = reap(mark)
    import shutil

    shutil.rmtree(short, ignore_errors=True)
    assert not left, f"Ray processes outlived the search: {left}"


def _rows(store, study):
    return store.evaluations(study)


def _trained(rows):
    """Evaluations that trained (not copies of a cached one)."""
    return [e for e in rows if e.status == "complete" and e.cached_from is None]


def test_ray_search_records_results_and_a_front(cli, db, ray_env):
    args = ["search", "--ray", "--study", "r", "--db", db, "--trials", 4, "--sampler", "random",
            "--max-concurrent", 2, "--include-attention", *SPACE, *TINY]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    front = json.loads(cli("pareto", "--study", "r", "--db", db, "--format", "json").stdout)
    assert front and all(row["trial"] is not None for row in front)
    study = optuna.load_study(study_name="r", storage=db)
    from nas.driver import REPEAT_OF

    repeats = [t for t in study.trials if REPEAT_OF in t.user_attrs]  # issue 16: proposed again, not counted
    assert len(study.trials) - len(repeats) == 4
    assert all(t.state.is_finished() for t in study.trials)
    store = open_store(db)
    rows = _rows(store, "r")
    assert not [e for e in rows if e.status == "running"]
    trained = _trained(rows)
    assert trained and len({e.layout for e in trained}) == len(trained)  # never trained twice
    assert all(e.device == "cpu" and e.started_at <= e.finished_at for e in trained)
    # every COMPLETE Optuna trial has a complete evaluation of its layout in our tables
    done = {e.layout for e in rows if e.status == "complete"}
    assert all(t.user_attrs["layout"] in done for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)


def test_native_tune_grid_rejects_what_breaks_the_space(cli, db, ray_env):
    # free placement, at most one attention layer: attn*2 breaks the bound and must never be trained
    args = ["search", "--ray", "--study", "g", "--db", db, "--trials", 8, "--sampler", "tune-grid",
            "--placement", "free", "--max-attention", 1, "--max-concurrent", 2, "--layers", 2, *TINY]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    store = open_store(db)
    rows = _rows(store, "g")
    rejected = [e for e in rows if e.status == "failed"]
    assert len(rejected) == 2 and {e.layout for e in rejected} == {"attn*2"}
    assert all(e.error.startswith("rejected: ") and "attention layers" in e.error and not e.metrics
               for e in rejected)
    study = optuna.load_study(study_name="g", storage=db)
    assert len(study.trials) == 8  # the whole grid: 2 x 2 attention flags x 2 mixers
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 2 and all(t.user_attrs["fail_reason"].startswith("rejected") for t in failed)
    assert len({json.dumps(t.user_attrs["params"], sort_keys=True) for t in study.trials}) == 8
    trained = _trained(rows)
    assert len({e.layout for e in trained}) == len(trained)
    # the grid is done: the same command runs nothing more
    assert cli(*args).exit_code == 0
    assert len(optuna.load_study(study_name="g", storage=db).trials) == 8


def test_a_killed_worker_is_retried_then_recorded_failed(cli, db, ray_env, tmp_path, monkeypatch):
    """Trial 0's worker is killed once (retried, completes); trial 1's every time (recorded failed)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(PID_DIR_ENV, str(pids))
    plan = {0: 1, 1: 2}  # trial number -> how many of its workers to kill
    killed: list[tuple[int, int]] = []
    stop = threading.Event()

    def killer():
        store = None
        seen = set()
        while not stop.is_set():
            for f in sorted(pids.glob("trial-*-pid-*")):
                done = re.fullmatch(r"trial-(\d+)-pid-(\d+)", f.name)  # not the worker's "<name>.tmp" being written
                if f.name in seen or done is None:
                    continue
                number, pid = int(done[1]), int(done[2])
                if sum(1 for n, _ in killed if n == number) >= plan.get(number, 0):
                    seen.add(f.name)
                    continue
                try:
                    store = store or open_store(db)
                    running = [e for e in store.evaluations("k", status="running") if e.trial_number == number]
                except Exception:
                    running = []
                if running:  # this attempt is training: kill its worker
                    os.kill(pid, signal.SIGKILL)
                    killed.append((number, pid))
                    seen.add(f.name)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        r = cli("search", "--ray", "--study", "k", "--db", db, "--trials", 2, "--sampler", "tune-grid",
                "--max-concurrent", 1, "--max-retries", 1, *SPACE, *SLOW)
    finally:
        stop.set()
        thread.join()
    assert r.exit_code == 0, r.output
    assert [n for n, _ in killed] == [0, 1, 1], killed
    store = open_store(db)
    by_trial = {}
    for e in _rows(store, "k"):
        by_trial.setdefault(e.trial_number, []).append(e)
    first, second = by_trial[0], by_trial[1]
    assert [e.status for e in first] == ["failed", "complete"]
    assert first[0].error.startswith(INTERRUPTED) and "retried" in first[0].error
    assert [e.status for e in second] == ["failed", "failed"]
    assert second[-1].error.startswith("worker failed 2 time(s), --max-retries 1")
    study = optuna.load_study(study_name="k", storage=db)
    states = {t.number: t.state for t in study.trials}
    assert states == {0: optuna.trial.TrialState.COMPLETE, 1: optuna.trial.TrialState.FAIL}
    assert study.trials[1].user_attrs["fail_reason"] == second[-1].error
    assert "retrying" in r.stderr


def test_a_killed_driver_resumes_without_duplicates(cli, db, ray_env, tmp_path):
    args = ["search", "--ray", "--study", "d", "--db", db, "--trials", 3, "--sampler", "tune-grid",
            "--max-concurrent", 1, *SPACE, *SLOW]
    cmd = [sys.executable, "-m", "nas.cli", *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env=dict(os.environ), start_new_session=True)
    store = open_store(db)
    deadline = time.time() + 180
    try:
        while time.time() < deadline:  # one trial done and the next one training
            try:
                rows = _rows(store, "d")
            except Exception:
                rows = []
            if any(e.status == "complete" for e in rows) and any(e.status == "running" for e in rows):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the search never got to its second trial")
    finally:
        proc.kill()  # SIGKILL: no cleanup at all
        proc.communicate(timeout=60)
    reap(ray_env, grace_s=30)  # its local Ray goes with it (Ray's reaper); kill what did not
    before = _rows(store, "d")
    # the worker of the cut-off trial either died with the driver (its row left running: the trial is run
    # again) or finished just after it (its row complete: the trial is kept); either way nothing is lost
    cut = [e.status for e in before].count("running")
    assert cut <= 1 and [e.status for e in before].count("complete") == len(before) - cut
    r = cli(*args, "--resume")
    assert r.exit_code == 0, r.output
    assert ("1 interrupted evaluation(s) marked failed" in r.stderr) == (cut == 1), r.stderr
    rows = _rows(store, "d")
    assert not [e for e in rows if e.status == "running"]
    assert [e.error for e in rows if e.status == "failed"] == [INTERRUPTED] * cut
    trained = _trained(rows)
    assert len(trained) == 3 and len({e.layout for e in trained}) == 3  # finished work kept, none twice
    assert {e.id for e in before if e.status == "complete"} <= {e.id for e in trained}
    study = optuna.load_study(study_name="d", storage=db)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    done = [t for t in study.trials if t.user_attrs.get("fail_reason") != INTERRUPTED]
    assert len(done) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in done)


# -- reconciliation without Ray ---------------------------------------------------------------------------------
def _settings(study, **kw):
    overrides = dict(item.split("=", 1) for item in TINY[1::2])
    return SearchSettings(study=study, space=SearchSpace(n_layers=2, mixers=("gdn", "gla"), ratios=("pure", "1:1")),
                          budget=get_budget("smoke", overrides), objectives=parse_objectives("recall,perplexity,flops"),
                          sampler="random", trials=4, **kw)


def test_restart_settles_optuna_from_our_tables(tmp_path):
    """What a dead driver (or Tune's restore) leaves out of step: RUNNING Optuna trials. One whose evaluation
    finished is kept (COMPLETE with the stored values, not run again); one whose evaluation was cut off is
    failed "interrupted" and does not count; one that failed keeps its reason; settling twice is harmless."""
    from nas.driver import proxy_settings
    from storage import proxy_key

    url = f"sqlite:///{tmp_path / 'rec.db'}"
    store = open_store(url)
    s = _settings("rec")
    first = RaySearch(store, s, RaySettings())
    ledger = first.ledger
    settings = proxy_settings(s.budget, s.fidelity)

    def row(layout, number, status):
        from search_space import Layout

        lay = Layout.parse(layout)
        eid = store.start_evaluation(study="rec", layout=layout, n_layers=2, n_attention=lay.n_attention,
                                     proxy_key=proxy_key(settings), proxy=settings, seed=0, trial_number=number,
                                     device="cpu")
        if status == "complete":
            store.finish_evaluation(eid, metrics={"recall": 0.5, "perplexity": 9.0, "flops": 100.0}, wall_time_s=1.0)
        elif status == "failed":
            store.fail_evaluation(eid, error="NonFiniteLoss: nan at step 3")

    numbers = []
    for layout, status in (("gdn*2", "complete"), ("gla*2", "running"), ("gdn,attn", "failed")):
        number, _ = ledger.open_trial(layout=layout, params={})
        row(layout, number, status)
        numbers.append(number)
    cached, _ = ledger.open_trial(layout="gdn*2", params={})  # a cache hit in this study: no row of its own

    again = RaySearch(open_store(url), s, RaySettings())
    assert again.reconciled == 1  # the running row
    study = optuna.load_study(study_name="rec", storage=url)
    t = {x.number: x for x in study.trials}
    assert t[numbers[0]].state == optuna.trial.TrialState.COMPLETE and t[numbers[0]].values == [0.5, 9.0, 100.0]
    assert t[numbers[1]].state == optuna.trial.TrialState.FAIL
    assert t[numbers[1]].user_attrs["fail_reason"] == INTERRUPTED
    assert t[numbers[2]].user_attrs["fail_reason"] == "NonFiniteLoss: nan at step 3"
    assert t[cached].state == optuna.trial.TrialState.COMPLETE
    assert again.finished_trials() == 3
    assert {o.status for o in again.resettled} == {"complete", "cached", "failed"}
    assert [e.error for e in store.evaluations("rec", status="failed")] == [INTERRUPTED,
                                                                             "NonFiniteLoss: nan at step 3"]
    assert Ledger(store, s, url).settle(numbers[0]) is None  # already settled: nothing told twice
    # the stale trial counts for nothing, so the search would run one more
    assert again.target_trials() - again.finished_trials() == 1


def test_a_worker_that_died_for_good_is_recorded_with_its_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'died.db'}"
    store = open_store(url)
    s = _settings("died")
    ledger = RaySearch(store, s, RaySettings()).ledger
    number, _ = ledger.open_trial(layout="gla,attn", params={})
    outcome = ledger.settle(number, died="worker failed 3 time(s), --max-retries 2: ActorDiedError: gone")
    assert outcome.status == "failed" and outcome.error.startswith("worker failed 3")
    (row,) = store.evaluations("died")
    assert row.status == "failed" and row.layout == "gla,attn" and row.error == outcome.error


BAD = [
    (["--sampler", "tune-bogus"], "unknown sampler 'tune-bogus'"),
    (["--device", "cuda", "--gpus-per-trial", "0"], "needs --gpus-per-trial above 0"),
    (["--gpus-per-trial", "0.5"], "needs --device cuda"),
    (["--gpus-per-trial", "1.5", "--device", "cuda"], "whole number"),
    (["--db", "sqlite:///:memory:"], "workers can open"),
]


@pytest.mark.parametrize("extra,needle", BAD)
def test_bad_ray_options_exit_2_with_one_line(cli, db, extra, needle):
    args = ["search", "--ray", "--study", "bad", *SPACE, *TINY]
    if "--db" not in extra:
        args += ["--db", db]
    r = cli(*args, *extra)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr


def test_tune_samplers_need_ray_and_resume_needs_a_study(cli, db):
    r = cli("search", "--study", "x", "--db", db, "--sampler", "tune-grid", *SPACE, *TINY)
    assert r.exit_code == 2 and "unknown sampler 'tune-grid'" in r.stderr
    r = cli("search", "--study", "nope", "--db", db, "--resume", *SPACE, *TINY)
    assert r.exit_code == 2 and "no study named 'nope'" in r.stderr


def test_a_twin_waits_for_the_trial_of_the_same_layout(tmp_path):
    """Two trials of one layout at once: the later one waits until the earlier one is settled (and then
    takes its result from the cache), so concurrency never trains a layout twice."""
    from nas.raytune.ledger import in_flight
    from nas.raytune.worker import _wait_for

    url = f"sqlite:///{tmp_path / 'twin.db'}"
    store = open_store(url)
    ledger = RaySearch(store, _settings("twin"), RaySettings()).ledger
    first, after = ledger.open_trial(layout="gdn*2", params={})
    assert after is None
    second, after = ledger.open_trial(layout="gdn*2", params={})
    other, other_after = ledger.open_trial(layout="gla*2", params={})
    assert after == first and other_after is None
    assert in_flight(ledger.study, "gdn*2", second) == first
    threading.Timer(1.0, lambda: ledger.study.tell(first, [0.5, 9.0, 100.0])).start()
    t0 = time.time()
    _wait_for(url, "twin", first)
    assert time.time() - t0 >= 0.9
    assert in_flight(ledger.study, "gdn*2", second) is None


def test_timeline_measures_how_parallel_a_search_ran():
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from nas.raytune.timeline import timeline

    t = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def ev(a, b, cached=None):
        return SimpleNamespace(started_at=t + timedelta(seconds=a), finished_at=t + timedelta(seconds=b),
                               wall_time_s=b - a, cached_from=cached)

    rows = [ev(0, 10), ev(1, 9), ev(2, 12), ev(3, 8), ev(10, 20), ev(11, 11.5, cached=1)]
    assert timeline(rows) == {"evaluations": 5, "max_concurrent": 4, "span_s": 20.0, "sum_wall_s": 43.0}


@pytest.mark.parametrize("sampler", ["random", "tune-random"])
def test_ray_counts_as_the_local_search_does(cli, db, ray_env, sampler):
    """Issue 16 on Ray: a layout the study has evaluated is a repeat (not trained, no row, not counted; the sampler
    is steered to a new one), and the search stops at the size of the space: a study of one trial, resumed with 6
    asked of a 2-layout space, finishes 2, as `studies` counts them. (The sampler restarts from its seed on resume,
    so Optuna's random sampler proposes the first layout again: a repeat.)"""
    args = ["search", "--ray", "--study", "c", "--db", db, "--sampler", sampler, "--mixers", "gdn",
            "--max-concurrent", 2, *SPACE, *TINY]
    assert cli(*args, "--trials", 1).exit_code == 0
    r = cli(*args, "--trials", 6)
    assert r.exit_code == 0, r.output
    assert "holds 2 layouts" in r.output and "2 trials finished, 1 this run" in r.output, r.output
    store = open_store(db)
    rows = _rows(store, "c")
    assert sorted(e.layout for e in rows) == ["gdn*2", "gdn,attn"] and all(e.status == "complete" for e in rows)
    assert [s.n_complete for s in store.list_studies() if s.name == "c"] == [2]
    study = optuna.load_study(study_name="c", storage=db)
    from nas.driver import REPEAT_OF, counted_trials

    assert len(counted_trials(study)) == 2
    numbers = {e.trial_number for e in rows}
    assert all(REPEAT_OF in t.user_attrs for t in study.trials if t.number not in numbers)
    if sampler == "random":
        assert [t.user_attrs["layout"] for t in study.trials if REPEAT_OF in t.user_attrs] == [rows[0].layout]
    assert cli(*args, "--trials", 6).exit_code == 0  # done: the same command runs nothing more
    assert len(_rows(open_store(db), "c")) == 2


def test_a_repeat_is_told_the_earlier_result_and_not_counted(tmp_path):
    from nas.driver import REPEAT_OF, counted_trials, proxy_settings
    from storage import proxy_key

    url = f"sqlite:///{tmp_path / 'rep.db'}"
    store = open_store(url)
    s = _settings("rep")
    ledger = RaySearch(store, s, RaySettings()).ledger
    settings = proxy_settings(s.budget, s.fidelity)
    first, _ = ledger.open_trial(layout="gdn*2", params={})
    eid = store.start_evaluation(study="rep", layout="gdn*2", n_layers=2, n_attention=0, proxy_key=proxy_key(settings),
                                 proxy=settings, seed=0, trial_number=first, device="cpu")
    store.finish_evaluation(eid, metrics={"recall": 0.5, "perplexity": 9.0, "flops": 100.0}, wall_time_s=1.0)
    assert ledger.settle(first).status == "complete"
    again, _ = ledger.open_trial(layout="gdn*2", params={})
    from nas.raytune.ledger import repeated

    assert repeated(ledger.study, "gdn*2").number == first and repeated(ledger.study, "gla*2") is None
    trial = ledger.trial(again)
    ledger.study._storage.set_trial_user_attr(trial._trial_id, REPEAT_OF, first)
    outcome = ledger.settle(again)
    assert outcome.status == "repeat" and outcome.values == [0.5, 9.0, 100.0]
    assert ledger.trial(again).values == [0.5, 9.0, 100.0]
    assert [t.number for t in counted_trials(ledger.study)] == [first]
    assert len(store.evaluations("rep")) == 1
