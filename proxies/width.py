"""Width matching: size a mixer so that its per-layer parameters equal another mixer's at the same d_model.

What is matched: the parameters of one mixer layer (`Mixer.num_params()`: projections, convolutions, gates, norms),
not the whole model. The target is by default `attn`, whose layer holds 4 d^2 (q, k, v, o at width d). The MLP,
embeddings and norms of a block are the same for every mixer, so matched mixers give hybrids of equal size and
differences in their scores come from the token mixing, not from parameters.

The knob, per mixer (the value or head width; key widths keep their paper defaults unless said):
    attn, swa             head_dim (even, for rotary)
    gla, gdn, deltanet,   expand_v, value width in steps of n_heads (gdn, deltanet: ~2/3 of d; retnet ~2/3 of d
    hgrn, retnet          instead of the paper's 2d; gla, hgrn stay at ~d)
    hgrn2                 expand_k and expand_v together (the state expansion and the input width, ~d)
    mamba2                expand_v, the inner width (~4/3 d instead of 2d), in steps of 16; the head size
                          stays cfg.dh where it divides the width, else 32 or 16 (head_dim is set too)
The parameter count of every mixer grows with its knob, so a bisection over the allowed widths finds the
closest one (ties go to the smaller width). Parameter counts come from modules built on the meta device
(nothing is allocated and the random generators are not touched); results are cached.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import torch

from proxies import registry
from proxies.mixers.base import MixerConfig

_HEAD = ("attn", "swa")
_KEY_AND_VALUE = ("hgrn2",)


def mixer_params(name: str, cfg: MixerConfig) -> int:
    """Parameters of one `name` layer built from `cfg` (on the meta device: no memory, no RNG)."""
    return _params(name, _normal(cfg))


def match_width(name: str, cfg: MixerConfig, target: str = "attn") -> MixerConfig:
    """`cfg` with `name`'s width knob set so its per-layer parameters are as close as possible to `target`'s.

    The target is built from `cfg` with its own paper defaults (expand_k, expand_v unset). Matching a mixer to
    itself returns `cfg` unchanged. Raises LayoutError for an unknown mixer name.
    """
    registry.get(name), registry.get(target)  # unknown names fail here, with the valid ones listed
    if name == target:
        return cfg
    width = _best_width(name, target, _normal(cfg))
    return _with_width(name, cfg, width)


def knob(name: str) -> str:
    """The MixerConfig field(s) `match_width` sets for `name`, in words."""
    if name in _HEAD:
        return "head_dim"
    if name in _KEY_AND_VALUE:
        return "expand_k, expand_v"
    return "expand_v"


# -- internals -----------------------------------------------------------------------------------
def _normal(cfg: MixerConfig) -> MixerConfig:
    """The fields that do not change a parameter count, set to fixed values (for the cache)."""
    return replace(cfg, layer_idx=0, n_layers=1, impl="chunk", window=max(cfg.window, 1))


@functools.lru_cache(maxsize=1024)
def _params(name: str, cfg: MixerConfig) -> int:
    with torch.device("meta"):
        module = registry.get(name).cls(cfg)
    return module.num_params()


def _step(name: str, cfg: MixerConfig) -> int:
    if name in _HEAD:
        return 2  # rotary pairs
    if name == "mamba2":
        return min(16, cfg.dh) if cfg.dh % min(16, cfg.dh) == 0 else cfg.dh  # see _mamba_head
    return cfg.n_heads  # widths are multiples of the head count


def _with_width(name: str, cfg: MixerConfig, width: int) -> MixerConfig:
    """`cfg` with the knob of `name` at `width` (head size for attention, else a total width)."""
    if name in _HEAD:
        return replace(cfg, head_dim=width)
    e = width / cfg.d_model
    if name == "mamba2":
        return replace(cfg, expand_v=e, head_dim=_mamba_head(width, cfg.dh))
    if name in _KEY_AND_VALUE:
        return replace(cfg, expand_k=e, expand_v=e)
    return replace(cfg, expand_v=e)


def _mamba_head(width: int, dh: int) -> int:
    """Mamba2's head size at inner width `width`: cfg.dh when it divides the width, else 32 or 16 (whole heads,
    sizes the Triton kernels take)."""
    for p in (dh, 32, 16):
        if p <= dh and width % p == 0:
            return p
    return dh


@functools.lru_cache(maxsize=1024)
def _best_width(name: str, target: str, cfg: MixerConfig) -> int:
    goal = _params(target, replace(cfg, expand_k=None, expand_v=None))
    step = _step(name, cfg)

    def p(i: int) -> int:  # parameters at knob width i * step
        return _params(name, _with_width(name, cfg, i * step))

    lo, hi = 1, 2
    while p(hi) < goal and hi < 1 << 20:
        hi *= 2
    while hi - lo > 1:  # p(lo) < goal <= p(hi), or lo is the smallest width
        mid = (lo + hi) // 2
        if p(mid) < goal:
            lo = mid
        else:
            hi = mid
    near = range(max(1, lo - 2), hi + 3)  # the neighbours too: mamba2's head count makes p() only nearly monotone
    best = min(near, key=lambda i: (abs(p(i) - goal), i))
    return best * step
