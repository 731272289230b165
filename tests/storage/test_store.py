"""The storage test case: every backend (see conftest.BACKENDS) must pass all of it."""

from __future__ import annotations

import dataclasses
import math
from datetime import timezone

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from storage import StorageError, StudyNotFound, proxy_key
from tests.storage.helpers import OBJECTIVES, PROXY, SPACE, make_study, start

KEY = proxy_key(PROXY)
METRICS = {"recall": 0.75, "perplexity": 31.5, "flops": 2.5e9, "params": 1_200_000, "state_bytes": 65536,
           "per_task": {"mqar_256": 0.9, "mqar_512": 0.6}}


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    return message


# -- studies ----------------------------------------------------------------------------------------------
def test_create_then_resume_returns_the_same_study(store):
    created = make_study(store)
    assert created.name == "demo" and created.space == SPACE and created.proxy == PROXY
    assert created.objectives == OBJECTIVES
    assert created.metrics == ["recall", "flops"] and created.directions == ["maximize", "minimize"]
    assert created.optuna_study_name == "demo"
    assert created.created_at.tzinfo == timezone.utc

    # Same settings, written differently (key order, 1.0 vs 1, tuple vs list): resumed, not re-created.
    resumed = store.create_or_resume_study(
        "demo",
        space={"ratio": (0, 0.5), "mixers": ["gdn", "gla", "attn"], "n_layers": 12.0},
        proxy={"tasks": {"mqar": {"kv": 16, "seq": 256}}, "lr": 1e-3, "steps": 200},
        objectives=[{"direction": "MAXIMIZE", "metric": "recall"}, {"metric": "flops", "direction": "minimize"}],
    )
    assert resumed == created
    assert store.get_study("demo") == created
    assert [s.name for s in store.list_studies()] == ["demo"]


def test_records_are_detached_copies(store):
    study = make_study(store)
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.name = "other"  # type: ignore[misc]
    study.proxy["steps"] = 1
    assert store.get_study("demo").proxy == PROXY


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"proxy": {**PROXY, "steps": 400}}, "proxy.steps: stored 200, given 400"),
        ({"proxy": {**PROXY, "tasks": {"mqar": {"seq": 512, "kv": 16}}}},
         "proxy.tasks.mqar.seq: stored 256, given 512"),
        ({"space": {k: v for k, v in SPACE.items() if k != "ratio"}}, "space.ratio: stored [0,0.5], not given"),
        ({"objectives": OBJECTIVES[:1]}, "objectives"),
        ({"objectives": [OBJECTIVES[0], {"metric": "flops", "direction": "maximize"}]},
         'objectives[1].direction: stored "minimize", given "maximize"'),
    ],
)
def test_resume_with_different_settings_is_refused_in_one_line(store, change, expected):
    original = make_study(store)
    with pytest.raises(StorageError) as caught:
        make_study(store, **change)
    message = one_line(caught.value)
    assert "'demo' already exists with different settings" in message and expected in message
    assert store.get_study("demo") == original


def test_missing_study_lists_the_existing_names(store):
    with pytest.raises(StudyNotFound, match="no studies yet") as caught:
        store.get_study("nope")
    one_line(caught.value)
    make_study(store, "alpha")
    make_study(store, "beta")
    with pytest.raises(StudyNotFound) as caught:
        store.get_study("gamma")
    message = one_line(caught.value)
    assert "'gamma'" in message and "'alpha', 'beta'" in message
    assert isinstance(caught.value, StorageError) and isinstance(caught.value, ValueError)
    for call in (lambda: store.evaluations("gamma"), lambda: store.reconcile("gamma"),
                 lambda: store.update_pareto("gamma"), lambda: start(store, study="gamma")):
        with pytest.raises(StudyNotFound, match="'alpha', 'beta'"):
            call()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"objectives": []},
        {"objectives": [{"metric": "recall"}]},
        {"objectives": [{"metric": "recall", "direction": "up"}]},
        {"objectives": [OBJECTIVES[0], OBJECTIVES[0]]},
        {"proxy": ["not", "a", "dict"]},
        {"space": {"bad": object()}},
        {"space": {1: "int key"}},
    ],
)
def test_bad_study_settings_are_refused(store, kwargs):
    with pytest.raises(StorageError) as caught:
        make_study(store, **kwargs)
    one_line(caught.value)
    assert store.list_studies() == []


