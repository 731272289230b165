"""Linear:full ratios (`3:1`, `pure`) and evenly spaced attention placement."""

from __future__ import annotations

import math

from search_space.errors import SpaceError

PURE = "pure"  # no attention layer at all


def parse_ratio(text: str) -> tuple[int, int]:
    """`'3:1'` -> (3, 1); `'pure'` -> (1, 0) (linear only); `'0:1'` -> (0, 1) (attention only)."""
    t = text.strip().lower()
    if t in (PURE, "1:0", "linear"):
        return (1, 0)
    if t in ("attn", "attention", "0:1"):
        return (0, 1)
    parts = t.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SpaceError(f"bad ratio {text!r}; write linear:full as 'R:1' (e.g. '3:1'), 'pure' or '0:1'")
    lin, full = int(parts[0]), int(parts[1])
    if full == 0 and lin == 0:
        raise SpaceError(f"bad ratio {text!r}: both sides are zero")
    return lin, full


def canonical_ratio(text: str) -> str:
    lin, full = parse_ratio(text)
    if full == 0:
        return PURE
    g = math.gcd(lin, full)
    return f"{lin // g}:{full // g}"


def attention_count(n_layers: int, ratio: str) -> int:
    """How many of `n_layers` are attention at linear:full `ratio` (at least one unless `pure`)."""
    lin, full = parse_ratio(ratio)
    if full == 0:
        return 0
    if lin == 0:
        return n_layers
    return max(1, min(n_layers, round(n_layers * full / (lin + full))))


def evenly_spaced(n_layers: int, n_attention: int) -> tuple[int, ...]:
    """Attention positions spread evenly, each at the end of its period (e.g. 12 layers, 3 -> 3, 7, 11)."""
    if n_attention <= 0:
        return ()
    return tuple(((j + 1) * n_layers) // n_attention - 1 for j in range(n_attention))


def ratio_of(n_layers: int, n_attention: int) -> float:
    """linear:full as a number (inf for no attention)."""
    return math.inf if n_attention == 0 else (n_layers - n_attention) / n_attention
