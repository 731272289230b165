"""One explicit registry: mixer name -> module class, paper, and its cost formulas in words.

A mixer is one file in `proxies/mixers/` and one `register(...)` call there; tests loop over `MIXERS`, so a
mixer is covered the day it is registered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from search_space.errors import LayoutError
from search_space.names import ALL_MIXERS


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


_MODULES = ("attn", "swa", "gla", "gdn", "deltanet", "hgrn", "hgrn2", "retnet", "mamba2")


def load_all() -> dict[str, MixerSpec]:
    """Import every mixer module (each registers itself) and return the registry."""
    for mod in _MODULES:
        importlib.import_module(f"proxies.mixers.{mod}")
    return MIXERS


def get(name: str) -> MixerSpec:
    load_all()
    if name not in MIXERS:
        valid = ", ".join(n for n in ALL_MIXERS if n in MIXERS)
        raise LayoutError(f"unknown mixer {name!r}; valid mixers: {valid}")
    return MIXERS[name]