def test_list_studies_counts(store):
    make_study(store, "a")
    make_study(store, "b")
    done = start(store, study="a")
    store.finish_evaluation(done, metrics=METRICS)
    store.fail_evaluation(start(store, study="a", layout="gla*8"), error="CUDA out of memory")
    start(store, study="a", layout="gdn,attn,gdn*2")
    store.update_pareto("a")
    a, b = store.list_studies()
    assert (a.name, a.n_complete, a.n_failed, a.n_running, a.n_pareto) == ("a", 1, 1, 1, 1)
    assert (b.name, b.n_complete, b.n_failed, b.n_running, b.n_pareto) == ("b", 0, 0, 0, 0)


# -- evaluations ---------------------------------------------------------------------------------------------
def test_start_and_finish_an_evaluation(store):
    make_study(store)
    eid = start(store, trial_number=7, seed=3, fidelity="low", device="cuda:0")
    (running,) = store.evaluations("demo")
    assert running.id == eid and running.status == "running" and running.metrics == {}
    assert running.finished_at is None and running.started_at.tzinfo == timezone.utc
    assert (running.layout, running.n_layers, running.n_attention) == ("(gdn*3,attn)*3", 12, 3)
    assert (running.trial_number, running.seed, running.fidelity, running.device) == (7, 3, "low", "cuda:0")
    assert running.proxy == PROXY and running.proxy_key == KEY and running.study == "demo"

    done = store.finish_evaluation(eid, metrics=METRICS, wall_time_s=12.5)
    assert done.status == "complete" and done.error is None and done.wall_time_s == 12.5
    assert done.metrics == METRICS
    assert (done.recall, done.perplexity, done.flops, done.params, done.state_bytes) == (
        0.75, 31.5, 2.5e9, 1_200_000.0, 65536.0)
    assert done.finished_at >= done.started_at
    assert store.get_evaluation(eid) == done
    assert store.evaluations("demo", status="complete") == [done]
    assert store.evaluations("demo", status="running") == []
    assert store.evaluations("demo", fidelity="low") == [done]
    assert store.evaluations("demo", fidelity="default") == []


def test_non_finite_metrics_round_trip(store):
    make_study(store)
    metrics = {"recall": 0.1, "perplexity": math.inf, "loss": math.nan, "curve": [1.0, -math.inf]}
    record = store.finish_evaluation(start(store), metrics=metrics)
    again = store.get_evaluation(record.id)
    assert again.perplexity == math.inf and again.metrics["perplexity"] == math.inf
    assert math.isnan(again.metrics["loss"]) and again.metrics["curve"] == [1.0, -math.inf]
    assert again.value("loss") is None and again.value("perplexity") == math.inf


def test_nan_in_a_metric_column_reads_back_as_none(store):
    make_study(store)
    record = store.finish_evaluation(start(store), metrics={"recall": math.nan, "flops": 1.0})
    assert record.recall is None and math.isnan(record.metrics["recall"])
    assert store.get_evaluation(record.id).recall is None


def test_fail_and_prune(store):
    make_study(store)
    failed = store.fail_evaluation(start(store), error="RuntimeError: boom", wall_time_s=0.5)
    assert (failed.status, failed.error, failed.wall_time_s) == ("failed", "RuntimeError: boom", 0.5)
    pruned = store.prune_evaluation(start(store, layout="gla*8"), metrics={"recall": 0.1})
    assert (pruned.status, pruned.recall) == ("pruned", 0.1)
    assert [e.status for e in store.evaluations("demo")] == ["failed", "pruned"]
    assert [e.status for e in store.evaluations("demo", status=["failed", "complete"])] == ["failed"]


