"""The search space: which layouts a search may propose, and how Optuna proposes them.

Placement modes:
  * `free`     every layer chooses attention or linear; counts outside the bounds are repaired
               deterministically (extra attention layers become linear from the top down, missing ones are
               added at evenly spaced free positions), so every proposal is valid.
  * `periodic` linear:full `r:1` with attention evenly spaced, each at the end of its period; the ratio is
               chosen from `ratios`.
  * `fixed`    attention exactly at `attention_layers`; only the linear mixers are searched.
Linear mixers come from `mixers`; with `mix_linear` every linear layer picks its own, else one kind per layout.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterator

from search_space.errors import SpaceError
from search_space.layout import MAX_LAYERS, Layout
from search_space.names import ATTENTION, LINEAR_MIXERS
from search_space.ratio import attention_count, canonical_ratio, evenly_spaced, ratio_of

PLACEMENTS = ("free", "periodic", "fixed")
DEFAULT_RATIOS = ("pure", "11:1", "7:1", "5:1", "3:1", "2:1", "1:1")
GRID_LIMIT = 100_000


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    n_layers: int = 12
    mixers: tuple[str, ...] = ("gdn", "gla")
    placement: str = "periodic"
    ratios: tuple[str, ...] = DEFAULT_RATIOS
    attention_layers: tuple[int, ...] = ()
    min_attention: int = 0
    max_attention: int | None = None
    min_ratio: float | None = None  # bounds on linear:full (n_linear / n_attention)
    max_ratio: float | None = None
    mix_linear: bool = False
    include_pure_attention: bool = False  # also offer the all-attention baseline

    def __post_init__(self) -> None:
        object.__setattr__(self, "mixers", tuple(m.strip().lower() for m in self.mixers))
        object.__setattr__(self, "ratios", tuple(canonical_ratio(r) for r in self.ratios))
        object.__setattr__(self, "attention_layers", tuple(sorted(set(self.attention_layers))))
        self.validate()

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        if isinstance(self.n_layers, bool) or not isinstance(self.n_layers, int) or not 1 <= self.n_layers <= MAX_LAYERS:
            raise SpaceError(f"n_layers must be an integer from 1 to {MAX_LAYERS} (the layout notation's cap), "
                             f"got {self.n_layers!r}")
        if self.placement not in PLACEMENTS:
            raise SpaceError(f"unknown placement {self.placement!r}; valid: {', '.join(PLACEMENTS)}")
        if not self.mixers:
            raise SpaceError(f"no linear mixers given; valid: {', '.join(LINEAR_MIXERS)}")
        for m in self.mixers:
            if m == ATTENTION:
                raise SpaceError("'attn' is placed by the placement mode, not listed among the linear mixers")
            if m not in LINEAR_MIXERS:
                raise SpaceError(f"unknown linear mixer {m!r}; valid: {', '.join(LINEAR_MIXERS)}")
        if len(set(self.mixers)) != len(self.mixers):
            raise SpaceError(f"mixer listed twice in {','.join(self.mixers)}")
        if self.min_attention < 0:
            raise SpaceError("min_attention must be >= 0")
        if self.max_attention is not None and self.max_attention < self.min_attention:
            raise SpaceError(f"max_attention {self.max_attention} < min_attention {self.min_attention}")
        if self.min_ratio is not None and self.max_ratio is not None and self.min_ratio > self.max_ratio:
            raise SpaceError(f"min_ratio {self.min_ratio} > max_ratio {self.max_ratio}")
        if self.placement == "fixed":
            if not self.attention_layers:
                raise SpaceError("fixed placement needs the attention layer indices (--attention-layers, e.g. "
                                 "'3,7,11'); for layouts without attention use --placement periodic --ratios pure")
            bad = [i for i in self.attention_layers if not 0 <= i < self.n_layers]
            if bad:
                raise SpaceError(f"attention layer indices {bad} outside 0..{self.n_layers - 1}")
            if not self.count_allowed(len(self.attention_layers)):
                raise SpaceError(
                    f"fixed attention layers {list(self.attention_layers)} break the bounds ({self.bounds_text()})"
                )
        if self.placement == "periodic":
            if not self.ratios:
                raise SpaceError("periodic placement needs at least one ratio, e.g. '3:1'")
            if not self.feasible_ratios():
                raise SpaceError(
                    f"no ratio in {', '.join(self.ratios)} gives an attention count within the bounds "
                    f"({self.bounds_text()}) at {self.n_layers} layers"
                )
        if self.placement == "free" and not self.allowed_counts():
            raise SpaceError(f"no attention count in 0..{self.n_layers} satisfies {self.bounds_text()}")

    def bounds_text(self) -> str:
        hi = self.n_layers if self.max_attention is None else self.max_attention
        parts = [f"{self.min_attention} <= attention layers <= {hi}"]
        if self.min_ratio is not None:
            parts.append(f"linear:full >= {self.min_ratio:g}")
        if self.max_ratio is not None:
            parts.append(f"linear:full <= {self.max_ratio:g}")
        return ", ".join(parts)

    def count_allowed(self, n_attention: int) -> bool:
        if n_attention < self.min_attention:
            return False
        if self.max_attention is not None and n_attention > self.max_attention:
            return False
        r = ratio_of(self.n_layers, n_attention)
        if self.min_ratio is not None and r < self.min_ratio:
            return False
        if self.max_ratio is not None and r > self.max_ratio:
            return False
        return True

    def allowed_counts(self) -> list[int]:
        return [a for a in range(self.n_layers + 1) if self.count_allowed(a)]

    def ratio_notes(self) -> list[str]:
        """What the periodic ratios the depth cannot hold exactly become, grouped by what runs
        (e.g. at 4 layers: "7:1, 5:1 run as 3:1 (1 attention layer of 4)")."""
        if self.placement != "periodic":
            return []
        becomes: dict[str, list[str]] = {}
        counts: dict[str, int] = {}
        for r in self.ratios:
            a = attention_count(self.n_layers, r)
            real = canonical_ratio(f"{self.n_layers - a}:{a}") if a else "pure"
            if real != r:
                becomes.setdefault(real, []).append(r)
                counts[real] = a
        return [f"{', '.join(rs)} run{'s' if len(rs) == 1 else ''} as {real} ({counts[real]} attention "
                f"layer{'s' if counts[real] != 1 else ''} of {self.n_layers})" for real, rs in becomes.items()]

    def feasible_ratios(self) -> list[str]:
        return [r for r in self.ratios if self.count_allowed(attention_count(self.n_layers, r))]

    def check(self, layout: Layout) -> None:
        """Raise `SpaceError` saying why `layout` is not in this space."""
        if layout.n_layers != self.n_layers:
            raise SpaceError(f"layout {layout} has {layout.n_layers} layers, the space has {self.n_layers}")
        if layout.layers == (ATTENTION,) * self.n_layers and self.include_pure_attention:
            return
        for m in layout.linear_mixers:
            if m not in self.mixers:
                raise SpaceError(f"layout {layout} uses {m!r}, not among the space's mixers {','.join(self.mixers)}")
        if not self.mix_linear and len(layout.linear_mixers) > 1:
            raise SpaceError(f"layout {layout} mixes linear mixers but the space has mix_linear off")
        if not self.count_allowed(layout.n_attention):
            raise SpaceError(f"layout {layout} has {layout.n_attention} attention layers: breaks {self.bounds_text()}")
        if self.placement == "fixed" and layout.attention_indices != self.attention_layers:
            raise SpaceError(f"layout {layout} places attention at {list(layout.attention_indices)}, "
                             f"the space fixes {list(self.attention_layers)}")
        if self.placement == "periodic":
            ok = any(
                layout.attention_indices == evenly_spaced(self.n_layers, attention_count(self.n_layers, r))
                for r in self.feasible_ratios()
            )
            if not ok:
                raise SpaceError(f"layout {layout} is not evenly spaced at any of the ratios {', '.join(self.ratios)}")

    def contains(self, layout: Layout) -> bool:
        try:
            self.check(layout)
        except SpaceError:
            return False
        return True

    # -- building layouts ---------------------------------------------------------------------
    def build(self, attention: tuple[int, ...] | list[int], linear: list[str] | str) -> Layout:
        """A layout with attention at `attention` and `linear` (one name, or one per layer) elsewhere."""
        att = set(attention)
        layers = []
        for i in range(self.n_layers):
            if i in att:
                layers.append(ATTENTION)
            else:
                layers.append(linear if isinstance(linear, str) else linear[i])
        return Layout(tuple(layers))

    def repair_attention(self, wanted: list[int]) -> tuple[int, ...]:
        """Bring a free choice of attention positions within the count bounds, deterministically."""
        counts = self.allowed_counts()
        pos = sorted(set(wanted))
        if len(pos) in counts:
            return tuple(pos)
        target = min(counts, key=lambda c: (abs(c - len(pos)), c))
        if target < len(pos):
            return tuple(pos[:target])  # drop from the top
        for p in evenly_spaced(self.n_layers, target):
            if len(pos) == target:
                break
            if p not in pos:
                pos.append(p)
        free = [i for i in range(self.n_layers) if i not in pos]
        while len(pos) < target:  # evenly spaced slots were taken: fill from the top down
            pos.append(free.pop())
        return tuple(sorted(pos))

    # -- Optuna define-by-run -----------------------------------------------------------------
    def suggest(self, trial: Any) -> Layout:
        """Propose a layout from an Optuna trial; every proposal is inside the space."""
        if self.include_pure_attention and trial.suggest_categorical("pure_attention", [False, True]):
            return Layout((ATTENTION,) * self.n_layers)
        if self.placement == "periodic":
            ratio = trial.suggest_categorical("ratio", list(self.feasible_ratios()))
            attention = evenly_spaced(self.n_layers, attention_count(self.n_layers, ratio))
        elif self.placement == "fixed":
            attention = self.attention_layers
        else:
            wanted = [i for i in range(self.n_layers) if trial.suggest_categorical(f"attn_{i}", [False, True])]
            attention = self.repair_attention(wanted)
        if self.mix_linear:
            linear = [
                ATTENTION if i in attention else trial.suggest_categorical(f"mixer_{i}", list(self.mixers))
                for i in range(self.n_layers)
            ]
        else:
            linear = trial.suggest_categorical("mixer", list(self.mixers))
        return self.build(attention, linear)

    def params_of(self, layout: Layout) -> dict[str, Any]:
        """The Optuna parameters for which `suggest` proposes `layout` (a layout of this space), e.g. to
        enqueue it as a trial."""
        self.check(layout)
        params: dict[str, Any] = {}
        if self.include_pure_attention:
            params["pure_attention"] = layout.layers == (ATTENTION,) * self.n_layers
            if params["pure_attention"]:
                return params
        att = layout.attention_indices
        if self.placement == "periodic":
            params["ratio"] = next(r for r in self.feasible_ratios()
                                   if evenly_spaced(self.n_layers, attention_count(self.n_layers, r)) == att)
        elif self.placement == "free":
            params.update({f"attn_{i}": i in att for i in range(self.n_layers)})
        if self.mix_linear:
            params.update({f"mixer_{i}": m for i, m in enumerate(layout.layers) if m != ATTENTION})
        else:
            params["mixer"] = layout.linear_mixers[0] if layout.linear_mixers else self.mixers[0]
        return params

    # -- grid ---------------------------------------------------------------------------------
    def attention_choices(self) -> list[tuple[int, ...]]:
        if self.placement == "fixed":
            return [self.attention_layers]
        if self.placement == "periodic":
            seen = {}
            for r in self.feasible_ratios():
                seen.setdefault(evenly_spaced(self.n_layers, attention_count(self.n_layers, r)))
            return list(seen)
        return [c for a in self.allowed_counts() for c in itertools.combinations(range(self.n_layers), a)]

    def grid_size(self) -> int:
        """How many layouts `grid()` yields (counted, not enumerated)."""

        def per_placement(n_attention: int) -> int:
            n_lin = self.n_layers - n_attention
            return len(self.mixers) ** n_lin if self.mix_linear else (len(self.mixers) if n_lin else 1)

        if self.placement == "free":
            total = sum(math.comb(self.n_layers, a) * per_placement(a) for a in self.allowed_counts())
        else:
            total = sum(per_placement(len(att)) for att in self.attention_choices())
        all_attention_counted = self.count_allowed(self.n_layers) and (
            self.placement == "free" or self.n_layers in (len(a) for a in self.attention_choices()))
        return total + (1 if self.include_pure_attention and not all_attention_counted else 0)

    def grid(self) -> Iterator[Layout]:
        """Every layout of the space, once each (raises `SpaceError` above GRID_LIMIT layouts)."""
        size = self.grid_size()
        if size > GRID_LIMIT:
            raise SpaceError(f"the space holds {size} layouts, more than a grid can enumerate ({GRID_LIMIT}); "
                             "use sampler tpe, nsga2 or random, or narrow the space")
        seen: set[Layout] = set()
        for att in self.attention_choices():
            lin_slots = [i for i in range(self.n_layers) if i not in att]
            if self.mix_linear:
                combos = itertools.product(self.mixers, repeat=len(lin_slots))
                for combo in combos:
                    linear = [ATTENTION] * self.n_layers
                    for slot, m in zip(lin_slots, combo):
                        linear[slot] = m
                    layout = self.build(att, linear)
                    if layout not in seen:
                        seen.add(layout)
                        yield layout
            else:
                for m in self.mixers if lin_slots else self.mixers[:1]:
                    layout = self.build(att, m)
                    if layout not in seen:
                        seen.add(layout)
                        yield layout
        if self.include_pure_attention:
            layout = Layout((ATTENTION,) * self.n_layers)
            if layout not in seen:
                yield layout

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchSpace":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise SpaceError(f"unknown search-space fields {sorted(unknown)}; valid: {sorted(names)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kw)
