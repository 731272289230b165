"""The vocabulary of budget domains: what kind of value a `Budget` field may hold (a positive integer with a cap, a
power of two, a probability, a learning rate, a list of them, a choice of names, ...). Each domain is a small frozen
object with `check(value) -> error text or None` and a `text` saying what is valid. The table that gives every field
its domain, and the rules between fields, are `proxies.budget_rules`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MAX_WIDTH = 1 << 16
MAX_SEQ = 1 << 20
MAX_STEPS = 10_000_000
MAX_EXAMPLES = 100_000_000
MAX_BATCH = 1 << 16
MAX_LAYERS = 4096  # the layout parser's cap (search_space/layout.py)


# -- domains -------------------------------------------------------------------------------------------
class Domain:
    """What one field may hold. `check(value)` returns None when valid, else what is wrong (short)."""

    text = "any value"

    def check(self, value: Any) -> str | None:  # pragma: no cover - overridden
        return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class IntRange(Domain):
    min: int = 0
    max: int = MAX_STEPS
    what: str = "an integer"

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.what} ({self.min} to {self.max})"

    def check(self, value: Any) -> str | None:
        if not _is_int(value) or not self.min <= value <= self.max:
            return f"must be {self.text}"
        return None


def PositiveInt(max: int = MAX_STEPS) -> IntRange:
    return IntRange(1, max, "a positive integer")


def NonNegativeInt(max: int = MAX_STEPS, zero: str = "") -> IntRange:
    return IntRange(0, max, "a non-negative integer" + (f", 0 = {zero}" if zero else ""))


@dataclass(frozen=True)
class PowerOfTwo(Domain):
    min: int = 1
    max: int = MAX_SEQ

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a power of two ({self.min} to {self.max})"

    def check(self, value: Any) -> str | None:
        if not _is_int(value) or not self.min <= value <= self.max or value & (value - 1):
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class ConvWidth(Domain):
    """0 (off) or a convolution width of at least 2."""

    max: int = 1024

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a convolution width: 0 (none) or 2 to {self.max}"

    def check(self, value: Any) -> str | None:
        if not _is_int(value) or not (value == 0 or 2 <= value <= self.max):
            return f"is {self.text}"
        return None


@dataclass(frozen=True)
class RealRange(Domain):
    """A finite real number in [lo, hi] (or [lo, hi) with `open_hi`)."""

    lo: float = 0.0
    hi: float = 1.0
    open_hi: bool = False
    what: str = "a number"

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.what} in [{self.lo:g}, {self.hi:g}{')' if self.open_hi else ']'}"

    def check(self, value: Any) -> str | None:
        if not _is_real(value) or value < self.lo or value > self.hi or (self.open_hi and value >= self.hi):
            return f"must be {self.text}"
        return None


def Probability(open_hi: bool = False) -> RealRange:
    return RealRange(0.0, 1.0, open_hi, "a probability")


def Fraction() -> RealRange:
    return RealRange(0.0, 1.0, False, "a fraction")


@dataclass(frozen=True)
class LearningRate(Domain):
    """A learning rate: a finite number in [lo, hi] (AdamW; above 1 every proxy diverges)."""

    lo: float = 1e-7
    hi: float = 1.0

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a learning rate in [{self.lo:g}, {self.hi:g}]"

    def check(self, value: Any) -> str | None:
        if not _is_real(value) or not self.lo <= value <= self.hi:
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class FloatList(Domain):
    """A tuple (or list, after a JSON round trip) of numbers, each in `item`'s domain."""

    item: Domain = LearningRate()
    min_len: int = 0
    max_len: int = 64

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.min_len} to {self.max_len} values, each {self.item.text}"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, (tuple, list)) or not self.min_len <= len(value) <= self.max_len:
            return f"must be {self.text}"
        for v in value:
            if self.item.check(v):
                return f"must be {self.text} (bad item {v!r})"
        return None


@dataclass(frozen=True)
class Choice(Domain):
    names: tuple[str, ...] = ()

    @property
    def text(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.names)

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or value not in self.names:
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class NameList(Domain):
    """A comma-separated subset of `names` ("" for none), each at most once."""

    names: tuple[str, ...] = ()

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"comma-separated names from {', '.join(self.names)} (each once; '' for none)"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.text}"
        items = [t.strip() for t in value.split(",") if t.strip()]
        if any(t not in self.names for t in items) or len(set(items)) != len(items):
            return f"must be {self.text}"
        return None


_LEVEL = re.compile(r"^\s*\d+\s*x\s*\d+\s*$")


@dataclass(frozen=True)
class LadderSpec(Domain):
    text = "'' (the default ladder) or comma-separated SEQxPAIRS levels, e.g. '64x4,128x16'"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > 1000:
            return f"must be {self.text}"
        if any(not _LEVEL.match(t) for t in value.split(",") if t.strip()):
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class Text(Domain):
    """A non-empty single-line string of at most `max_len` characters."""

    max_len: int = 4096

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a non-empty one-line text of at most {self.max_len} characters"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip() or len(value) > self.max_len or "\n" in value \
                or "\x00" in value:
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class Flag(Domain):
    text = "true or false"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"must be {self.text}"
