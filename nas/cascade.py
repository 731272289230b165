"""A promotion cascade over fidelity levels: every layout gets the cheapest level, and only the layouts near
the current Pareto front go up to the next one.

Promotion rules (`--promote`):
* `noise[:K]` (the default, K=1): promote a layout unless another layout beats it by more than the noise in
  every objective. In minimised form (lower is better), B clearly dominates A when b_j + tol_j <= a_j for every
  objective j, with at least one strict, where tol_j = K x the level's noise floor of objective j (the mean
  across layouts of the across-seed std, `nas.results`). A layout is promoted when nothing clearly
  dominates it: the Pareto front after relaxing each objective by the noise. Deterministic objectives (FLOPs)
  have a floor of 0. With one seed the floor is unknown and the rule is the exact front.
* `front`: the exact Pareto front of the seed means.
* `ranks:N`: the first N non-dominated ranks (NSGA-II's sorting).

Compute accounting: the cascade's cost is the summed compute seconds of what it evaluated; the cost of
evaluating every layout at every level is measured where results exist and otherwise estimated as the
layout's cost at the level below times the median cost ratio between the two levels among the layouts that
have both (or the level's mean cost per layout). GPU seconds are wall seconds on a CUDA device; several
processes sharing one GPU each count their own wall time.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from nas.errors import UsageError
from nas.numbers import tolerance
from nas.results import Results
from storage.pareto import dominates

_RULE = re.compile(r"^(noise|front|ranks)(?::([0-9]*\.?[0-9]+))?$")


@dataclass(frozen=True)
class PromotionRule:
    kind: str  # noise | front | ranks
    k: float = 1.0

    def __str__(self) -> str:
        if self.kind == "front":
            return "front"
        if self.kind == "ranks":
            return f"ranks:{int(self.k)}"
        return "noise" if self.k == 1 else f"noise:{self.k:g}"


def parse_rule(text: str) -> PromotionRule:
    m = _RULE.match(text.strip().lower())
    if not m:
        raise UsageError(f"bad promotion rule {text!r}; valid: noise, noise:K (K x the noise floor), front, ranks:N")
    kind, k = m.group(1), m.group(2)
    if kind == "front":
        if k is not None:
            raise UsageError("promotion rule 'front' takes no number")
        return PromotionRule("front", 0.0)
    if kind == "ranks":
        n = float(k) if k is not None else 1.0
        if n < 1 or n != int(n):
            raise UsageError(f"promotion rule ranks:N needs a whole N >= 1, got {text!r}")
        return PromotionRule("ranks", n)
    return PromotionRule("noise", float(k) if k is not None else 1.0)


def _minimised(values: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    return tuple(-v if d == "maximize" else v for v, d in zip(values, directions))


def nondominated_ranks(points: dict[str, Sequence[float]], directions: Sequence[str]) -> dict[str, int]:
    """Rank 0 = the Pareto front, 1 = the front of the rest, ..."""
    keys = {k: _minimised(v, directions) for k, v in points.items()}
    zero = [0.0] * len(directions)
    left, ranks, r = set(keys), {}, 0
    while left:
        front = {a for a in left if not any(dominates(keys[b], keys[a], zero) for b in left if b != a)}
        for a in front:
            ranks[a] = r
        left -= front
        r += 1
    return ranks


def promote(points: dict[str, Sequence[float]], directions: Sequence[str], noise: Sequence[float | None],
            rule: PromotionRule) -> list[str]:
    """The layouts (keys of `points`, seed means of the objectives) that go up a level, in input order."""
    if rule.kind == "ranks":
        ranks = nondominated_ranks(points, directions)
        return [k for k in points if ranks[k] < rule.k]
    tol = [rule.k * (n or 0.0) if rule.kind == "noise" else 0.0 for n in noise]
    keys = {k: _minimised(v, directions) for k, v in points.items()}
    return [a for a in points if not any(dominates(keys[b], keys[a], tol) for b in points if b != a)]


def front(points: dict[str, Sequence[float]], directions: Sequence[str]) -> list[str]:
    return promote(points, directions, [0.0] * len(directions), PromotionRule("front", 0.0))


def objective_points(res: Results, level: str, objectives: Sequence[str],
                     layouts: Sequence[str] | None = None) -> dict[str, list[float]]:
    """Seed means of every objective per layout (layouts missing one are left out)."""
    means = [res.means(level, m) for m in objectives]
    pool = layouts if layouts is not None else res.layouts(level)
    return {lay: [mm[lay] for mm in means] for lay in pool if all(lay in mm for mm in means)}


@dataclass
class Stage:
    level: str
    evaluated: list[str]
    promoted: list[str]
    tolerance: dict[str, float | None]
    cost_s: float
    missing: list[str] = field(default_factory=list)  # asked for here but without results at this level


@dataclass
class CascadeReport:
    levels: list[str]
    rule: str
    stages: list[Stage]
    cost_s: float  # what the cascade evaluated
    full_cost_s: float  # every layout at every level (measured where present, else estimated)
    full_cost_estimated: bool
    final_front: list[str]
    full_front: list[str] | None  # the top level's front over every layout, when all have results there
    n_layouts: int

    @property
    def saved_s(self) -> float:
        return self.full_cost_s - self.cost_s

    @property
    def saved_frac(self) -> float | None:
        return None if self.full_cost_s <= 0 else self.saved_s / self.full_cost_s

    @property
    def front_changed(self) -> bool | None:
        if self.full_front is None:
            return None
        return set(self.final_front) != set(self.full_front)

    @classmethod
    def from_dict(cls, c: dict[str, Any]) -> "CascadeReport":
        """The report again from `to_dict`'s output (enough to render it: evaluated layouts are only counted)."""
        stages = [Stage(s["level"], [""] * s["evaluated"], s["promoted_layouts"], s["tolerance"], s["cost_s"],
                        s["missing"]) for s in c["stages"]]
        return cls(c["levels"], c["rule"], stages, c["cost_s"], c["full_cost_s"], c["full_cost_estimated"],
                   c["final_front"], c["full_front"], c["layouts"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": self.levels, "rule": self.rule, "layouts": self.n_layouts,
            "stages": [{"level": s.level, "evaluated": len(s.evaluated), "promoted": len(s.promoted),
                        "tolerance": s.tolerance, "cost_s": s.cost_s, "missing": s.missing,
                        "promoted_layouts": s.promoted} for s in self.stages],
            "cost_s": self.cost_s, "full_cost_s": self.full_cost_s, "full_cost_estimated": self.full_cost_estimated,
            "saved_s": self.saved_s, "saved_frac": self.saved_frac, "final_front": self.final_front,
            "full_front": self.full_front, "front_changed": self.front_changed,
            "missed_from_full_front": (sorted(set(self.full_front) - set(self.final_front))
                                       if self.full_front is not None else None),
        }


def _layout_cost(res: Results, level: str, layout: str) -> float | None:
    seeds = res.costs.get(level, {}).get(layout)
    return sum(seeds.values()) if seeds else None


def _full_cost(res: Results, levels: Sequence[str], layouts: Sequence[str]) -> tuple[float, bool]:
    total, estimated = 0.0, False
    prev: dict[str, float] = {}
    for i, level in enumerate(levels):
        here = {lay: c for lay in layouts if (c := _layout_cost(res, level, lay)) is not None}
        cur: dict[str, float] = {}
        ratios = [here[lay] / prev[lay] for lay in here if lay in prev and prev[lay] > 0]
        ratio = statistics.median(ratios) if ratios else None
        mean_here = sum(here.values()) / len(here) if here else 0.0
        for lay in layouts:
            if lay in here:
                cur[lay] = here[lay]
            else:
                estimated = True
                cur[lay] = prev[lay] * ratio if (ratio is not None and lay in prev) else mean_here
        total += sum(cur.values())
        prev = cur
    return total, estimated


def simulate(res: Results, levels: Sequence[str], objectives: Sequence[dict[str, str]], rule: PromotionRule,
             layouts: Sequence[str] | None = None) -> CascadeReport:
    """Replay the cascade on stored results: which layouts each level would promote, what it costs, and
    whether its final front equals the top level's front over every layout (when all have results there)."""
    if not levels:
        raise UsageError("a cascade needs at least one level")
    metrics = [o["metric"] for o in objectives]
    directions = [o["direction"] for o in objectives]
    pool = list(layouts) if layouts is not None else res.layouts(levels[0])
    stages: list[Stage] = []
    current = pool
    for i, level in enumerate(levels):
        points = objective_points(res, level, metrics, current)
        missing = [lay for lay in current if lay not in points]
        noise = [res.noise_floor(level, m)[0] for m in metrics]
        cost = sum(c for lay in current if (c := _layout_cost(res, level, lay)) is not None)
        last = i == len(levels) - 1
        promoted = front(points, directions) if last else promote(points, directions, noise, rule)
        stages.append(Stage(level, list(current), promoted, dict(zip(metrics, noise)), cost, missing))
        current = promoted
    full_cost, estimated = _full_cost(res, levels, pool)
    top = objective_points(res, levels[-1], metrics, pool)
    full_front = front(top, directions) if pool and len(top) == len(pool) else None
    return CascadeReport(list(levels), str(rule), stages, sum(s.cost_s for s in stages), full_cost, estimated,
                         stages[-1].promoted, full_front, len(pool))


def render(report: CascadeReport) -> str:
    lines = [f"cascade {' -> '.join(report.levels)} over {report.n_layouts} layouts, promotion rule {report.rule}:"]
    for i, s in enumerate(report.stages):
        tol = ", ".join(f"{m} ±{tolerance(t)}" for m, t in s.tolerance.items())
        what = "front" if i == len(report.stages) - 1 else "promoted"
        miss = f" ({len(s.missing)} without results)" if s.missing else ""
        lines.append(f"  {s.level}: {len(s.evaluated)} evaluated{miss}, {len(s.promoted)} {what}; "
                     f"{s.cost_s:.1f} compute-s; noise floor {tol}")
    frac = report.saved_frac
    est = " (partly estimated)" if report.full_cost_estimated else ""
    lines.append(f"  compute: {report.cost_s:.1f} s vs {report.full_cost_s:.1f} s for every layout at every level"
                 f"{est}; saved {report.saved_s:.1f} s" + (f" ({100 * frac:.0f}%)" if frac is not None else ""))
    if report.full_front is None:
        lines.append("  final front vs the full top-level front: not available (not every layout has top-level "
                     "results)")
    elif report.front_changed:
        missed = sorted(set(report.full_front) - set(report.final_front))
        extra = sorted(set(report.final_front) - set(report.full_front))
        lines.append(f"  final front CHANGED vs the full top-level front: missed {missed or '-'}, "
                     f"extra {extra or '-'}")
    else:
        lines.append(f"  final front unchanged: the same {len(report.final_front)} layouts as the full top-level "
                     "front")
    return "\n".join(lines)

