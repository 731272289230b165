"""The search space as a native Ray Tune parameter space, so that any Tune searcher can drive it.

    params = param_space(space)                 # {"ratio": tune.choice([...]), "mixer": tune.choice([...])}
    params = param_space(space, grid=True)      # the same names, tune.grid_search over the same values
    layout = layout_from_params(space, config)  # raises SpaceError(reason) for a proposal outside the space

Parameter names are those of `SearchSpace.suggest` (Optuna define-by-run), so a configuration means the same
layout whichever searcher proposed it:

  * `pure_attention`   True/False, only when the space offers the all-attention baseline (True wins over the rest)
  * `ratio`            periodic placement: one of the feasible linear:full ratios
  * `attn_<i>`         free placement: True/False per layer (no repair: a count outside the bounds is rejected)
  * `mixer`            the linear mixer of every linear layer, or `mixer_<i>` per layer with `mix_linear`
                       (ignored at attention layers)

Tune's domains are independent of each other, so the constraints across parameters (the attention-count and
ratio bounds of free placement) are enforced by `layout_from_params` / `rejection`: the search records such a
proposal as failed with that reason and never trains it. Nothing here imports Ray until `param_space` is called.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from search_space.errors import LayoutError, SpaceError
from search_space.layout import Layout
from search_space.names import ATTENTION
from search_space.ratio import attention_count, evenly_spaced
from search_space.space import SearchSpace


def choices(space: SearchSpace) -> dict[str, list[Any]]:
    """Every parameter of the native space with its values, in a stable order."""
    out: dict[str, list[Any]] = {}
    if space.include_pure_attention:
        out["pure_attention"] = [False, True]
    if space.placement == "periodic":
        out["ratio"] = list(space.feasible_ratios())
    elif space.placement == "free":
        for i in range(space.n_layers):
            out[f"attn_{i}"] = [False, True]
    if space.mix_linear:
        for i in range(space.n_layers):
            out[f"mixer_{i}"] = list(space.mixers)
    else:
        out["mixer"] = list(space.mixers)
    return out


def param_space(space: SearchSpace, *, grid: bool = False) -> dict[str, Any]:
    """Ray Tune's `param_space`: `tune.choice` per parameter (`tune.grid_search` with `grid=True`)."""
    from ray import tune

    make = tune.grid_search if grid else tune.choice
    return {name: make(values) for name, values in choices(space).items()}


def grid_size(space: SearchSpace) -> int:
    """How many configurations `param_space(space, grid=True)` enumerates (rejected ones included)."""
    return math.prod(len(v) for v in choices(space).values())


def layout_from_params(space: SearchSpace, params: Mapping[str, Any]) -> Layout:
    """The layout a configuration describes, checked against the space.

    Raise `SpaceError` saying why when a parameter is missing or unknown-valued, or when the layout breaks
    a constraint of the space (e.g. too many attention layers for its bounds).
    """
    layout = build_layout(space, params)
    space.check(layout)
    return layout


def build_layout(space: SearchSpace, params: Mapping[str, Any]) -> Layout:
    """The layout a configuration describes, without checking the space's bounds (`SpaceError` when the
    configuration does not describe a layout at all)."""
    n = space.n_layers
    if space.include_pure_attention and _flag(params, "pure_attention"):
        return Layout((ATTENTION,) * n)
    if space.placement == "periodic":
        ratio = _get(params, "ratio")
        if ratio not in space.ratios:
            raise SpaceError(f"ratio {ratio!r} is not among the space's ratios {', '.join(space.ratios)}")
        attention: tuple[int, ...] = evenly_spaced(n, attention_count(n, ratio))
    elif space.placement == "fixed":
        attention = space.attention_layers
    else:
        attention = tuple(i for i in range(n) if _flag(params, f"attn_{i}"))
    if space.mix_linear:
        linear: list[str] | str = [
            ATTENTION if i in attention else _mixer(space, params, f"mixer_{i}") for i in range(n)
        ]
    else:
        linear = _mixer(space, params, "mixer")
    try:
        return space.build(attention, linear)
    except LayoutError as exc:
        raise SpaceError(str(exc)) from None


def rejection(space: SearchSpace, params: Mapping[str, Any]) -> str | None:
    """None when the configuration is a layout of the space, else the reason it is rejected."""
    try:
        layout_from_params(space, params)
    except SpaceError as exc:
        return str(exc)
    return None


def params_of(space: SearchSpace, layout: Layout) -> dict[str, Any]:
    """A configuration of the native space that describes `layout` (for `points_to_evaluate`); `SpaceError`
    when the layout is not in the space."""
    space.check(layout)
    n = space.n_layers
    att = layout.attention_indices
    out: dict[str, Any] = {}
    if space.include_pure_attention:
        out["pure_attention"] = layout.layers == (ATTENTION,) * n
        if out["pure_attention"]:
            for name, values in choices(space).items():
                out.setdefault(name, values[0])
            return out
    if space.placement == "periodic":
        out["ratio"] = next(r for r in space.feasible_ratios() if evenly_spaced(n, attention_count(n, r)) == att)
    elif space.placement == "free":
        out.update({f"attn_{i}": i in att for i in range(n)})
    linear = [m for m in layout.layers if m != ATTENTION]
    if space.mix_linear:
        out.update({f"mixer_{i}": m if m != ATTENTION else space.mixers[0] for i, m in enumerate(layout.layers)})
    else:
        out["mixer"] = linear[0] if linear else space.mixers[0]
    return out


def _get(params: Mapping[str, Any], name: str) -> Any:
    if name not in params:
        raise SpaceError(f"the configuration has no parameter {name!r} (given: {', '.join(sorted(params)) or 'none'})")
    return params[name]


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = _get(params, name)
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and "bool" in type(value).__name__):
        return bool(value)
    raise SpaceError(f"parameter {name!r} must be True or False, got {value!r}")


def _mixer(space: SearchSpace, params: Mapping[str, Any], name: str) -> str:
    value = _get(params, name)
    if value not in space.mixers:
        raise SpaceError(f"parameter {name!r} is {value!r}, not among the space's mixers {','.join(space.mixers)}")
    return value
