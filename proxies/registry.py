"""One explicit registry: mixer name -> module class, paper, and its cost formulas in words.

The names come from `search_space.names.MIXER_NAMES`; each is one file in `proxies/mixers/` with one
`register(...)` call there. `load_all()` imports them and checks that every name has exactly one spec (and no spec
is registered under another name); tests loop over `MIXERS`, so a mixer is covered the day it is registered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from search_space.errors import LayoutError
from search_space.names import ALL_MIXERS, MIXER_NAMES


@dataclass(frozen=True)
class MixerSpec:
    name: str
    cls: type
    paper: str
    flops_formula: str  # forward FLOPs per token at context L, in words/symbols
    state_formula: str  # decode-state elements at context L
    linear: bool = True


MIXERS: dict[str, MixerSpec] = {}


def register(spec: MixerSpec) -> MixerSpec:
    if spec.name in MIXERS and MIXERS[spec.name].cls is not spec.cls:
        raise ValueError(f"mixer {spec.name!r} registered twice")
    MIXERS[spec.name] = spec
    return spec


def load_all() -> dict[str, MixerSpec]:
    """Import every mixer module (each registers itself), check the registry against the names, return it."""
    for entry in MIXER_NAMES:
        importlib.import_module(entry.module)
    _check_names()
    return MIXERS


def _check_names() -> None:
    missing = [m.name for m in MIXER_NAMES if m.name not in MIXERS]
    extra = [n for n in MIXERS if n not in ALL_MIXERS]
    wrong = [m.name for m in MIXER_NAMES if m.name in MIXERS and MIXERS[m.name].linear != m.linear]
    if missing or extra or wrong:
        raise RuntimeError(f"mixer registry out of step with search_space.names: no spec for {missing}, "
                           f"specs without a name {extra}, linear flag differs for {wrong}")


def get(name: str) -> MixerSpec:
    load_all()
    if name not in MIXERS:
        valid = ", ".join(n for n in ALL_MIXERS if n in MIXERS)
        raise LayoutError(f"unknown mixer {name!r}; valid mixers: {valid}")
    return MIXERS[name]
