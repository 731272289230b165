"""What a front plot shows: per fidelity level and layout, the seed mean (and across-seed std) of each chosen
metric, and whether the layout is on that level's Pareto front of those metrics. Pure: no database, no plots."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from nas.errors import UsageError
from nas.objectives import OBJECTIVES

LOG_METRICS = ("flops", "params", "state_bytes")


@dataclass(frozen=True)
class Axis:
    metric: str
    direction: str  # maximize | minimize

    @property
    def label(self) -> str:
        return f"{self.metric} ({'↑' if self.direction == 'maximize' else '↓'} better)"


@dataclass(frozen=True)
class Point:
    layout: str
    level: str
    values: dict[str, float]  # seed mean per metric
    stds: dict[str, float]  # across-seed std per metric (layouts with two seeds or more)
    seeds: int
    on_front: bool


def recorded_metrics(evaluations: Sequence[Any]) -> list[str]:
    """Every numeric metric some complete evaluation recorded, sorted."""
    seen = set()
    for e in evaluations:
        if e.status != "complete":
            continue
        seen |= {k for k, v in (e.metrics or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        seen |= {m for m in OBJECTIVES if e.value(m) is not None}
    return sorted(seen)


def direction_of(metric: str, objectives: Sequence[dict[str, str]]) -> str:
    """The study's direction for its objectives; else the known one; recall_* is maximised, the rest minimised."""
    for o in objectives:
        if o["metric"] == metric:
            return o["direction"]
    if metric in OBJECTIVES:
        return OBJECTIVES[metric]
    return "maximize" if metric.startswith("recall") or metric.startswith("acc") else "minimize"


def choose_axes(study: str, objectives: Sequence[dict[str, str]], evaluations: Sequence[Any],
                names: Sequence[str] | None) -> list[Axis]:
    """The named metrics (two or more), or the study's objectives; each must have been recorded."""
    chosen = list(dict.fromkeys(names)) if names else [o["metric"] for o in objectives]
    present = recorded_metrics(evaluations)
    if not present:
        raise UsageError(f"study {study!r} has no complete evaluations to plot")
    missing = [m for m in chosen if m not in present]
    if missing:
        raise UsageError(f"objective(s) {', '.join(missing)} not recorded in study {study!r}; "
                         f"recorded: {', '.join(present)}")
    if len(chosen) < 2:
        raise UsageError(f"a front plot needs two metrics; name them with --axes, e.g. --axes recall,flops "
                         f"(recorded: {', '.join(present)})")
    return [Axis(m, direction_of(m, objectives)) for m in chosen]


def level_points(evaluations: Sequence[Any], axes: Sequence[Axis]) -> dict[str, list[Point]]:
    """{level: points} in the order the levels were first evaluated; layouts missing a metric (or with an
    infinite one, e.g. a diverged perplexity) are left out."""
    from nas.calibrate import Results
    from storage.pareto import non_dominated

    metrics = [a.metric for a in axes]
    res = Results.from_evaluations(evaluations, metrics)
    out: dict[str, list[Point]] = {}
    for level in res.levels:
        means = {m: res.means(level, m) for m in metrics}
        stds = {m: res.stds(level, m) for m in metrics}
        layouts = [lay for lay in res.layouts(level)
                   if all(lay in means[m] and math.isfinite(means[m][lay]) for m in metrics)]
        front = set(non_dominated([[means[m][lay] for m in metrics] for lay in layouts],
                                  [a.direction for a in axes]))
        out[level] = [Point(lay, level, {m: means[m][lay] for m in metrics},
                            {m: stds[m][lay] for m in metrics if lay in stds[m]},
                            len(res.values[level][lay]), i in front) for i, lay in enumerate(layouts)]
    return out


def log_scale(metric: str, values: Sequence[float]) -> bool:
    """Log axes for costs (FLOPs, parameters, state bytes) whose values are positive and span 10x or more."""
    return metric in LOG_METRICS and bool(values) and min(values) > 0 and max(values) >= 10 * min(values)
