"""The one number formatter of the CLI's text output: `number(v, ...)`, and the styles its callers use.

A float prints with `digits` significant digits, or in scientific notation with `exp_digits` digits after the
point when it is not 0 and its magnitude is below `small` or at least `large`; `fixed=True` prints a magnitude
below 1 in fixed point with trailing zeros dropped (0.0123, not 1.23e-02). Non-floats print as `str(v)`,
None as `none`.
"""

from __future__ import annotations

import math
from typing import Any


def number(v: Any, *, digits: int = 3, exp_digits: int | None = None, small: float = 0.0, large: float = 1e5,
           fixed: bool = False, none: str = "-") -> str:
    if v is None:
        return none
    if not isinstance(v, float):
        return str(v)
    a = abs(v)
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (a < small or a >= large):
        return f"{v:.{digits - 1 if exp_digits is None else exp_digits}e}"
    if fixed and a < 1:
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"
    return f"{v:.{digits}g}"


def cell(v: Any) -> str:
    """A cell of the `pareto` table: 4 significant digits, scientific from 1e5."""
    return number(v, digits=4, exp_digits=3)


def score(v: Any) -> str:
    """A score on a progress line: 3 significant digits, scientific from 1e4."""
    return number(v, exp_digits=3, large=1e4, none="None")


def stat(v: Any, digits: int = 3) -> str:
    """A statistic of the calibration and cascade reports: fixed point below 1, scientific outside
    [1e-3, 1e5)."""
    return number(v, digits=digits, small=1e-3, fixed=True)


def tolerance(v: Any) -> str:
    """A noise floor in the cascade report: 3 significant digits, scientific outside [1e-3, 1e5), ? if unknown."""
    return number(v, small=1e-3, none="?")
