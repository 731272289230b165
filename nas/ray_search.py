"""The search on Ray Tune: each trial runs in a Ray actor with its own CPUs and (fractional) GPU, several at a
time (an actor serves one trial after another: `reuse_actors`).

    runner = RaySearch(store, settings, RaySettings(gpus_per_trial=0.25, max_concurrent=4))
    runner.run(on_trial=...)          # the same contract as nas.driver.LocalSearch

Who does what:
  * Proposals. Optuna samplers (tpe, nsga2, random) run inside Ray's `OptunaSearch`, driven by a define-by-run
    function that calls our `SearchSpace.suggest` (so the space's constraints and repairs hold). `tune-random`
    and `tune-grid` are Tune's `BasicVariantGenerator` over the native Tune space (search_space.tune_space);
    a proposal outside the space is recorded failed with the reason and never trained. `grid` means
    `tune-grid` here.
  * The trial ledger is the Optuna study of the same name in the same database, as for the local search: one
    Optuna trial per Tune trial, whatever proposed it, so `--trials` counts the same way (finished trials;
    interrupted ones are run again) and a study can move between `search` and `search --ray`.
  * Evaluations. Each worker calls `nas.driver.evaluate_into` against the same database (SQLite in WAL mode, or
    PostgreSQL for several machines): the cache lookup, the `running` row with its start time, the result.
  * Settling. The driver never trusts a worker's report or Tune's bookkeeping for the outcome of a trial: when
    Tune says a trial ended (or died for good, after `max_retries` retries) the driver reads our tables and
    tells Optuna what they say (`Ledger.settle`). A restarted driver does the same for every Optuna trial left
    RUNNING, so a trial whose evaluation finished while no driver listened is kept, not run again. Resuming
    builds a fresh Tune experiment from the database instead of `Tuner.restore`: a restored searcher
    replays its pickled Optuna trials against a study the database has moved past.
  * Duplicates. A layout proposed while the same layout is in flight waits for that trial and is then served
    from the cache; a layout already evaluated under the same proxy settings and seed is never trained again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from nas.driver import (INTERRUPTED, SearchSettings, TrialOutcome, counted_trials, objective_values,
                        proxy_settings)
from nas.errors import UsageError
from nas.samplers import SAMPLERS, make_sampler
from search_space.errors import SpaceError
from search_space.layout import Layout
from search_space.space import SearchSpace
from storage import Store, proxy_key

TUNE_SAMPLERS = ("tune-random", "tune-grid")
RAY_SAMPLERS = (*SAMPLERS, *TUNE_SAMPLERS)
PID_DIR_ENV = "HYBRID_NAS_RAY_PID_DIR"  # each trial attempt writes trial-<n>-pid-<pid> there (tests kill it)
OBJECT_STORE_ENV = "HYBRID_NAS_RAY_OBJECT_STORE_MB"  # the local Ray's object store (default 512 MB)
NUM_CPUS_ENV = "HYBRID_NAS_RAY_NUM_CPUS"  # CPUs of the local Ray (default: all)
NUM_GPUS_ENV = "HYBRID_NAS_RAY_NUM_GPUS"  # GPUs of the local Ray (default: what Ray detects)
TUNE_DIR_ENV = "HYBRID_NAS_TUNE_DIR"  # where Tune keeps its experiment folders (default ~/ray_results)
DEFAULT_OBJECT_STORE_MB = 512
POLL_S = 0.5


@dataclass(kw_only=True)
class RaySettings:
    address: str | None = None  # join this cluster; None: $RAY_ADDRESS (inside a Ray job), else a local Ray
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    max_concurrent: int = 4
    max_retries: int = 2  # retries of a trial whose worker died; then it is recorded failed
    storage_path: str | None = None  # Tune's experiment folders (default $HYBRID_NAS_TUNE_DIR or ~/ray_results)

    def check(self, device: str) -> None:
        if self.max_concurrent < 1:
            raise UsageError(f"--max-concurrent must be at least 1, got {self.max_concurrent}")
        if self.max_retries < 0:
            raise UsageError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.cpus_per_trial < 0 or self.gpus_per_trial < 0:
            raise UsageError("--cpus-per-trial and --gpus-per-trial must be 0 or more")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise UsageError(f"--gpus-per-trial above 1 must be a whole number, got {self.gpus_per_trial:g}")
        cuda = device.startswith("cuda")
        if cuda and self.gpus_per_trial == 0:
            raise UsageError("--device cuda with --ray needs --gpus-per-trial above 0 (e.g. 1 or 0.25)")
        if not cuda and self.gpus_per_trial > 0:
            raise UsageError(f"--gpus-per-trial {self.gpus_per_trial:g} needs --device cuda (got --device {device})")
        if self.cpus_per_trial == 0 and self.gpus_per_trial == 0:
            raise UsageError("a trial needs some resource: --cpus-per-trial or --gpus-per-trial above 0")


def worker_url(url: str) -> str:
    """The database URL as every process of the cluster must see it: a relative SQLite path made absolute
    (Tune runs each trial in its own folder); in-memory SQLite refused."""
    from storage import parse_url

    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return parsed.render_as_string(hide_password=False)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("uri"):
        raise UsageError(f"--ray needs a database the workers can open too, not {url!r}; use a SQLite file or "
                         "PostgreSQL")
    return parsed.set(database=os.path.abspath(database)).render_as_string(hide_password=False)


def check_ray_device(device: str) -> str:
    """A device string for Ray workers: cpu or cuda (each worker sees only its own GPUs, as cuda:0)."""
    if device == "cpu":
        return device
    if device == "cuda" or re.fullmatch(r"cuda:\d+", device):
        return "cuda"
    raise UsageError(f"unknown device {device!r}; valid: cpu, cuda")


# -- the ledger: Optuna's trials, settled from our tables --------------------------------------------------------
def _interrupted(error: str | None) -> bool:
    return bool(error) and error.startswith(INTERRUPTED)


def _params_key(params: dict[str, Any]) -> str:
    return json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True, default=str)


def in_flight(study: Any, layout: str, number: int) -> int | None:
    """The lowest-numbered other RUNNING trial of `study` evaluating `layout`, if any."""
    from optuna.trial import TrialState

    owners = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
              if t.number != number and t.user_attrs.get("layout") == layout]
    return min(owners) if owners else None


class Ledger:
    """The study's Optuna trials (one per Tune trial) and how each ended, read from our tables."""

    def __init__(self, store: Store, settings: SearchSettings, url: str) -> None:
        import optuna

        self.store, self.s, self.url = store, settings, url
        self.key = proxy_key(proxy_settings(settings.budget, settings.fidelity))
        self.study = optuna.create_study(
            study_name=settings.study, storage=optuna.storages.RDBStorage(url), load_if_exists=True,
            directions=[o["direction"] for o in settings.objectives],
        )

    # -- reading --------------------------------------------------------------------------------------------
    def trial(self, number: int) -> Any | None:
        for t in self.study.get_trials(deepcopy=False):
            if t.number == number:
                return t
        return None

    def finished(self) -> list[Any]:
        """Trials that count toward the target: interrupted ones are run again, so they do not."""
        return counted_trials(self.study)

    def taken_params(self, names: list[str]) -> set[str]:
        """Configurations (of the native space's parameter `names`) of the finished trials."""
        taken = set()
        for t in self.finished():
            params = t.user_attrs.get("params") or t.params
            if all(n in params for n in names):
                taken.add(_params_key({n: params[n] for n in names}))
        return taken

    def rows(self, number: int) -> list[Any]:
        return [e for e in self.store.evaluations(self.s.study) if e.trial_number == number]

    # -- writing --------------------------------------------------------------------------------------------
    def open_trial(self, *, layout: str | None, params: dict[str, Any]) -> tuple[int, int | None]:
        """A new RUNNING Optuna trial for a proposal made outside Optuna; (its number, the in-flight trial of
        the same layout or None)."""
        t = self.study.ask()
        t.set_user_attr("params", params)
        if layout is not None:
            t.set_user_attr("layout", layout)
        return t.number, (in_flight(self.study, layout, t.number) if layout is not None else None)

    def settle(self, number: int, *, layout: str | None = None, died: str | None = None,
               reported: str | None = None) -> TrialOutcome | None:
        """Tell Optuna how trial `number` ended, as our tables say; None when it was already settled.

        Order: a complete evaluation of the trial for every seed (or, for a cache hit in this study, of its
        layout under the same proxy settings and seed) -> COMPLETE with the seed means; a failed one -> FAIL
        with its error; `died` (the worker died `max_retries + 1` times) -> its `running` rows failed with
        that reason and FAIL; `reported` (the worker said why, with nothing stored) -> FAIL; otherwise the
        trial was interrupted (FAIL "interrupted") and a later trial runs it again.
        """
        import optuna
        from optuna.trial import TrialState

        frozen = self.trial(number)
        if frozen is None or frozen.state != TrialState.RUNNING:
            return None
        layout = layout or frozen.user_attrs.get("layout")
        rows = self.rows(number)
        runs, cached = [], True
        for seed in self.seeds():
            done = [e for e in rows if e.seed == seed and e.status == "complete"]
            hit = done[-1] if done else (self._lookup(layout, seed) if layout is not None else None)
            if hit is None:
                break
            runs.append(hit)
            cached = cached and (not done or done[-1].cached_from is not None)
        if len(runs) == len(self.seeds()):
            metrics = merge_seeds([dict(e.metrics) for e in runs])
            values = objective_values(metrics, self.s.objectives)
            if values is not None:
                self.study.tell(number, values, skip_if_finished=True)
                wall = 0.0 if cached else sum(e.wall_time_s or 0.0 for e in runs)
                return TrialOutcome(number, runs[0].layout, "cached" if cached else "complete", values, None, wall,
                                    metrics)
            reason = "an objective was missing or NaN"
        else:
            running = [e for e in rows if e.status == "running"]
            final = [e for e in rows if e.status in ("failed", "pruned") and not _interrupted(e.error)]
            if final and not running:
                reason = final[-1].error or final[-1].status
            elif died is not None:
                for e in running:
                    self.store.fail_evaluation(e.id, error=died)
                if not rows and layout is not None:
                    record_failed(self.store, self.s, layout=Layout.parse(layout), trial_number=number, error=died)
                reason = died
            elif reported:
                reason = reported
            else:
                reason = INTERRUPTED
        optuna.trial.Trial(self.study, frozen._trial_id).set_user_attr("fail_reason", reason)
        self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        return TrialOutcome(number, layout or "?", "failed", None, reason, 0.0)

    def seeds(self) -> list[int]:
        return [self.s.seed + k for k in range(max(1, self.s.seeds))]

    def reconcile(self) -> tuple[list[TrialOutcome], int]:
        """Settle every Optuna trial left RUNNING from our tables, then mark our rows left `running` failed
        "interrupted". Returns (the settled trials, how many rows were marked interrupted)."""
        from optuna.trial import TrialState

        settled = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            outcome = self.settle(t.number)
            if outcome is not None:
                settled.append(outcome)
        return settled, self.store.reconcile(self.s.study)

    def _lookup(self, layout: str, seed: int) -> Any | None:
        return self.store.lookup(layout=layout, proxy_key=self.key, seed=seed, fidelity=self.s.fidelity)


