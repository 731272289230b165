"""The search on Ray Tune: each trial runs in a Ray actor with its own CPUs and (fractional) GPU, several at a
time (an actor serves one trial after another: `reuse_actors`).

    from nas.raytune.driver import RaySearch
    from nas.raytune.settings import RaySettings

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
  * Duplicates and repeats, counted as the local search counts them. A layout the study has evaluated already
    (a counted finished trial has it) is a repeat: marked `repeat_of` by the proposer, or by the worker after
    waiting for the in-flight trial of the same layout; it is not trained, leaves no row, is told the earlier
    result and does not count toward `--trials`, and the sampler is steered to a layout no trial has taken
    (`nas.driver.fresh_params`). `--trials` is capped at the size of the space, so "trials finished" is what
    `studies` counts. A layout already evaluated under the same proxy settings and seed in another study is
    served from the cache, never trained again.

Modules: `settings` (RaySettings, the database URL and device as workers see them), `ledger` (Optuna's trials
settled from our tables), `searchers` (what the driver hands Tune: proposals and the settling callback), `worker`
(one trial in a Ray actor), `driver` (RaySearch), `timeline` (how parallel a search ran).
"""