def test_an_evaluation_ends_only_once(store):
    make_study(store)
    eid = start(store)
    store.finish_evaluation(eid, metrics=METRICS)
    for end in (lambda: store.finish_evaluation(eid, metrics=METRICS),
                lambda: store.fail_evaluation(eid, error="late")):
        with pytest.raises(StorageError, match="already complete") as caught:
            end()
        one_line(caught.value)
    with pytest.raises(StorageError, match="no evaluation with id 999"):
        store.finish_evaluation(999, metrics=METRICS)
    assert store.get_evaluation(eid).metrics == METRICS


def test_evaluation_outside_a_study(store):
    eid = start(store, study=None)
    record = store.finish_evaluation(eid, metrics=METRICS)
    assert record.study is None and record.trial_number is None


def test_candidates_are_shared_and_checked(store, raw):
    make_study(store)
    start(store)
    start(store, seed=1)
    with raw.connect() as conn:
        assert conn.execute(text("SELECT layout, n_layers, n_attention FROM hnas_candidates")).all() == [
            ("(gdn*3,attn)*3", 12, 3)]
    with pytest.raises(StorageError, match="stored with 12 layers and 3 attention layers") as caught:
        start(store, n_layers=12, n_attention=4)
    one_line(caught.value)


@pytest.mark.parametrize(
    "change",
    [{"n_layers": 0}, {"n_attention": -1}, {"n_layers": 2, "n_attention": 3}, {"seed": "0"}, {"seed": True},
     {"layout": ""}, {"proxy": None}, {"fidelity": ""}, {"trial_number": -1}, {"proxy": {"x": {1, 2}}}],
)
def test_bad_evaluation_arguments_are_refused(store, change):
    make_study(store)
    with pytest.raises(StorageError) as caught:
        start(store, **change)
    one_line(caught.value)
    assert store.evaluations("demo") == []


@pytest.mark.parametrize("metrics", [{"recall": "high"}, {"flops": [1, 2]}, {"recall": True}, {"x": object()}])
def test_bad_metrics_are_refused_and_the_evaluation_stays_running(store, metrics):
    make_study(store)
    eid = start(store)
    with pytest.raises(StorageError) as caught:
        store.finish_evaluation(eid, metrics=metrics)
    one_line(caught.value)
    assert store.get_evaluation(eid).status == "running"


# -- the cache -----------------------------------------------------------------------------------------------
def test_lookup_hits_only_a_complete_evaluation_with_the_same_layout_proxy_and_seed(store):
    make_study(store, "a")
    make_study(store, "b")
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0) is None
    running = start(store, study="a")
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0) is None
    store.fail_evaluation(running, error="x")
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0) is None

    done = store.finish_evaluation(start(store, study="a", fidelity="low"), metrics=METRICS)
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0) == done  # from any study
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0, fidelity="low") == done
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0, fidelity="default") is None
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=1) is None
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=proxy_key({**PROXY, "steps": 201}), seed=0) is None
    assert store.lookup(layout="gla*8", proxy_key=KEY, seed=0) is None

    # The most recent of several hits; an explicit proxy_key is what the cache matches on.
    later = store.finish_evaluation(start(store, study=None, fidelity="low"), metrics={**METRICS, "recall": 0.8})
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key=KEY, seed=0) == later
    custom = store.finish_evaluation(start(store, study="b", proxy_key="custom-key"), metrics=METRICS)
    assert store.lookup(layout="(gdn*3,attn)*3", proxy_key="custom-key", seed=0) == custom