def merge_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of one trial over its seeds: numbers are the seed means (as LocalSearch reports them)."""
    if len(runs) == 1:
        return runs[0]
    merged = dict(runs[0])
    for key in runs[0]:
        vals = [r.get(key) for r in runs]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
            merged[key] = sum(vals) / len(vals)
    merged["seeds"] = len(runs)
    return merged


def record_failed(store: Store, s: SearchSettings, *, layout: Layout, trial_number: int, error: str,
                  device: str | None = None) -> int:
    """A failed evaluation row for a trial that was never trained (rejected, or its worker kept dying)."""
    settings = proxy_settings(s.budget, s.fidelity)
    eid = store.start_evaluation(
        study=s.study, layout=layout.canonical(), n_layers=layout.n_layers, n_attention=layout.n_attention,
        proxy_key=proxy_key(settings), proxy=settings, seed=s.seed, fidelity=s.fidelity, trial_number=trial_number,
        device=device,
    )
    store.fail_evaluation(eid, error=error, wall_time_s=0.0)
    return eid


# -- what the driver hands Tune ---------------------------------------------------------------------------------
class Propose:
    """OptunaSearch's define-by-run `space`: `SearchSpace.suggest` (constraints and repairs included), plus what
    the worker needs: the canonical layout, the Optuna trial number, and the in-flight trial of that layout."""

    def __init__(self, space: dict[str, Any]) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        layout = SearchSpace.from_dict(self.space).suggest(trial).canonical()
        trial.set_user_attr("layout", layout)
        return {"layout": layout, "trial_number": trial.number, "after": in_flight(trial.study, layout, trial.number)}


def _optuna_searcher(space: SearchSpace, settings: SearchSettings, url: str) -> Any:
    from optuna.storages import RDBStorage
    from ray.tune.search.optuna import OptunaSearch

    class LedgerOptunaSearch(OptunaSearch):
        """Ray's OptunaSearch whose trials the driver settles from our tables (`Ledger.settle`): it proposes
        and forgets; it never tells Optuna a worker's report."""

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            pass

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            self._completed_trials.add(trial_id)
            self._ot_trials.pop(trial_id, None)

    return LedgerOptunaSearch(
        space=Propose(space.to_dict()),
        metric=[o["metric"] for o in settings.objectives],
        mode=["max" if o["direction"] == "maximize" else "min" for o in settings.objectives],
        sampler=make_sampler(settings.sampler, settings.seed),
        study_name=settings.study,
        storage=RDBStorage(url),
    )


