"""One trial, in a Ray actor: build and check the layout, wait for an in-flight twin, evaluate into the
database (or reuse the cache), report what happened."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from nas.driver import INTERRUPTED, REPEAT_OF, SearchSettings
from nas.raytune.ledger import interrupted, record_failed
from nas.raytune.settings import PID_DIR_ENV, POLL_S
from search_space.errors import SpaceError
from search_space.layout import Layout
from search_space.space import SearchSpace
from storage import Store


def run_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """One trial, in a Ray actor: build and check the layout, wait for an in-flight twin, evaluate into the
    database (or reuse the cache), report what happened. Our tables are the record; the report is a courtesy."""
    from ray import tune

    from proxies.budget import Budget
    from storage import open_store

    s = SearchSettings(
        study=ctx["study"], space=SearchSpace.from_dict(ctx["space"]), budget=Budget.from_dict(ctx["budget"]),
        objectives=ctx["objectives"], sampler=ctx["sampler"], seed=ctx["seed"], device=ctx["device"],
        fidelity=ctx["fidelity"], seeds=ctx["seeds"],
    )
    store = open_store(ctx["url"])
    try:
        _run_trial(tune, store, s, config, native=ctx["native"], url=ctx["url"])
    finally:
        store.close()  # an actor serves several trials (reuse_actors): no connections left behind


def _run_trial(tune: Any, store: Store, s: SearchSettings, config: dict[str, Any], *, native: bool, url: str) -> None:
    from nas.driver import evaluate_seeds
    from search_space.tune_space import build_layout, layout_from_params

    number = int(config["trial_number"])
    attempt = _close_dead_attempts(store, s.study, number)
    _write_pid(number)
    layout, error = None, None
    if native:
        params = {k: v for k, v in config.items() if k not in ("trial_number", "layout", "after")}
        try:
            layout = layout_from_params(s.space, params)
        except SpaceError as exc:
            error = f"rejected: {exc}"
            try:
                layout = build_layout(s.space, params)
            except SpaceError:
                layout = None
    else:
        layout = Layout.parse(config["layout"])
    if error is not None or layout is None:  # rejected: recorded failed with the reason, never trained
        error = error or "the configuration describes no layout"
        if layout is not None and not any(e.error == error for e in _rows(store, s.study, number)):
            record_failed(store, s, layout=layout, trial_number=number, error=error, device=s.device)
        _report(tune, s, number, layout, "failed", {}, error, 0.0)
        return
    repeat = config.get("repeat_of") is not None  # the proposer saw the study had evaluated this layout
    if not repeat and config.get("after") is not None:
        _wait_for(url, s.study, int(config["after"]))
        repeat = _mark_if_repeat(url, s.study, number, layout.canonical())  # the twin it waited for evaluated it
    if repeat:  # as in LocalSearch: not trained, not counted; the ledger tells it the earlier result
        _report(tune, s, number, layout, "repeat", {}, None, 0.0, attempt=attempt)
        return
    status, metrics, error, wall = evaluate_seeds(store, s, layout, number)  # as LocalSearch runs a trial
    _report(tune, s, number, layout, status, metrics, error, wall, attempt=attempt)


def _rows(store: Store, study: str, number: int) -> list[Any]:
    return [e for e in store.evaluations(study) if e.trial_number == number]


def _close_dead_attempts(store: Store, study: str, number: int) -> int:
    """An earlier attempt of this trial whose worker died left its row `running`: mark it interrupted.
    Returns this attempt's number (1 for the first)."""
    rows = _rows(store, study, number)
    dead = [e for e in rows if e.status == "running"]
    for e in dead:
        store.fail_evaluation(e.id, error=f"{INTERRUPTED}: the worker died; the trial was retried")
    return 1 + sum(1 for e in rows if e.status == "running" or interrupted(e.error))


def _wait_for(url: str, study: str, owner: int) -> None:
    """Wait until trial `owner` (the same layout, in flight) is no longer RUNNING in the ledger."""
    import optuna
    from optuna.trial import TrialState

    s = optuna.load_study(study_name=study, storage=optuna.storages.RDBStorage(url))
    while True:
        t = [t for t in s.get_trials(deepcopy=False) if t.number == owner]
        if not t or t[0].state != TrialState.RUNNING:
            return
        time.sleep(POLL_S)


def _trial_of(study: Any, number: int) -> Any | None:
    return next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)


def _mark_if_repeat(url: str, study_name: str, number: int, layout: str) -> bool:
    """Mark trial `number` `REPEAT_OF` (and say so) when a counted trial of the study has evaluated `layout`."""
    import optuna

    from nas.raytune.ledger import repeated

    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name=study_name, storage=storage)
    earlier = repeated(study, layout)
    mine = _trial_of(study, number)
    if earlier is None or mine is None or earlier.number == number:
        return False
    storage.set_trial_user_attr(mine._trial_id, REPEAT_OF, earlier.number)
    return True


def _write_pid(number: int) -> None:
    where = os.environ.get(PID_DIR_ENV)
    if where:
        path = os.path.join(where, f"trial-{number}-pid-{os.getpid()}")
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)


def _report(tune: Any, s: SearchSettings, number: int, layout: Layout | None, status: str, metrics: dict,
            error: str | None, wall: float, attempt: int = 1) -> None:
    result: dict[str, Any] = {}
    for o in s.objectives:
        v = metrics.get(o["metric"])
        result[o["metric"]] = float(v) if isinstance(v, (int, float)) else math.nan
    result.update(status=status, error=error or "", trial_number=number,
                  layout=layout.canonical() if layout else "", wall_time_s=wall, attempt=attempt)
    tune.report(result)
