"""Building a proxy model from a layout and a budget (the same seed gives the same weights)."""

from __future__ import annotations

import threading

import torch

from proxies.budget import Budget
from proxies.mixers.base import MixerConfig
from proxies.model import HybridLM
from search_space.layout import Layout


def mixer_options(budget: Budget) -> dict:
    """The budget's knobs that change the mixers themselves, whatever their widths (the proxy models' and the
    teacher's students'): the kernels' implementation and the architecture options."""
    return {"impl": budget.impl, "short_conv": budget.short_conv, "mamba2_norm": budget.mamba2_norm,
            "hgrn2_norm": budget.hgrn2_norm, "retnet_decays": budget.retnet_decays}


def mixer_config(budget: Budget) -> MixerConfig:
    return MixerConfig(
        d_model=budget.d_model, n_heads=budget.n_heads, chunk_size=budget.chunk_size, window=budget.window,
        match_width="attn" if budget.match_width else "", **mixer_options(budget),
    )


_SEEDED = threading.Lock()  # the global generator is seeded and drawn from by one build at a time


def build_model(layout: Layout, budget: Budget, vocab_size: int, seed: int) -> HybridLM:
    with _SEEDED:  # trainings side by side (proxies.side_by_side) build in threads; each gets its seed's weights
        torch.manual_seed(seed)
        return HybridLM(layout, vocab_size, mixer_config(budget), token_shift=budget.token_shift)


def runnable(model: HybridLM, budget: Budget) -> torch.nn.Module:
    """What trains and evaluates: the model itself, or its torch.compile'd form with `torch_compile` (the
    parameters are shared; FLOPs are always counted on the plain model)."""
    return torch.compile(model) if budget.torch_compile else model