def _variant_searcher(space: SearchSpace, ledger: Ledger, *, grid: bool, remaining: int, seed: int,
                      max_concurrent: int) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from search_space.tune_space import build_layout, choices

    names = list(choices(space))

    class LedgerVariants(BasicVariantGenerator):
        """Tune's BasicVariantGenerator over the native space; each trial it hands out gets an Optuna trial
        (number, layout, parameters) in the ledger, at most `remaining` of them, and a grid skips the
        configurations the study has already finished."""

        def __init__(self) -> None:
            super().__init__(max_concurrent=max_concurrent, random_state=seed)
            self._ledger: Ledger | None = ledger
            self._left = remaining
            self._skip = ledger.taken_params(names) if grid else set()

        def next_trial(self) -> Any:
            while self._left > 0:
                trial = super().next_trial()
                if trial is None:
                    return None
                params = {n: trial.config[n] for n in names if n in trial.config}
                key = _params_key(params)
                if key in self._skip:
                    self._live_trials.discard(trial.trial_id)
                    continue
                if grid:
                    self._skip.add(key)
                try:
                    layout: str | None = build_layout(space, params).canonical()
                except SpaceError:
                    layout = None
                number, after = self._ledger.open_trial(layout=layout, params=params)
                trial.config.update(trial_number=number, layout=layout, after=after)
                self._left -= 1
                return trial
            self.set_finished()
            return None

        def get_state(self) -> Any:
            state = super().get_state()
            if state:
                state.pop("_ledger", None)
            return state

        def __getstate__(self) -> dict[str, Any]:
            state = self.__dict__.copy()
            for name in ("_ledger", "_trial_generator", "_trial_iter"):
                state.pop(name, None)
            return state

    return LedgerVariants()


