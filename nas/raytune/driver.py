"""The driver of a search on Ray Tune: `RaySearch`, with `nas.driver.LocalSearch`'s contract."""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import datetime
from typing import Any, Callable

from nas.driver import INTERRUPTED, SearchSettings, TrialOutcome, proxy_settings
from nas.errors import UsageError
from nas.raytune.ledger import Ledger
from nas.raytune.searchers import optuna_searcher, settle_callback, variant_searcher
from nas.raytune.settings import (DEFAULT_OBJECT_STORE_MB, NUM_CPUS_ENV, NUM_GPUS_ENV, OBJECT_STORE_ENV, RAY_SAMPLERS,
                                  TUNE_DIR_ENV, TUNE_SAMPLERS, RaySettings, check_ray_device, worker_url)
from nas.raytune.worker import run_trial
from storage import Store


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
        # finished while no driver listened (repeats count for nothing)
        self.resettled = [o for o in settled if o.error != INTERRUPTED and o.status != "repeat"]
        self.reconciled = interrupted
        self._owns_ray = False
        self.exhausted: str | None = None

    def finished_trials(self) -> int:
        return len(self.ledger.finished())

    def target_trials(self) -> int:
        """`--trials`, or the size of the space when it holds fewer (each layout is evaluated once), as in
        LocalSearch: the native space's configurations for Tune's own samplers, the layouts for Optuna's."""
        if self.native:
            from search_space.tune_space import grid_size

            return min(self.s.trials, grid_size(self.s.space))
        return min(self.s.trials, self.s.space.grid_size())

    def run(self, on_trial: Callable[[TrialOutcome, int, int], None] | None = None) -> list[TrialOutcome]:
        outcomes: list[TrialOutcome] = []
        target = self.target_trials()

        def settled(outcome: TrialOutcome) -> None:
            if outcome.status == "repeat":
                return  # a layout the study had evaluated: told its result, not counted (LocalSearch's rule)
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
            repeat_rounds = 0  # Tune runs that proposed only repeats (a guard: steering that keeps failing ends it)
            while (left := target - self.finished_trials()) > 0:
                before = self.finished_trials()
                before_number = len(self.ledger.study.get_trials(deepcopy=False))
                self._run_tune(left, settled)
                for outcome in self.ledger.reconcile()[0]:
                    settled(outcome)
                if self.finished_trials() <= before:
                    if self.grid:
                        break  # every configuration of the grid has been taken
                    steered = self._only_repeats(before_number)
                    if steered is not None:
                        repeat_rounds += 1
                        if steered and repeat_rounds <= 100:
                            continue  # a layout no trial has taken is queued: the next run proposes it
                        self.exhausted = (f"the search space has no layout left that study {self.s.study!r} has "
                                          f"not evaluated ({self.finished_trials()} evaluated)")
                        break
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

    def _only_repeats(self, first: int) -> bool | None:
        """None unless the trials from number `first` on were all repeats or queued ones (or none was proposed:
        the proposers found no layout left); then whether a steered layout is queued for the next run."""
        from optuna.trial import TrialState

        from nas.driver import REPEAT_OF

        new = self.ledger.study.get_trials(deepcopy=False)[first:]
        if not all(REPEAT_OF in t.user_attrs or t.state == TrialState.WAITING for t in new):
            return None
        return any(t.state == TrialState.WAITING for t in new)

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
            search_alg = variant_searcher(
                self.s.space, self.ledger, grid=self.grid, remaining=left,
                seed=self.s.seed + self.finished_trials(), max_concurrent=self.r.max_concurrent,
            )
            # a random search draws more than it needs: draws of layouts the study has taken are skipped
            tune_config = tune.TuneConfig(search_alg=search_alg, num_samples=1 if self.grid else 20 * left,
                                          reuse_actors=True)
        else:
            search_alg = optuna_searcher(self.s.space, self.s, self.url)
            tune_config = tune.TuneConfig(search_alg=search_alg, num_samples=left,
                                          max_concurrent_trials=self.r.max_concurrent, reuse_actors=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_config = tune.RunConfig(
            name=f"hybrid-nas-{re.sub(r'[^A-Za-z0-9_.-]+', '_', self.s.study)}-{stamp}-{os.getpid()}",
            storage_path=self._storage_path(), verbose=0,
            failure_config=tune.FailureConfig(max_failures=self.r.max_retries),
            callbacks=[settle_callback(self.ledger, self.r.max_retries, on_settled)],
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
