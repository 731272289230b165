"""The ratio-by-mixer view of a grid study (as in arXiv 2507.06457): per level and linear mixer, a metric's seed
mean at each linear:full ratio, plus pure attention. Pure: no database, no plots."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any, Sequence


@dataclass(frozen=True)
class RatioPoint:
    layout: str
    fraction: float  # attention layers / all layers
    ratio: str  # linear:full, reduced ("3:1"; "pure" without attention)
    mean: float
    std: float | None
    seeds: int


def _shape(layout: str) -> tuple[str | None, int, int]:
    """(its one linear mixer or None, layers, attention layers); mixer '' when it mixes several kinds."""
    from search_space.layout import Layout

    lay = Layout.parse(layout)
    kinds = lay.linear_mixers
    return (kinds[0] if len(kinds) == 1 else ("" if kinds else None)), lay.n_layers, lay.n_attention


def ratio_label(n_layers: int, n_attention: int) -> str:
    if n_attention == 0:
        return "pure"
    lin = n_layers - n_attention
    if lin == 0:
        return "attn"
    g = gcd(lin, n_attention)
    return f"{lin // g}:{n_attention // g}"


def is_grid(layouts: Sequence[str]) -> bool:
    """Layouts of one linear kind each (plus attention), one layout per kind and ratio, and some kind at two
    ratios or more. (A search that placed attention in several ways at one ratio is not a grid.)"""
    shapes = [_shape(lay) for lay in dict.fromkeys(layouts)]
    if any(kind == "" for kind, _, _ in shapes):
        return False
    by_kind: dict[str, list[float]] = {}
    for kind, n, a in shapes:
        if kind is not None:
            by_kind.setdefault(kind, []).append(a / n)
    if any(len(set(fracs)) < len(fracs) for fracs in by_kind.values()):
        return False
    return any(len(fracs) >= 2 for fracs in by_kind.values())


def ratio_series(res: Any, metric: str = "recall") -> dict[str, dict]:
    """{level: {"lines": {mixer: [RatioPoint by fraction]}, "attention": RatioPoint | None}} from a
    `nas.calibrate.Results`; levels where no layout has `metric` are left out."""
    out: dict[str, dict] = {}
    for level in res.levels:
        means, stds = res.means(level, metric), res.stds(level, metric)
        lines: dict[str, list[RatioPoint]] = {}
        attention = None
        for layout, m in means.items():
            kind, n, a = _shape(layout)
            point = RatioPoint(layout, a / n, ratio_label(n, a), m, stds.get(layout),
                               len(res.values[level][layout]))
            if kind is None:
                attention = point
            elif kind:
                lines.setdefault(kind, []).append(point)
        if lines or attention:
            out[level] = {"lines": {k: sorted(v, key=lambda p: p.fraction) for k, v in lines.items()},
                          "attention": attention}
    return out