def _settle_callback(ledger: Ledger, max_retries: int, on_settled: Callable[[TrialOutcome], None]) -> Any:
    from ray import tune

    class Settle(tune.Callback):
        """In the driver: when Tune says a trial ended, settle it from our tables."""

        def __init__(self) -> None:
            self.ledger: Ledger | None = ledger
            self.on_settled: Callable[[TrialOutcome], None] | None = on_settled

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            result = trial.last_result or {}
            self._settle(trial, reported=result.get("error") or None)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._settle(trial, died=_death_reason(trial, max_retries))

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            print(f"trial {trial.config.get('trial_number')}: its worker failed ({_error_line(trial)}); retrying "
                  f"({trial.num_failures} of {max_retries} retries)", file=sys.stderr, flush=True)

        def _settle(self, trial: Any, **kw: Any) -> None:
            number = trial.config.get("trial_number")
            if self.ledger is None or number is None:
                return
            outcome = self.ledger.settle(int(number), layout=trial.config.get("layout"), **kw)
            if outcome is not None and self.on_settled is not None:
                self.on_settled(outcome)

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "ledger": None, "on_settled": None}

    return Settle()


def _error_line(trial: Any) -> str:
    try:
        exc = trial.get_pickled_error()
    except Exception:  # noqa: BLE001 - the error file may be gone
        exc = None
    if exc is None:
        return "unknown error"
    cause = getattr(exc, "cause", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0].strip() if lines else ''}".strip()


