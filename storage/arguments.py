"""Argument checks: a caller's mistake becomes one `StorageError` line, before any database work."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from storage.errors import StorageError
from storage.pareto import DIRECTIONS
from storage.schema import STATUSES

MAX_NAME = 255


def study_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StorageError(f"a study name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME:
        raise StorageError(f"study name is {len(name)} characters long; at most {MAX_NAME} are allowed")
    return name


def settings(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StorageError(f"{what} must be a dict, got {type(value).__name__}")
    return value


def objectives(value: Any) -> list[dict[str, str]]:
    """[{"metric": str, "direction": "maximize" | "minimize"}, ...], at least one, no metric twice."""
    valid = 'objectives are a list like [{"metric": "recall", "direction": "maximize"}, ...]'
    if not isinstance(value, (list, tuple)) or not value:
        raise StorageError(f"{valid}; got {value!r:.80}")
    out: list[dict[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"metric", "direction"}:
            raise StorageError(f"{valid}; got the item {item!r:.80}")
        metric, direction = item["metric"], item["direction"]
        if not isinstance(metric, str) or not metric:
            raise StorageError(f"objective metric must be a non-empty string, got {metric!r}")
        if not isinstance(direction, str) or direction.lower() not in DIRECTIONS:
            raise StorageError(f"objective {metric!r} has direction {direction!r}; use 'maximize' or 'minimize'")
        out.append({"metric": metric, "direction": direction.lower()})
    metrics = [o["metric"] for o in out]
    if len(set(metrics)) != len(metrics):
        raise StorageError(f"objectives name a metric twice: {metrics}")
    return out


def integer(value: Any, what: str, *, minimum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise StorageError(f"{what} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise StorageError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def text(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise StorageError(f"{what} must be a non-empty string, got {value!r}")
    return value


def seconds(value: Any, what: str = "wall_time_s") -> float | None:
    if value is None:
        return None
    number = metric_number(value, what)
    if number is None or number < 0 or math.isinf(number):
        raise StorageError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    return number


def metric_number(value: Any, what: str) -> float | None:
    """A metric for a float column: None stays None, NaN becomes None (SQLite stores NaN as NULL anyway)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StorageError(f"{what} must be a number, got {type(value).__name__} {value!r:.40}")
    number = float(value)
    return None if math.isnan(number) else number


def statuses(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    wanted = [value] if isinstance(value, str) else list(value)
    for status in wanted:
        if status not in STATUSES:
            raise StorageError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    return wanted
