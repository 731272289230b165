"""Fidelity levels: the same layout judged at increasing budgets.

A level is a name, a budget preset and overrides. The presets are levels of their own (`smoke`, `quick`,
`standard`); a user-defined level is written `NAME=[PRESET][:key=value,key=value...]`, e.g.
`--level lo=quick:mqar_steps=100,lm_steps=50,d_model=64`; without a preset it starts from `--budget`.
`--set key=value` applies to every level, before the level's own overrides. Each evaluation is stored with
its level's name in the `fidelity` column, so results of different levels never meet in the cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nas.errors import UsageError
from proxies.budget import PRESETS, Budget, get_budget

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Level:
    name: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def budget(self, global_overrides: dict[str, Any] | None = None) -> Budget:
        return get_budget(self.preset, {**(global_overrides or {}), **self.overrides})

    def describe(self) -> str:
        sets = ",".join(f"{k}={v}" for k, v in self.overrides.items())
        return self.preset + (f" + {sets}" if sets else "")


def parse_level(spec: str, default_preset: str) -> Level:
    """`NAME=[PRESET][:k=v,...]` -> Level (UsageError on a bad spec)."""
    if "=" not in spec:
        raise UsageError(f"--level needs NAME=[PRESET][:key=value,...], got {spec!r}")
    name, rest = (t.strip() for t in spec.split("=", 1))
    if not _NAME.match(name):
        raise UsageError(f"bad level name {name!r}: use letters, digits, '_', '-', '.' (at most 64)")
    preset, _, sets = rest.partition(":")
    preset = preset.strip() or default_preset
    if preset not in PRESETS:
        raise UsageError(f"level {name!r}: unknown budget preset {preset!r}; valid: {', '.join(PRESETS)}")
    overrides: dict[str, Any] = {}
    for item in [t for t in sets.split(",") if t.strip()]:
        if "=" not in item:
            raise UsageError(f"level {name!r}: override needs key=value, got {item.strip()!r}")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v.strip()
    return Level(name, preset, overrides)


def resolve_levels(names: list[str], definitions: list[str] | None, default_preset: str,
                   global_overrides: dict[str, Any] | None = None) -> list[tuple[Level, Budget]]:
    """The levels named (in order), each with its budget; the presets are levels without a definition."""
    defined: dict[str, Level] = {}
    for spec in definitions or []:
        level = parse_level(spec, default_preset)
        if level.name in defined:
            raise UsageError(f"level {level.name!r} defined twice")
        defined[level.name] = level
    if not names:
        raise UsageError("no fidelity level given")
    if len(set(names)) != len(names):
        raise UsageError(f"a level is listed twice in {','.join(names)}")
    out = []
    for n in names:
        if n in defined:
            level = defined[n]
        elif n in PRESETS:
            level = Level(n, n)
        else:
            valid = sorted(set(PRESETS) | set(defined))
            raise UsageError(f"unknown fidelity level {n!r}; valid: {', '.join(valid)} "
                             "(define one with --level NAME=PRESET:key=value,...)")
        out.append((level, level.budget(global_overrides)))
    return out
