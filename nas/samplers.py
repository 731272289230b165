"""Optuna samplers by name."""

from __future__ import annotations

from typing import Any

from nas.errors import UsageError

SAMPLERS = ("tpe", "nsga2", "random", "grid")


def make_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=4, multivariate=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        # the driver enqueues each grid layout once (Optuna's GridSampler stops the study outside optimize())
        return optuna.samplers.RandomSampler(seed=seed)
    raise UsageError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