def _death_reason(trial: Any, max_retries: int) -> str:
    attempts = trial.num_failures
    return f"worker failed {attempts} time(s), --max-retries {max_retries}: {_error_line(trial)}"


# -- the worker -------------------------------------------------------------------------------------------------
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
    from nas.driver import evaluate_into
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
    if config.get("after") is not None:
        _wait_for(url, s.study, int(config["after"]))
    runs, statuses, wall = [], [], 0.0
    for k in range(max(1, s.seeds)):  # as LocalSearch: seed, seed+1, ...; the first failure ends the trial
        status, metrics, error, seconds = evaluate_into(
            store, layout=layout, budget=s.budget, seed=s.seed + k, device=s.device, fidelity=s.fidelity,
            study=s.study, trial_number=number,
        )
        wall += seconds
        if status == "failed":
            _report(tune, s, number, layout, status, {}, error, wall, attempt=attempt)
            return
        runs.append(metrics)
        statuses.append(status)
    status = "cached" if all(st == "cached" for st in statuses) else "complete"
    _report(tune, s, number, layout, status, merge_seeds(runs), None, wall, attempt=attempt)


def _rows(store: Store, study: str, number: int) -> list[Any]:
    return [e for e in store.evaluations(study) if e.trial_number == number]


def _close_dead_attempts(store: Store, study: str, number: int) -> int:
    """An earlier attempt of this trial whose worker died left its row `running`: mark it interrupted.
    Returns this attempt's number (1 for the first)."""
    rows = _rows(store, study, number)
    dead = [e for e in rows if e.status == "running"]
    for e in dead:
        store.fail_evaluation(e.id, error=f"{INTERRUPTED}: the worker died; the trial was retried")
    return 1 + sum(1 for e in rows if e.status == "running" or _interrupted(e.error))


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


