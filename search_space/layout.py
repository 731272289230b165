"""A hybrid layout: the mixer of every layer, with a notation a person can type.

Notation: comma- or space-separated tokens, each `mixer` or `mixer*N`, and groups `( ... )*N` that may nest.
`(gdn*3,attn)*3` is twelve layers: three GatedDeltaNet layers then one attention layer, three times.

Canonical form: the shortest block that the layer list repeats, run-length encoded. A list that is one block
repeated r > 1 times prints as `(block)*r` (or `mixer*r` when the block is one layer); otherwise the whole list
is run-length encoded. Equal layer lists always print the same string, which is the key in the database.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from search_space.errors import LayoutError
from search_space.names import ATTENTION, check_mixer

_TOKEN = re.compile(r"\s*(\(|\)|\*|,|[A-Za-z_][A-Za-z0-9_]*|\d+|\S)")


@dataclass(frozen=True)
class Layout:
    """The mixer of each layer, bottom to top."""

    layers: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise LayoutError("a layout needs at least one layer")
        for name in self.layers:
            check_mixer(name)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> "Layout":
        """Parse the notation (see module docstring); raise `LayoutError` with what is wrong."""
        tokens = _tokenize(text)
        layers, pos = _parse_seq(tokens, 0, text)
        if pos != len(tokens):
            raise LayoutError(f"unexpected {tokens[pos]!r} in layout {_short(text)}")
        return cls(tuple(layers))

    @classmethod
    def of(cls, layers) -> "Layout":
        return cls(tuple(layers))

    # -- views --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def attention_indices(self) -> tuple[int, ...]:
        return tuple(i for i, m in enumerate(self.layers) if m == ATTENTION)

    @property
    def n_attention(self) -> int:
        return len(self.attention_indices)

    @property
    def linear_mixers(self) -> tuple[str, ...]:
        """Distinct non-attention mixers, in order of first appearance."""
        seen: dict[str, None] = {}
        for m in self.layers:
            if m != ATTENTION:
                seen.setdefault(m)
        return tuple(seen)

    def canonical(self) -> str:
        layers = list(self.layers)
        n = len(layers)
        for period in range(1, n // 2 + 1):
            if n % period == 0 and layers == layers[:period] * (n // period):
                block = _rle(layers[:period])
                reps = n // period
                return f"{block}*{reps}" if period == 1 else f"({block})*{reps}"
        return _rle(layers)

    def key(self) -> str:
        """A short stable hash of the canonical string (the string itself is the primary key)."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return self.canonical()


def _short(text: str) -> str:
    """The layout text as an error message quotes it: repr, cut to 80 characters."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _rle(layers: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(layers):
        j = i
        while j < len(layers) and layers[j] == layers[i]:
            j += 1
        out.append(layers[i] if j - i == 1 else f"{layers[i]}*{j - i}")
        i = j
    return ",".join(out)


def _tokenize(text: str) -> list[str]:
    if not text or not text.strip():
        raise LayoutError("empty layout; write e.g. 'gdn*3,attn' or '(gla*3,attn)*6'")
    if len(text) > _MAX_TEXT:
        raise LayoutError(f"layout text of {len(text)} characters is too long (at most {_MAX_TEXT})")
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    for t in tokens:
        if not (t in "(),*" or t.isdigit() or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t)):
            raise LayoutError(f"unexpected character {t!r} in layout {_short(text)}")
    return tokens


MAX_LAYERS = 4096  # the most layers a layout (and a search space) may have
_MAX_LAYERS = MAX_LAYERS
_MAX_TEXT = 100_000  # characters of layout notation
_MAX_DEPTH = 32  # nested groups


def _parse_seq(tokens: list[str], pos: int, text: str, depth: int = 0) -> tuple[list[str], int]:
    if depth > _MAX_DEPTH:
        raise LayoutError(f"layout {_short(text)} nests groups more than {_MAX_DEPTH} deep")
    layers: list[str] = []
    expect_item = True
    while pos < len(tokens) and tokens[pos] != ")":
        t = tokens[pos]
        if t == ",":
            if expect_item:
                raise LayoutError(f"empty item in layout {_short(text)}")
            expect_item = True
            pos += 1
            continue
        if t == "(":
            inner, pos = _parse_seq(tokens, pos + 1, text, depth + 1)
            if pos >= len(tokens) or tokens[pos] != ")":
                raise LayoutError(f"unclosed '(' in layout {_short(text)}")
            pos += 1
            if not inner:
                raise LayoutError(f"empty group '()' in layout {_short(text)}")
            item = inner
        elif t in ")*" or t.isdigit():
            raise LayoutError(f"unexpected {t!r} in layout {_short(text)}")
        else:
            item = [check_mixer(t.lower())]
            pos += 1
        if pos < len(tokens) and tokens[pos] == "*":
            if pos + 1 >= len(tokens) or not tokens[pos + 1].isdigit():
                raise LayoutError(f"'*' must be followed by a repeat count in layout {_short(text)}")
            digits = tokens[pos + 1].lstrip("0") or "0"
            reps = int(digits) if len(digits) <= 6 else _MAX_LAYERS + 1
            if reps < 1:
                raise LayoutError(f"repeat count must be at least 1 in layout {_short(text)}")
            if len(layers) + len(item) * reps > _MAX_LAYERS:
                raise LayoutError(f"layout {_short(text)} has more than {_MAX_LAYERS} layers")
            item = item * reps
            pos += 2
        layers.extend(item)
        if len(layers) > _MAX_LAYERS:
            raise LayoutError(f"layout {_short(text)} has more than {_MAX_LAYERS} layers")
        expect_item = False
    if expect_item and layers:
        raise LayoutError(f"trailing ',' in layout {_short(text)}")
    return layers, pos
