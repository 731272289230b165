"""Say, in a few words, where two JSON settings differ."""

from __future__ import annotations

from typing import Any

from storage.jsoncodec import canonical_json

_MAX_SHOWN = 60


def first_difference(stored: Any, given: Any, path: str) -> str | None:
    """`None` when equal (in canonical form), else e.g. "proxy.steps: stored 200, given 400"."""
    if canonical_json(stored, what=path) == canonical_json(given, what=path):
        return None
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in sorted(set(stored) | set(given)):
            where = f"{path}.{key}"
            if key not in given:
                return f"{where}: stored {_show(stored[key])}, not given"
            if key not in stored:
                return f"{where}: not stored, given {_show(given[key])}"
            found = first_difference(stored[key], given[key], where)
            if found:
                return found
    if isinstance(stored, (list, tuple)) and isinstance(given, (list, tuple)) and len(stored) == len(given):
        for i, (a, b) in enumerate(zip(stored, given)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
    return f"{path}: stored {_show(stored)}, given {_show(given)}"


def _show(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
