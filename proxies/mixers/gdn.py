"""`gdn`: Gated DeltaNet (Yang, Kautz, Hatamizadeh, arXiv 2412.06464), Section 3 and their Figure 1 block.

Recurrence (their Eq. 10): S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t,
with q, k, v = SiLU(ShortConv(x W)) (width 4), q and k L2-normalised per head, beta_t = sigmoid(x_t W_b),
alpha_t = exp(-exp(A_log) * softplus(x_t W_a + dt_bias)) (Mamba2's decay; log alpha computed directly).
Output: per-head RMSNorm of o_t times swish(x_t W_g), then W_o.
Defaults: n_heads heads, key and value width d (expand_k = expand_v = 1; the paper's 1.3B model uses
expand_v 2, settable through MixerConfig).
FLOPs per token: 2 d (2 dk + 3 dv + 2 H) + 2 W (2 dk + dv) + 6 dk dv / H.
Decode state: H (dk/H)(dv/H) plus the convolution tails (W - 1)(2 dk + dv).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, conv_flops, linear_flops
from proxies.mixers.common import GatedRMSNorm, ShortConv, merge_heads, split_heads
from proxies.registry import MixerSpec, register


def mamba_decay_init(n_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A_log and dt_bias initialised as in Mamba2: A in [1, 16], dt in [1e-3, 1e-1] log-uniform."""
    A = torch.empty(n_heads).uniform_(1, 16)
    dt = torch.exp(torch.rand(n_heads) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
    dt_bias = dt + torch.log(-torch.expm1(-dt))  # inverse softplus
    return torch.log(A), dt_bias


class GatedDeltaNet(Mixer):
    name = "gdn"
    decay: ClassVar[bool] = True  # the alpha_t decay gate (DeltaNet: off)
    use_gate: ClassVar[bool] = True  # the swish output gate after the norm (DeltaNet's release: off)

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d, H = cfg.d_model, cfg.n_heads
        self.H = H
        self.dk, self.dv = cfg.widths(1.0, 1.0)
        self.q = nn.Linear(d, self.dk, bias=False)
        self.k = nn.Linear(d, self.dk, bias=False)
        self.v = nn.Linear(d, self.dv, bias=False)
        self.conv_q = ShortConv(self.dk, cfg.conv_size)
        self.conv_k = ShortConv(self.dk, cfg.conv_size)
        self.conv_v = ShortConv(self.dv, cfg.conv_size)
        self.b = nn.Linear(d, H, bias=False)
        if self.decay:
            self.a = nn.Linear(d, H, bias=False)
            A_log, dt_bias = mamba_decay_init(H)
            self.A_log = nn.Parameter(A_log)
            self.dt_bias = nn.Parameter(dt_bias)
        if self.use_gate:
            self.g = nn.Linear(d, self.dv, bias=False)
        self.norm = GatedRMSNorm(self.dv // H)
        self.o = nn.Linear(self.dv, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H = self.H
        q = F.normalize(split_heads(self.conv_q(self.q(x)), H), dim=-1)  # (B, T, H, K)
        k = F.normalize(split_heads(self.conv_k(self.k(x)), H), dim=-1)
        v = split_heads(self.conv_v(self.v(x)), H)  # (B, T, H, V)
        beta = torch.sigmoid(self.b(x))  # (B, T, H)
        g = None
        if self.decay:
            g = -self.A_log.float().exp() * F.softplus(self.a(x).float() + self.dt_bias)  # (B, T, H) <= 0
        o = ops.delta_rule(q, k, v, beta, g, impl=self.cfg.impl)  # (B, T, H, V)
        o = self.norm(o, split_heads(self.g(x), H) if self.use_gate else None)
        return self.o(merge_heads(o))

    def flops_per_token(self, context_len: int) -> float:
        d, dk, dv, H, W = self.cfg.d_model, self.dk, self.dv, self.H, self.cfg.conv_size
        proj = 2 * linear_flops(d, dk) + linear_flops(d, dv) + linear_flops(dv, d)
        proj += linear_flops(d, H) * (2 if self.decay else 1) + (linear_flops(d, dv) if self.use_gate else 0)
        conv = 2 * conv_flops(dk, W) + conv_flops(dv, W)
        return proj + conv + 6 * dk * dv / H

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        W = self.cfg.conv_size
        conv_tail = (W - 1) * (2 * self.dk + self.dv) if W > 1 else 0
        return (self.dk * self.dv // self.H + conv_tail) * dtype_bytes


register(MixerSpec(
    name="gdn", cls=GatedDeltaNet,
    paper="Gated Delta Networks: Improving Mamba2 with Delta Rule (arXiv 2412.06464)",
    flops_formula="4 d dk + 6 d dv + 4 d H + 2 W (2 dk + dv) + 6 dk dv / H",
    state_formula="dk dv / H + (W - 1)(2 dk + dv)",
))
