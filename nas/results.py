"""Complete evaluations as a table, values[level][layout][seed][metric], with their costs and devices, and the
per-level statistics the calibration report and the cascade share. Pure Python, no database, no torch.

The noise floor of a metric at a level is the mean, over layouts with at least two seeds, of the across-seed
sample standard deviation (ddof=1); the spread is the standard deviation across layouts of their seed means.
spread / noise floor > 1 says layouts differ by more than seed noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from nas.rankstats import mean, sample_std

def cost_of(e: Any) -> float:
    """Compute seconds of an evaluation (a cache copy carries the original's time in its metrics)."""
    v = e.metrics.get("wall_time_s") if isinstance(e.metrics, dict) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return float(v)
    return float(e.wall_time_s or 0.0)


@dataclass
class Results:
    """Complete evaluations indexed as values[level][layout][seed][metric], plus their costs and devices."""

    values: dict[str, dict[str, dict[int, dict[str, float]]]] = field(default_factory=dict)
    costs: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    devices: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_evaluations(cls, evaluations: Iterable[Any], metrics: Sequence[str]) -> "Results":
        r = cls()
        for e in evaluations:
            if e.status != "complete":
                continue
            seeds = r.values.setdefault(e.fidelity, {}).setdefault(e.layout, {})
            if e.seed in seeds:  # the first complete run of (level, layout, seed) counts
                continue
            seeds[e.seed] = {m: v for m in metrics if (v := e.value(m)) is not None}
            r.costs.setdefault(e.fidelity, {}).setdefault(e.layout, {})[e.seed] = cost_of(e)
            r.devices.setdefault(e.fidelity, set()).add(e.device or "?")
        return r

    @property
    def levels(self) -> list[str]:
        """Levels in the order they were first evaluated (a grid and a cascade go low to high)."""
        return list(self.values)

    def layouts(self, level: str) -> list[str]:
        return list(self.values.get(level, {}))

    def seeds(self, level: str) -> list[int]:
        return sorted({s for lay in self.values.get(level, {}).values() for s in lay})

    def runs(self, level: str, layout: str, metric: str) -> list[float]:
        return [m[metric] for _, m in sorted(self.values[level][layout].items()) if metric in m]

    def means(self, level: str, metric: str) -> dict[str, float]:
        """Seed mean of `metric` per layout at `level` (layouts missing it are left out)."""
        out = {}
        for layout in self.values.get(level, {}):
            runs = self.runs(level, layout, metric)
            if runs:
                out[layout] = mean(runs)
        return out

    def stds(self, level: str, metric: str) -> dict[str, float]:
        out = {}
        for layout in self.values.get(level, {}):
            s = sample_std(self.runs(level, layout, metric))
            if s is not None:
                out[layout] = s
        return out

    def noise_floor(self, level: str, metric: str) -> tuple[float | None, int]:
        """(mean across layouts of the across-seed std, number of layouts with >= 2 seeds)."""
        stds = self.stds(level, metric)
        return (mean(list(stds.values())) if stds else None), len(stds)

    def spread(self, level: str, metric: str) -> float | None:
        return sample_std(list(self.means(level, metric).values()))

    def cost(self, level: str) -> float:
        return sum(s for lay in self.costs.get(level, {}).values() for s in lay.values())

    def metrics_present(self) -> list[str]:
        seen: dict[str, None] = {}
        for level in self.values.values():
            for lay in level.values():
                for m in lay.values():
                    for k in m:
                        seen.setdefault(k)
        return list(seen)
