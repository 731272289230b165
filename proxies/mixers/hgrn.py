"""`hgrn`: HGRN, the Hierarchically Gated Recurrent Network (Qin, Yang, Zhong, arXiv 2311.04823), its HGRU
token mixer (their Section 3) as released in flash-linear-attention (`HGRNAttention`).

Element-wise gated linear recurrence over dv channels, with the forget gate lower-bounded per layer:
    mu_t = sigmoid(x_t W_f),  lambda_t = gamma_l + (1 - gamma_l) mu_t,  c_t = SiLU(x_t W_i)
    h_t = lambda_t * h_{t-1} + (1 - lambda_t) * c_t
    o_t = (RMSNorm(h_t) * swish(x_t W_g)) W_o
Lower bound gamma_l for layer l of L (l = cfg.layer_idx, L = cfg.n_layers): the paper learns
gamma = cumsum(softmax(Gamma, over layers)) shifted so the first layer gets 0; with Gamma at its initial value
(zeros, as in the release) that is gamma_l = l / L. A mixer here cannot share parameters with the other layers
of a hybrid stack, so the schedule is fixed at gamma_l = l / L (0 for the first layer, (L-1)/L for the last):
it grows with depth, upper layers keep long memories, lower layers local ones.
Real-valued (the release; the paper's complex phase exp(i theta) is left out), no short convolution; with
`short_conv` (the release's `use_short_conv`) the i and f projections each pass a depthwise causal convolution
of width W before their activations (+ 4 W dv FLOPs, + 2 (W - 1) dv decode state).
Defaults: width dv = d (expand_v = 1); each channel is its own head (n_heads is not used).
The recurrence runs through `ops.gla` with dv heads of key and value size 1: q = 1, k = 1 - lambda,
v = c, g = log lambda (a per-head log gate), scale 1. Those heads are below the Triton kernels' minimum
head size (16), so impl "auto" and "triton" run the PyTorch chunked form; "recurrent" the reference.
FLOPs per token: 8 d dv (the i, f, g and o projections) + 4 dv (core). Decode state: dv elements.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, linear_flops
from proxies.mixers.common import GatedRMSNorm, conv_costs, optional_convs, through
from proxies.registry import MixerSpec, register


def lower_bound(layer_idx: int, n_layers: int) -> float:
    """The forget-gate lower bound of layer `layer_idx` of `n_layers`: l / L (the paper's scheme at init)."""
    return layer_idx / max(n_layers, 1)


def bounded_forget(f: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """From forget-gate logits `f`, return (log lambda, 1 - lambda), lambda = gamma + (1 - gamma) sigmoid(f)."""
    f = f.to(torch.promote_types(f.dtype, torch.float32))  # gates in float32 at least
    if gamma == 0.0:
        return F.logsigmoid(f), torch.sigmoid(-f)
    lam = gamma + (1.0 - gamma) * torch.sigmoid(f)
    return lam.log(), (1.0 - gamma) * torch.sigmoid(-f)


class HGRN(Mixer):
    name = "hgrn"
    optional_conv = True

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d = cfg.d_model
        _, self.dv = cfg.widths(1.0, 1.0)
        self.gamma = lower_bound(cfg.layer_idx, cfg.n_layers)
        self.i = nn.Linear(d, self.dv, bias=False)
        self.f = nn.Linear(d, self.dv, bias=False)
        self.g = nn.Linear(d, self.dv, bias=False)
        convs = optional_convs(cfg, None, i=self.dv, f=self.dv)  # before the mixer's own activations
        self.conv_i, self.conv_f = convs["i"], convs["f"]
        self.norm = GatedRMSNorm(self.dv)
        self.o = nn.Linear(self.dv, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = F.silu(through(self.conv_i, self.i(x)))  # (B, T, dv)
        log_lam, one_minus = bounded_forget(through(self.conv_f, self.f(x)), self.gamma)  # (B, T, dv) each
        v = c.unsqueeze(-1)  # (B, T, dv, 1): one head per channel
        k = one_minus.to(c.dtype).unsqueeze(-1)
        impl = "chunk" if self.cfg.impl in ("auto", "triton") else self.cfg.impl
        h = ops.gla(torch.ones_like(k), k, v, log_lam, scale=1.0, impl=impl).squeeze(-1)  # (B, T, dv)
        return self.o(self.norm(h, self.g(x)))

    def flops_per_token(self, context_len: int) -> float:
        d, dv = self.cfg.d_model, self.dv
        return 3 * linear_flops(d, dv) + linear_flops(dv, d) + conv_costs(self.conv_i, self.conv_f)[0] + 4 * dv

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        return (self.dv + conv_costs(self.conv_i, self.conv_f)[1]) * dtype_bytes


register(MixerSpec(
    name="hgrn", cls=HGRN,
    paper="Hierarchically Gated Recurrent Neural Network for Sequence Modeling (arXiv 2311.04823)",
    flops_formula="8 d dv + 4 dv",
    state_formula="dv (dv = d)",
))
