"""Rank statistics, pure Python: average ranks, Pearson, Spearman, Kendall's tau-b, mean and sample std.

* `spearman` is Pearson's correlation of average ranks (ties share the mean of their ranks).
* `kendall` is Kendall's tau-b: (concordant - discordant) / sqrt((n0 - t_x)(n0 - t_y)), with n0 = n(n-1)/2
  pairs and t_x, t_y the pairs tied in x, in y; a pair tied in either is neither concordant nor discordant.
  Both return None when undefined (fewer than 2 points, or a constant side).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Sequence

def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n != len(y):
        raise ValueError(f"pearson: {n} and {len(y)} values")
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} and {len(y)} values")
    return pearson(average_ranks(x), average_ranks(y))


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (handles ties in either variable)."""
    n = len(x)
    if n != len(y):
        raise ValueError(f"kendall: {n} and {len(y)} values")
    if n < 2:
        return None
    concordant = discordant = tied_x = tied_y = 0
    for i, j in combinations(range(n), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0:
            tied_x += 1
        if dy == 0:
            tied_y += 1
        if dx != 0 and dy != 0:
            if (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tied_x) * (n0 - tied_y))
    if denom == 0:
        return None
    return max(-1.0, min(1.0, (concordant - discordant) / denom))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def sample_std(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))

