"""The local search loop: Optuna proposes, the proxy judges, the database remembers.

Our tables are the record of truth. Optuna's tables share the database (so optuna-dashboard opens it), and a
restarted search reconciles Optuna against our tables: trials a dead driver left RUNNING are failed, and the
same command continues until `trials` trials of the study are finished.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from nas.errors import UsageError
from nas.samplers import make_sampler
from proxies.budget import Budget
from search_space.layout import Layout
from search_space.space import SearchSpace
from storage import INTERRUPTED, Store, proxy_key


@dataclass(kw_only=True)
class SearchSettings:
    study: str
    space: SearchSpace
    budget: Budget
    objectives: list[dict[str, str]]
    sampler: str = "tpe"
    trials: int = 8
    seed: int = 0
    device: str = "cpu"
    fidelity: str = "default"
    seeds: int = 1  # evaluate each layout with seed, seed+1, ...; the objectives are the seed means
    teacher: dict[str, Any] | None = None  # {"path", "hash"}: layouts are students of this teacher (proxies.teacher)


@dataclass
class TrialOutcome:
    trial: int
    layout: str
    status: str  # complete | failed | cached
    values: list[float] | None = None
    error: str | None = None
    wall_time_s: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


def proxy_settings(budget: Budget, fidelity: str = "default", teacher: dict[str, Any] | None = None) -> dict[str, Any]:
    """What makes two evaluations comparable (the cache key, with layout and seed); a student's includes its
    teacher (path and content hash), so students of different teachers never share a key."""
    out = {"budget": budget.key_dict(), "fidelity": fidelity}
    if teacher:
        out["teacher"] = {"path": teacher["path"], "hash": teacher["hash"]}
    return out


def failure_reason(exc: BaseException) -> str:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return "out of GPU memory: " + str(exc).splitlines()[0]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def evaluate_into(store: Store, *, layout: Layout, budget: Budget, seed: int, device: str, fidelity: str,
                  study: str | None, trial_number: int | None,
                  progress: Callable[[str, int, float], None] | None = None,
                  teacher: dict[str, Any] | None = None,
                  on_failure: Callable[[BaseException], None] | None = None,
                  ) -> tuple[str, dict[str, Any], str | None, float]:
    """Evaluate `layout` (or reuse a cached evaluation under the same proxy settings) and record it.
    With `teacher` ({"path", "hash"}) the layout is a student of that checkpoint (proxies.teacher.score).
    `on_failure` is handed the exception of a failed evaluation once it is recorded (e.g. to print its traceback).

    Returns (status, metrics, error, wall_time_s); status is complete, cached or failed.
    """
    if teacher:
        from proxies.teacher.score import evaluate_student

        def evaluate(layout: Layout, budget: Budget, **kw: Any) -> Any:
            return evaluate_student(layout, teacher["path"], budget, **kw)
    else:
        from proxies.evaluate import evaluate

    settings = proxy_settings(budget, fidelity, teacher)
    key = proxy_key(settings)
    canonical = layout.canonical()
    hit = store.lookup(layout=canonical, proxy_key=key, seed=seed, fidelity=fidelity)
    if hit is not None:
        if study is not None and hit.study != study:
            store.copy_evaluation(hit.id, study=study, trial_number=trial_number)
        return "cached", dict(hit.metrics), None, 0.0
    eid = _start(store, layout, key, settings, seed, fidelity, study, trial_number, device)
    t0 = time.perf_counter()
    try:
        m = evaluate(layout, budget, device=device, seed=seed, progress=progress)
    except KeyboardInterrupt:
        store.fail_evaluation(eid, error=INTERRUPTED, wall_time_s=time.perf_counter() - t0)
        raise
    except Exception as exc:  # a failed trial is recorded and the search goes on
        reason = failure_reason(exc)
        wall = time.perf_counter() - t0
        points = [p.to_dict() for p in getattr(exc, "points", ())]  # a sweep whose every point diverged
        store.fail_evaluation(eid, error=reason, wall_time_s=wall, sweep=points)
        _free_cuda()
        if on_failure is not None:
            on_failure(exc)
        return "failed", {}, reason, wall
    metrics = m.to_dict()
    metrics.update(m.extra.get("recall_tasks", {}))  # per-task recall scores as metrics of their own
    metrics.update(m.extra.get("teacher_scores", {}))  # a student's kl, probe scores and its teacher's
    store.finish_evaluation(eid, metrics=metrics, wall_time_s=m.wall_time_s, sweep=m.sweep)
    return "complete", metrics, None, m.wall_time_s


def _start(store, layout, key, settings, seed, fidelity, study, trial_number, device) -> int:
    return store.start_evaluation(
        study=study, layout=layout.canonical(), n_layers=layout.n_layers, n_attention=layout.n_attention,
        proxy_key=key, proxy=settings, seed=seed, fidelity=fidelity, trial_number=trial_number, device=device,
    )


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def objective_values(metrics: dict[str, Any], objectives: list[dict[str, str]]) -> list[float] | None:
    values = []
    for o in objectives:
        v = metrics.get(o["metric"])
        if not isinstance(v, (int, float)) or math.isnan(float(v)):
            return None
        values.append(float(v))
    return values


def evaluate_seeds(store: Store, s: SearchSettings, layout: Layout, trial_number: int,
                   ) -> tuple[str, dict[str, Any], str | None, float]:
    """Evaluate one trial's layout with seed, seed+1, ... (each run stored; the first failure ends the trial) and
    return (status, the seed means, error, wall seconds); status is cached only when every seed was. The local
    search and the Ray worker both run a trial this way."""
    runs, statuses, total = [], [], 0.0
    for k in range(max(1, s.seeds)):
        status, metrics, error, wall = evaluate_into(
            store, layout=layout, budget=s.budget, seed=s.seed + k, device=s.device, fidelity=s.fidelity,
            study=s.study, trial_number=trial_number, teacher=s.teacher,
        )
        total += wall
        if status == "failed":
            return status, {}, error, total
        runs.append(metrics)
        statuses.append(status)
    status = "cached" if all(st == "cached" for st in statuses) else "complete"
    return status, merge_seeds(runs), None, total


def merge_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of one trial over its seeds: numbers are the seed means, plus `seeds` (their count); one run
    is returned as it is. The local search and the Ray ledger and worker all merge this way."""
    if len(runs) == 1:
        return runs[0]
    merged = dict(runs[0])
    for key in runs[0]:
        vals = [r.get(key) for r in runs]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
            merged[key] = sum(vals) / len(vals)
    merged["seeds"] = len(runs)
    return merged


