"""JSON values as the database holds them, and their canonical text (for keys and comparisons).

Settings and metrics are JSON dicts. Two things plain JSON cannot say are handled here, the same way on
every backend:
- non-finite floats (a diverged perplexity is `inf` or `nan`) are stored as the strings "NaN",
  "Infinity", "-Infinity" and read back as floats (PostgreSQL's JSON refuses bare NaN);
- tuples are stored as lists; numpy scalars and 0-d tensors (anything with `.item()`) as their Python value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from storage.errors import StorageError

_TO_TOKEN = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_FROM_TOKEN = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_db(value: Any, *, what: str = "value") -> Any:
    """A JSON-safe deep copy of `value`; raise `StorageError` naming the part that is not JSON."""
    return _encode(value, what, integral_floats_as_int=False)


def from_db(value: Any) -> Any:
    """The inverse of `to_db` for what it changed: non-finite tokens become floats again."""
    if isinstance(value, str):
        return _FROM_TOKEN.get(value, value)
    if isinstance(value, dict):
        return {k: from_db(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_db(v) for v in value]
    return value


def canonical_json(value: Any, *, what: str = "value") -> str:
    """One text per meaning: sorted keys, no spaces, integral floats written as integers (1.0 -> 1)."""
    encoded = _encode(value, what, integral_floats_as_int=True)
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _encode(value: Any, path: str, *, integral_floats_as_int: bool) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return _TO_TOKEN[repr(float(value))]
        if integral_floats_as_int and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return float(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StorageError(f"{path} is not JSON: key {key!r} is a {type(key).__name__}, keys must be strings")
            out[key] = _encode(item, f"{path}.{key}", integral_floats_as_int=integral_floats_as_int)
        return out
    if isinstance(value, (list, tuple)):
        return [
            _encode(item, f"{path}[{i}]", integral_floats_as_int=integral_floats_as_int)
            for i, item in enumerate(value)
        ]
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalar, 0-d tensor: storage imports neither
        try:
            plain = item()
        except Exception:  # noqa: BLE001 - not a scalar after all
            plain = value
        if plain is not value and isinstance(plain, (bool, int, float, str)):
            return _encode(plain, path, integral_floats_as_int=integral_floats_as_int)
    raise StorageError(f"{path} is not JSON: {type(value).__name__} {value!r:.60} (use numbers, strings, lists, dicts)")
