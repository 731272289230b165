"""Model surgery for recall diagnostics: each patch changes one thing about a freshly built `HybridLM`.

Used by `tools/gpu/recall_points.py` (`patch=NAME[+NAME...]` on a point) to test, one knob at a time, why a
layout does not learn the recall task; nothing in the product imports it. A patch that finds a real fix becomes
a mixer option or a budget knob of the product, with its tests.

    conv     a short causal convolution (width 4, SiLU) after the q, k and v projections of every gla and
             retnet layer (flash-linear-attention's `use_short_conv=True`)
    zero_o   every non-attention mixer's output projection zero at init (attention learns first)
    l2qk     gla and retnet queries and keys L2-normalised per head (as GatedDeltaNet's are)
    slow     gla's decay at init near 1 (gate bias +4: about 0.9989 per step instead of 0.958)
    shift1   the token shift's previous-token tap 1 at init instead of 0 (the mixer input starts as h_t + h_{t-1})
    nonorm   mamba2's and hgrn2's output RMSNorm (no gate after it) left out: the readout keeps its own scale
    gain     mamba2's and hgrn2's output RMSNorm gain 0.1 at init instead of 1
    nod      mamba2's skip D zero at init instead of 1
    spread   retnet's fixed decays spread over the reference's 8-head range (1 - 2^-5 .. 1 - 2^-12) at any head count
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from proxies.mixers.common import ShortConv


class _ConvAfter(nn.Module):
    def __init__(self, proj: nn.Linear, width: int = 4) -> None:
        super().__init__()
        self.proj = proj
        self.conv = ShortConv(proj.out_features, width)

    def forward(self, x):
        return self.conv(self.proj(x))


class _L2Heads(nn.Module):
    def __init__(self, proj: nn.Linear, n_heads: int) -> None:
        super().__init__()
        self.proj, self.H = proj, n_heads

    def forward(self, x):
        y = self.proj(x)
        B, T, C = y.shape
        return F.normalize(y.view(B, T, self.H, C // self.H), dim=-1).view(B, T, C)


def _mixers(model, names):
    return [b.mixer for b in model.blocks if b.mixer.name in names]


def conv(model):
    for m in _mixers(model, {"gla", "retnet"}):
        m.q, m.k, m.v = _ConvAfter(m.q), _ConvAfter(m.k), _ConvAfter(m.v)


def zero_o(model):
    for b in model.blocks:
        if b.mixer.name != "attn" and (proj := b.mixer.residual_projection()) is not None:
            nn.init.zeros_(proj.weight)


def l2qk(model):
    for m in _mixers(model, {"gla", "retnet"}):
        m.q, m.k = _L2Heads(m.q, m.H), _L2Heads(m.k, m.H)


def slow(model):
    for m in _mixers(model, {"gla"}):
        nn.init.constant_(m.gate_up.bias, 4.0)


def shift1(model):
    for b in model.blocks:
        if b.shift is not None:
            with torch.no_grad():
                b.shift.weight[:, -2] = 1.0  # the tap on the previous token (the last tap is the current one)


def nonorm(model):
    for m in _mixers(model, {"mamba2", "hgrn2"}):
        m.norm = _Identity()


class _Identity(nn.Module):
    def forward(self, x, gate=None):
        return x


def gain(model):
    for m in _mixers(model, {"mamba2", "hgrn2"}):
        nn.init.constant_(m.norm.weight, 0.1)


def nod(model):
    for m in _mixers(model, {"mamba2"}):
        nn.init.zeros_(m.D)


def spread(model):
    """retnet's fixed decays spread over the range the reference's 8 heads cover, 1 - 2^-5 .. 1 - 2^-12, at any
    head count (1 - 2^(-5 - 7 h / (H - 1))); with 2 heads the formula's own are 1 - 2^-5 and 1 - 2^-6."""
    for m in _mixers(model, {"retnet"}):
        H = m.log_decay.numel()
        expo = -5.0 - 7.0 * torch.arange(H, dtype=torch.float64) / max(1, H - 1)
        m.log_decay.copy_((1.0 - 2.0 ** expo).log().float())


PATCHES = {"nonorm": nonorm, "gain": gain, "nod": nod, "spread": spread, "conv": conv, "zero_o": zero_o,
           "l2qk": l2qk, "slow": slow, "shift1": shift1}


def apply(model, spec: str):
    for name in filter(None, spec.split("+")):
        PATCHES[name](model)
    return model