def _keep_sigterm() -> Callable[[], None]:
    """A function that puts back the SIGTERM handler of now."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _sigterm_as_interrupt() -> None:
    import signal
    import threading

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


# -- the driver -------------------------------------------------------------------------------------------------
class RaySearch:
    """One study on Ray Tune, with LocalSearch's contract: open (or resume) it in our tables and in Optuna's,
    reconcile what a dead driver left, then run Tune experiments until `trials` trials are finished."""

    def __init__(self, store: Store, settings: SearchSettings, ray: RaySettings) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if settings.sampler not in RAY_SAMPLERS:
            raise UsageError(f"unknown sampler {settings.sampler!r}; valid with --ray: {', '.join(RAY_SAMPLERS)}")
        ray.check(settings.device)
        settings.device = check_ray_device(settings.device)
        self.url = worker_url(store.sqlalchemy_url)
        self.store, self.s, self.r = store, settings, ray
        self.native = settings.sampler in TUNE_SAMPLERS or settings.sampler == "grid"
        self.grid = settings.sampler in ("tune-grid", "grid")
        self.record = store.create_or_resume_study(
            settings.study, space=settings.space.to_dict(), proxy=proxy_settings(settings.budget, settings.fidelity),
            objectives=settings.objectives,
        )
        self.ledger = Ledger(store, settings, self.url)
        settled, interrupted = self.ledger.reconcile()
        self.resettled = [o for o in settled if o.error != INTERRUPTED]  # finished while no driver listened
        self.reconciled = interrupted
        self._owns_ray = False

    def finished_trials(self) -> int:
        return len(self.ledger.finished())

    def target_trials(self) -> int:
        if self.grid:
            from search_space.tune_space import grid_size

            return min(self.s.trials, grid_size(self.s.space))
        return self.s.trials

    def run(self, on_trial: Callable[[TrialOutcome, int, int], None] | None = None) -> list[TrialOutcome]:
        outcomes: list[TrialOutcome] = []
        target = self.target_trials()

        def settled(outcome: TrialOutcome) -> None:
            outcomes.append(outcome)
            if outcome.status != "failed" or outcome.error != INTERRUPTED:
                self.store.update_pareto(self.s.study)
            if on_trial is not None:
                on_trial(outcome, self.finished_trials(), target)

        if self.finished_trials() >= target:
            return outcomes
        restore = _keep_sigterm()
        try:
            self._start_ray()  # (ray.init installs its own SIGTERM handler, so ours goes in after it)
            _sigterm_as_interrupt()  # `hybrid-nas jobs stop` sends SIGTERM: reconcile as for Ctrl-C
            while (left := target - self.finished_trials()) > 0:
                before = self.finished_trials()
                self._run_tune(left, settled)
                for outcome in self.ledger.reconcile()[0]:
                    settled(outcome)
                if self.finished_trials() <= before:
                    if self.grid:
                        break  # every configuration of the grid has been taken
                    raise RuntimeError(f"a Ray Tune run of study {self.s.study!r} finished no trial; see the "
                                       f"trials' error files under {self._storage_path()}")
        except KeyboardInterrupt:
            self._stop_ray()  # the workers first, then the record
            self.ledger.reconcile()
            raise
        finally:
            self._stop_ray()
            restore()
        self.store.update_pareto(self.s.study)
        return outcomes

    # -- Tune --------------------------------------------------------------------------------------------------
    def _run_tune(self, left: int, on_settled: Callable[[TrialOutcome], None]) -> None:
        from ray import tune

        os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C raises here; run() reconciles
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        ctx = {
            "url": self.url, "study": self.s.study, "space": self.s.space.to_dict(), "budget": self.s.budget.to_dict(),
            "objectives": self.s.objectives, "sampler": self.s.sampler, "seed": self.s.seed, "device": self.s.device,
            "fidelity": self.s.fidelity, "seeds": self.s.seeds, "native": self.native,
        }
        resources = {"cpu": self.r.cpus_per_trial, "gpu": self.r.gpus_per_trial}
        trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), resources)
        param_space: dict[str, Any] = {}
        if self.native:
            from search_space.tune_space import param_space as native_space

            param_space = native_space(self.s.space, grid=self.grid)
            search_alg = _variant_searcher(
                self.s.space, self.ledger, grid=self.grid, remaining=left,
                seed=self.s.seed + self.finished_trials(), max_concurrent=self.r.max_concurrent,
            )
            tune_config = tune.TuneConfig(search_alg=search_alg, num_samples=1 if self.grid else left,
                                          reuse_actors=True)
        else:
            search_alg = _optuna_searcher(self.s.space, self.s, self.url)
            tune_config = tune.TuneConfig(search_alg=search_alg, num_samples=left,
                                          max_concurrent_trials=self.r.max_concurrent, reuse_actors=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_config = tune.RunConfig(
            name=f"hybrid-nas-{re.sub(r'[^A-Za-z0-9_.-]+', '_', self.s.study)}-{stamp}-{os.getpid()}",
            storage_path=self._storage_path(), verbose=0,
            failure_config=tune.FailureConfig(max_failures=self.r.max_retries),
            callbacks=[_settle_callback(self.ledger, self.r.max_retries, on_settled)],
        )
        tuner = tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)
        tuner.fit()

    def _storage_path(self) -> str:
        path = self.r.storage_path or os.environ.get(TUNE_DIR_ENV) or os.path.expanduser("~/ray_results")
        return os.path.abspath(path)

    # -- Ray ---------------------------------------------------------------------------------------------------
    def _start_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        address = self.r.address or os.environ.get("RAY_ADDRESS")
        common = {"logging_level": logging.WARNING, "log_to_driver": True}
        if address:
            kw: dict[str, Any] = {}
            if self.r.address:  # joining from outside a Ray job: ship this project to the workers
                from nas.cluster import project_runtime_env

                kw["runtime_env"] = project_runtime_env()
            ray.init(address=address, **common, **kw)
        else:
            cpus, gpus = os.environ.get(NUM_CPUS_ENV), os.environ.get(NUM_GPUS_ENV)
            mb = float(os.environ.get(OBJECT_STORE_ENV) or DEFAULT_OBJECT_STORE_MB)
            ray.init(address="local", num_cpus=int(cpus) if cpus else None, num_gpus=int(gpus) if gpus else None,
                     object_store_memory=int(mb * 2**20), include_dashboard=False, **common)
        self._owns_ray = True
        self._check_resources(local=not address)

    def _check_resources(self, *, local: bool) -> None:
        import ray

        total = ray.cluster_resources()
        missing = []
        if self.r.gpus_per_trial > total.get("GPU", 0):
            missing.append(f"{self.r.gpus_per_trial:g} GPU per trial, the cluster has {total.get('GPU', 0):g}")
        if self.r.cpus_per_trial > total.get("CPU", 0):
            missing.append(f"{self.r.cpus_per_trial:g} CPUs per trial, the cluster has {total.get('CPU', 0):g}")
        if missing:
            text = "; ".join(missing)
            if local:
                self._stop_ray()
                raise UsageError(f"the local Ray cannot run a trial ({text}); lower --gpus-per-trial/--cpus-per-trial "
                                 "or join a cluster with --address")
            print(f"warning: {text}; trials wait until the cluster has them", file=sys.stderr, flush=True)

    def _stop_ray(self) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False


def timeline(evaluations: list[Any]) -> dict[str, float]:
    """How parallel a search ran, from the start and end times our tables record: the most evaluations
    running at once, the span from the first start to the last end, and the sum of their wall times."""
    spans = [(e.started_at.timestamp(), e.finished_at.timestamp()) for e in evaluations
             if e.finished_at is not None and e.cached_from is None and e.wall_time_s]
    if not spans:
        return {"evaluations": 0, "max_concurrent": 0, "span_s": 0.0, "sum_wall_s": 0.0}
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return {"evaluations": len(spans), "max_concurrent": peak,
            "span_s": max(b for _, b in spans) - min(a for a, _ in spans),
            "sum_wall_s": sum(e.wall_time_s for e in evaluations if e.finished_at is not None
                              and e.cached_from is None and e.wall_time_s)}
