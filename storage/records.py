"""What the store hands out: plain frozen dataclasses, detached from any database session.

Dict and list fields are fresh copies: changing them changes nothing stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StudyRecord:
    id: int
    name: str
    created_at: datetime  # timezone-aware, UTC
    space: dict[str, Any]
    proxy: dict[str, Any]
    objectives: list[dict[str, str]]  # [{"metric": "recall", "direction": "maximize"}, ...]
    optuna_study_name: str | None

    @property
    def metrics(self) -> list[str]:
        """The objective metric names, in order."""
        return [o["metric"] for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        """The objective directions ("maximize" / "minimize"), in order (Optuna's `directions=`)."""
        return [o["direction"] for o in self.objectives]


@dataclass(frozen=True)
class StudySummary:
    name: str
    created_at: datetime
    n_complete: int
    n_failed: int
    n_running: int
    n_pareto: int  # size of the latest Pareto snapshot (0 when none was taken)


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    study: str | None  # study name; None for an evaluation made outside any study
    trial_number: int | None
    layout: str  # canonical layout string
    n_layers: int
    n_attention: int
    proxy_key: str
    proxy: dict[str, Any]
    fidelity: str
    seed: int
    status: str  # "running" | "complete" | "failed" | "pruned"
    error: str | None
    metrics: dict[str, Any]  # everything the proxy reported ({} while running)
    recall: float | None
    perplexity: float | None
    flops: float | None
    params: float | None
    state_bytes: float | None
    device: str | None
    wall_time_s: float | None
    started_at: datetime  # timezone-aware, UTC
    finished_at: datetime | None
    cached_from: int | None = None  # id of the evaluation this one copies (a cache hit), else None

    def value(self, metric: str) -> float | None:
        """A metric as a float, or None when it is missing, NaN or not a number (the worst, for Pareto)."""
        raw = self.metrics.get(metric)
        if raw is None:
            raw = getattr(self, metric, None) if metric in _COLUMN_FIELDS else None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return None
        value = float(raw)
        return None if math.isnan(value) else value


_COLUMN_FIELDS = ("recall", "perplexity", "flops", "params", "state_bytes", "wall_time_s")
