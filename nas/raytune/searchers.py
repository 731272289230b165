"""What the driver hands Tune: the proposers (Ray's OptunaSearch over our space, or Tune's variant generator
over the native space, both writing to the ledger) and the callback that settles each ended trial."""

from __future__ import annotations

import sys
from typing import Any, Callable

from nas.driver import REPEAT_OF, SearchSettings, TrialOutcome, fresh_params
from nas.raytune.ledger import Ledger, in_flight, params_key, repeated, taken_layouts
from nas.samplers import make_sampler
from search_space.errors import SpaceError
from search_space.space import SearchSpace


class Propose:
    """OptunaSearch's define-by-run `space`: `SearchSpace.suggest` (constraints and repairs included), plus what
    the worker needs: the canonical layout, the Optuna trial number, and the in-flight trial of that layout.

    A proposal of a layout the study has evaluated already is a repeat, as in LocalSearch: marked `REPEAT_OF` (the
    worker does not train it, the ledger tells it the earlier result and does not count it), and a layout no trial
    has taken is queued for the next proposal while any is left."""

    def __init__(self, space: dict[str, Any], seed: int = 0, study: str = "") -> None:
        self.space, self.seed, self.study = space, seed, study

    def __call__(self, trial: Any) -> dict[str, Any]:
        from optuna.trial import TrialState

        space = SearchSpace.from_dict(self.space)
        layout = space.suggest(trial).canonical()
        trial.set_user_attr("layout", layout)
        earlier = repeated(trial.study, layout)
        if earlier is not None:
            trial.set_user_attr(REPEAT_OF, earlier.number)
            if not trial.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                params = fresh_params(space, self.seed, self.study, trial.number, taken_layouts(trial.study))
                if params is not None:
                    trial.study.enqueue_trial(params, user_attrs={"steered_from": layout})
        return {"layout": layout, "trial_number": trial.number, "after": in_flight(trial.study, layout, trial.number),
                "repeat_of": None if earlier is None else earlier.number}


def optuna_searcher(space: SearchSpace, settings: SearchSettings, url: str) -> Any:
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
        space=Propose(space.to_dict(), settings.seed, settings.study),
        metric=[o["metric"] for o in settings.objectives],
        mode=["max" if o["direction"] == "maximize" else "min" for o in settings.objectives],
        sampler=make_sampler(settings.sampler, settings.seed),
        study_name=settings.study,
        storage=RDBStorage(url),
    )


def variant_searcher(space: SearchSpace, ledger: Ledger, *, grid: bool, remaining: int, seed: int,
                      max_concurrent: int) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from search_space.tune_space import build_layout, choices

    names = list(choices(space))

    class LedgerVariants(BasicVariantGenerator):
        """Tune's BasicVariantGenerator over the native space; each trial it hands out gets an Optuna trial
        (number, layout, parameters) in the ledger, at most `remaining` of them; a grid skips the
        configurations the study has already finished, a random search the layouts it has taken (repeats)."""

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
                key = params_key(params)
                if key in self._skip:
                    self._live_trials.discard(trial.trial_id)
                    continue
                if grid:
                    self._skip.add(key)
                try:
                    layout: str | None = build_layout(space, params).canonical()
                except SpaceError:
                    layout = None
                if not grid and layout is not None and layout in taken_layouts(self._ledger.study):
                    self._live_trials.discard(trial.trial_id)  # a repeat: never proposed (LocalSearch steers)
                    continue
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


def settle_callback(ledger: Ledger, max_retries: int, on_settled: Callable[[TrialOutcome], None]) -> Any:
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