def test_a_cache_hit_is_copied_into_a_study(store):
    make_study(store, "a")
    make_study(store, "b")
    source = store.finish_evaluation(start(store, study="a"), metrics=METRICS, wall_time_s=9.0)
    copy_id = store.copy_evaluation(source.id, study="b", trial_number=4)
    (copy,) = store.evaluations("b")
    assert copy.id == copy_id and copy.cached_from == source.id and copy.trial_number == 4
    assert (copy.status, copy.metrics, copy.recall, copy.layout, copy.proxy_key, copy.seed) == (
        "complete", METRICS, 0.75, source.layout, source.proxy_key, source.seed)
    assert store.lookup(layout=source.layout, proxy_key=KEY, seed=0) == source  # originals first
    assert [e.id for e in store.update_pareto("b")] == [copy_id]
    with pytest.raises(StorageError, match="only complete ones"):
        store.copy_evaluation(start(store, study="a", layout="gla*8"), study="b")


# -- crash recovery ------------------------------------------------------------------------------------------
def test_reconcile_marks_what_a_crashed_driver_left_running(store):
    make_study(store, "a")
    make_study(store, "b")
    first, second, third = (start(store, study="a", seed=s) for s in range(3))
    other = start(store, study="b")
    store.finish_evaluation(first, metrics=METRICS)

    assert store.reconcile("a") == 2
    statuses = {e.id: (e.status, e.error) for e in store.evaluations("a")}
    assert statuses == {first: ("complete", None), second: ("failed", "interrupted"),
                        third: ("failed", "interrupted")}
    assert store.get_evaluation(other).status == "running"  # another study's work is not ours to end
    assert store.reconcile("a") == 0
    assert store.evaluations("a", status="failed")[0].finished_at is not None

    # A worker that outlived its driver may still report: its result is kept.
    assert store.finish_evaluation(second, metrics=METRICS).status == "complete"
    assert store.get_evaluation(second).error is None


# -- atomicity -----------------------------------------------------------------------------------------------
def test_a_failing_operation_loses_nothing_already_stored(store, raw):
    make_study(store)
    kept = store.finish_evaluation(start(store), metrics=METRICS, wall_time_s=1.0)
    running = start(store, layout="gla*8", seed=5)
    front = store.update_pareto("demo")
    before = (store.list_studies(), store.evaluations("demo"), store.pareto("demo"))

    def boom(session, flush_context):
        raise RuntimeError("disk on fire")

    # Fail every write after its SQL has been sent but before it commits.
    event.listen(Session, "after_flush", boom)
    try:
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.finish_evaluation(running, metrics={"recall": 1.0, "flops": 1.0})
        with pytest.raises(RuntimeError):
            start(store, layout="gdn,attn,gdn*2")
        with pytest.raises(RuntimeError):
            store.copy_evaluation(kept.id, study="demo")
    finally:
        event.remove(Session, "after_flush", boom)

    # Caller mistakes in the middle of a transaction.
    with pytest.raises(StorageError):
        make_study(store, proxy={**PROXY, "steps": 1})
    with pytest.raises(StorageError):
        store.finish_evaluation(running, metrics={"recall": "not a number"})
    with pytest.raises(StudyNotFound):
        start(store, study="missing", layout="gdn,attn,gdn*2")

    assert (store.list_studies(), store.evaluations("demo"), store.pareto("demo")) == before
    assert store.pareto("demo") == front
    with raw.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM hnas_candidates")).scalar() == 2
        assert conn.execute(text("SELECT COUNT(*) FROM hnas_evaluations")).scalar() == 2

    # ... and the store still works.
    assert store.finish_evaluation(running, metrics={"recall": 1.0, "flops": 1.0}).status == "complete"
    assert [e.id for e in store.update_pareto("demo")] == [running]


def test_the_store_survives_being_reopened(open_db):
    first = open_db()
    make_study(first)
    eid = start(first)
    first.close()
    second = open_db()
    assert second.get_study("demo").proxy == PROXY
    assert second.get_evaluation(eid).status == "running"
    assert open_db().url == second.url