def counted_trials(study: Any) -> list[Any]:
    """An Optuna study's finished trials that count toward `--trials` (interrupted ones are run again)."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED))
    return [t for t in done if t.user_attrs.get("fail_reason") != INTERRUPTED and REPEAT_OF not in t.user_attrs]


REPEAT_OF = "repeat_of"  # user attr of a trial whose sampler proposed a layout the study had evaluated already
RERUN_OF = "rerun_of"  # user attr of a trial enqueued to run an interrupted trial's layout again
SPACE_SIZE_LIMIT = 20_000  # spaces up to this size are enumerated to steer a repeating sampler


class _Recorder:
    """A stand-in for an Optuna trial that picks every categorical at random and remembers the picks, so a
    layout of the space comes with the parameters that make `SearchSpace.suggest` propose it."""

    def __init__(self, rng: Any) -> None:
        self.rng, self.params = rng, {}

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        self.params[name] = self.rng.choice(list(choices))
        return self.params[name]


def fresh_params(space: SearchSpace, seed: int, study: str, number: int, taken: set[str], *,
                 grid: list[str] | None = None, space_size: int | None = None) -> dict[str, Any] | None:
    """Parameters of a layout of the space that is not in `taken` (canonical layouts): chosen from the whole space
    when it is small enough to enumerate (or from `grid`, a grid search's layouts, as {"layout": ...}), else
    random draws. None when none is left (or found). Both searches steer a repeating sampler with it."""
    import random

    rng = random.Random(f"{seed}/{study}/{number}")
    if grid is not None:
        left = [layout for layout in grid if layout not in taken]
        return {"layout": rng.choice(left)} if left else None
    size = space.grid_size() if space_size is None else space_size
    if size <= SPACE_SIZE_LIMIT:
        left = [layout for layout in space.grid() if layout.canonical() not in taken]
        return space.params_of(rng.choice(left)) if left else None
    for _ in range(2_000):
        rec = _Recorder(rng)
        if space.suggest(rec).canonical() not in taken:
            return rec.params
    return None


def done_layouts(trials: list[Any]) -> dict[str, Any]:
    """Layout -> the first of `trials` (counted, finished) that evaluated it."""
    out: dict[str, Any] = {}
    for t in trials:
        layout = t.user_attrs.get("layout")
        if layout is not None:
            out.setdefault(layout, t)
    return out


class LocalSearch:
    """One study: open (or resume) it in our tables and in Optuna's, then run trials one after another."""

    def __init__(self, store: Store, settings: SearchSettings) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.store, self.s = store, settings
        self.record = store.create_or_resume_study(
            settings.study, space=settings.space.to_dict(),
            proxy=proxy_settings(settings.budget, settings.fidelity, settings.teacher),
            objectives=settings.objectives,
        )
        self.reconciled = store.reconcile(settings.study)
        self.grid = None
        if settings.sampler == "grid":
            self.grid = [layout.canonical() for layout in settings.space.grid()]
        sampler = make_sampler(settings.sampler, settings.seed)
        self.optuna_storage = optuna.storages.RDBStorage(store.sqlalchemy_url)
        self.study = optuna.create_study(
            study_name=settings.study, storage=self.optuna_storage, sampler=sampler, load_if_exists=True,
            directions=[o["direction"] for o in settings.objectives],
        )
        self._fail_stale_optuna_trials()
        self.space_size = len(self.grid) if self.grid is not None else settings.space.grid_size()
        self.requeued = self._requeue_interrupted()
        self.exhausted: str | None = None
        self._repeats = 0  # repeats told this run (a guard: steering that keeps failing ends the search)

    def _waiting(self) -> list[Any]:
        from optuna.trial import TrialState

        return self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))

    def _done_layouts(self) -> dict[str, Any]:
        """Layout -> the first finished trial that evaluated it (interrupted and repeated trials excluded)."""
        return done_layouts(self._finished())

    def _requeue_interrupted(self) -> int:
        """Enqueue the layout of every interrupted trial not evaluated since, whatever the sampler: a sampler
        restarted from its seed would not propose it again. Returns how many were queued."""
        from optuna.trial import TrialState

        done = self._done_layouts()
        queued = {t.user_attrs.get("layout") for t in self._waiting()}
        n = 0
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
            layout = t.user_attrs.get("layout")
            if t.user_attrs.get("fail_reason") != INTERRUPTED or not layout or not t.params:
                continue
            if layout in done or layout in queued:
                continue
            self.study.enqueue_trial(dict(t.params), user_attrs={"layout": layout, RERUN_OF: t.number})
            queued.add(layout)
            n += 1
        return n

    def _fresh_params(self, number: int, taken: set[str]) -> dict[str, Any] | None:
        return fresh_params(self.s.space, self.s.seed, self.s.study, number, taken, grid=self.grid,
                            space_size=self.space_size)

    def _fail_stale_optuna_trials(self) -> None:
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.optuna_storage.set_trial_user_attr(t._trial_id, "fail_reason", INTERRUPTED)
            self.optuna_storage.set_trial_state_values(t._trial_id, TrialState.FAIL)

    def finished_trials(self) -> int:
        """Trials that count toward the target: interrupted ones are run again, so they do not."""
        return len(self._finished())

    def _finished(self) -> list[Any]:
        return counted_trials(self.study)

    def target_trials(self) -> int:
        """`--trials`, or the number of layouts in the space when it holds fewer (each is evaluated once)."""
        return min(self.s.trials, self.space_size)

    def _enqueue_next_grid_point(self) -> None:
        """Queue the first grid layout (in the grid's order) that no finished or queued trial has taken."""
        from optuna.trial import TrialState

        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        taken = {t.params.get("layout") or t.user_attrs.get("layout") for t in self._finished() + waiting}
        for layout in self.grid or []:
            if layout not in taken:
                self.study.enqueue_trial({"layout": layout}, skip_if_exists=True)
                return

    def propose(self, trial: Any) -> Layout:
        if self.grid is not None:
            return Layout.parse(trial.suggest_categorical("layout", self.grid))
        return self.s.space.suggest(trial)

    def _evaluate_seeds(self, layout: Layout, trial_number: int) -> tuple[str, dict[str, Any], str | None, float]:
        return evaluate_seeds(self.store, self.s, layout, trial_number)

    def run(self, on_trial: Callable[[TrialOutcome, int, int], None] | None = None) -> list[TrialOutcome]:
        from optuna.trial import TrialState

        outcomes = []
        target = self.target_trials()
        while self.finished_trials() < target and self.exhausted is None:
            if self.grid is not None:
                self._enqueue_next_grid_point()
            trial = self.study.ask()
            try:
                layout = self.propose(trial)
                trial.set_user_attr("layout", layout.canonical())
                if self._repeat(trial, layout):
                    continue
                status, metrics, error, wall = self._evaluate_seeds(layout, trial.number)
            except KeyboardInterrupt:
                trial.set_user_attr("fail_reason", INTERRUPTED)
                self.study.tell(trial, state=TrialState.FAIL)
                raise
            values = objective_values(metrics, self.s.objectives) if status != "failed" else None
            if values is None:
                error = error or "an objective was missing or NaN"
                trial.set_user_attr("fail_reason", error)
                self.study.tell(trial, state=TrialState.FAIL)
                outcome = TrialOutcome(trial.number, layout.canonical(), "failed", None, error, wall)
            else:
                self.study.tell(trial, values)
                outcome = TrialOutcome(trial.number, layout.canonical(), status, values, None, wall, metrics)
            self.store.update_pareto(self.s.study)
            outcomes.append(outcome)
            if on_trial is not None:
                on_trial(outcome, self.finished_trials(), target)
        return outcomes

    def _repeat(self, trial: Any, layout: Layout) -> bool:
        """A proposal of a layout this study has evaluated already: tell the sampler its known result, do not
        count it, and queue a layout the study has not evaluated (sets `exhausted` when none is left)."""
        from optuna.trial import TrialState

        done = self._done_layouts()
        earlier = done.get(layout.canonical())
        if earlier is None:
            return False
        trial.set_user_attr(REPEAT_OF, earlier.number)
        self._repeats += 1
        if earlier.state == TrialState.COMPLETE and earlier.values is not None:
            self.study.tell(trial, list(earlier.values))
        else:
            self.study.tell(trial, state=TrialState.FAIL)
        waiting = self._waiting()
        if waiting:
            return True  # a queued trial comes next anyway
        taken = set(done)
        params = self._fresh_params(trial.number, taken) if self._repeats <= 1_000 else None
        if params is None:
            self.exhausted = (f"the search space has no layout left that study {self.s.study!r} has not "
                              f"evaluated ({len(done)} evaluated)")
        else:
            self.study.enqueue_trial(params, user_attrs={"steered_from": layout.canonical()})
        return True


def check_device(device: str) -> str:
    import torch

    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: no CUDA device is visible here; use --device cpu")
        return device
    raise UsageError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N")
