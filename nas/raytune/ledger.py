"""The trial ledger: the study's Optuna trials (one per Tune trial), settled from our tables."""

from __future__ import annotations

import json
from typing import Any

from nas.driver import (INTERRUPTED, REPEAT_OF, SearchSettings, TrialOutcome, counted_trials, done_layouts,
                        merge_seeds, objective_values, proxy_settings)
from search_space.layout import Layout
from storage import Store, proxy_key


def interrupted(error: str | None) -> bool:
    return bool(error) and error.startswith(INTERRUPTED)


def params_key(params: dict[str, Any]) -> str:
    return json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True, default=str)


def repeated(study: Any, layout: str | None) -> Any | None:
    """The first counted finished trial of `study` that evaluated `layout` (then a new trial of it is a repeat, as
    in LocalSearch: not trained, not counted), or None."""
    return None if layout is None else done_layouts(counted_trials(study)).get(layout)


def taken_layouts(study: Any) -> set[str]:
    """Layouts of the counted finished trials and of those running or queued: what steering must avoid."""
    from optuna.trial import TrialState

    live = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    return set(done_layouts(counted_trials(study))) | {t.user_attrs.get("layout") for t in live} - {None}


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
                taken.add(params_key({n: params[n] for n in names}))
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

    def _settle_repeat(self, frozen: Any, layout: str | None) -> TrialOutcome:
        """A repeat (`REPEAT_OF`): told the earlier trial's result, as LocalSearch tells it, and not counted."""
        from optuna.trial import TrialState

        earlier = self.trial(int(frozen.user_attrs[REPEAT_OF]))
        if earlier is not None and earlier.state == TrialState.COMPLETE and earlier.values is not None:
            self.study.tell(frozen.number, list(earlier.values), skip_if_finished=True)
            return TrialOutcome(frozen.number, layout or "?", "repeat", list(earlier.values))
        import optuna

        reason = f"a repeat of trial {frozen.user_attrs[REPEAT_OF]}"
        optuna.trial.Trial(self.study, frozen._trial_id).set_user_attr("fail_reason", reason)
        self.study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
        return TrialOutcome(frozen.number, layout or "?", "repeat", None, reason)

    def settle(self, number: int, *, layout: str | None = None, died: str | None = None,
               reported: str | None = None) -> TrialOutcome | None:
        """Tell Optuna how trial `number` ended, as our tables say; None when it was already settled.

        Order: a complete evaluation of the trial for every seed (or, for a cache hit in this study, of its
        layout under the same proxy settings and seed) -> COMPLETE with the seed means; a failed one -> FAIL
        with its error; `died` (the worker died `max_retries + 1` times) -> its `running` rows failed with
        that reason and FAIL; `reported` (the worker said why, with nothing stored) -> FAIL; otherwise the
        trial was interrupted (FAIL "interrupted") and a later trial runs it again. A repeat (a layout the study
        had evaluated already, marked `REPEAT_OF` when proposed or by its worker) gets the earlier trial's result
        and status "repeat", and counts for nothing.
        """
        import optuna
        from optuna.trial import TrialState

        frozen = self.trial(number)
        if frozen is None or frozen.state != TrialState.RUNNING:
            return None
        layout = layout or frozen.user_attrs.get("layout")
        if REPEAT_OF in frozen.user_attrs:
            return self._settle_repeat(frozen, layout)
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
            final = [e for e in rows if e.status in ("failed", "pruned") and not interrupted(e.error)]
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
