"""The non-dominated set of a list of points: pure, no database."""

from __future__ import annotations

import math
from collections.abc import Sequence

DIRECTIONS = ("maximize", "minimize")


def non_dominated(points: Sequence[Sequence[float | None]], directions: Sequence[str]) -> list[int]:
    """Indices (ascending) of the points that no other point dominates.

    `directions[j]` is "maximize" or "minimize" for coordinate j. A dominates B when A is at least as good
    in every coordinate and strictly better in one, so equal points never dominate each other: duplicates on
    the front are all kept. NaN and None are worse than any number, infinities included, in either direction.
    """
    signs = [_sign(d) for d in directions]
    keys = []
    for i, point in enumerate(points):
        if len(point) != len(signs):
            raise ValueError(f"point {i} has {len(point)} values but there are {len(signs)} directions")
        keys.append(tuple(_minimised(v, s) for v, s in zip(point, signs)))

    # A dominator comes before what it dominates in lexicographic order, and (dominance being transitive)
    # every dominated point is dominated by some point of the front: comparing with the front so far suffices.
    front: list[int] = []
    for i in sorted(range(len(keys)), key=keys.__getitem__):
        if not any(dominates(keys[j], keys[i]) for j in front):
            front.append(i)
    return sorted(front)


def _sign(direction: str) -> float:
    d = str(direction).lower()
    if d == "minimize":
        return 1.0
    if d == "maximize":
        return -1.0
    raise ValueError(f"unknown direction {direction!r}; use 'maximize' or 'minimize'")


def _minimised(value: float | None, sign: float) -> tuple[int, float]:
    """Lower is better. (1, 0) for missing values sorts after every (0, x), +inf included."""
    if value is None:
        return (1, 0.0)
    v = float(value)
    if math.isnan(v):
        return (1, 0.0)
    return (0, sign * v)


def dominates(a: Sequence, b: Sequence, tol: Sequence[float] | None = None) -> bool:
    """A beats B (both minimised, lower is better) by more than `tol`: a_j + tol_j <= b_j for every j, and
    strictly for one. Without `tol`, plain Pareto dominance; coordinates may then be any ordered values
    (`_minimised` keys)."""
    if tol is None:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))
    return all(x + t <= y for x, y, t in zip(a, b, tol)) and any(x + t < y for x, y, t in zip(a, b, tol))
