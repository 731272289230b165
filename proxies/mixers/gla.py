"""`gla`: Gated Linear Attention (Yang et al., arXiv 2312.06635), Section 4 ("GLA Transformer").

Recurrence (their Eq. 3): S_t = (alpha_t^T 1) * S_{t-1} + k_t^T v_t, o_t = q_t S_t, with a per-key-channel
data-dependent decay alpha_t = sigmoid(x_t W_a1 W_a2 + b)^(1/tau), tau = 16 (low rank 16), computed in log
space as logsigmoid(.) / 16. Output: per-head RMSNorm of o_t, times swish(x_t W_r), then W_o.
Defaults as in the paper: key width d/2 (expand_k 0.5), value width d (expand_v 1), n_heads heads.
With `short_conv` (flash-linear-attention's `use_short_conv`, off in its layer as in the paper): q, k, v each
pass a depthwise causal convolution of width W and SiLU after their projections.
FLOPs per token: 4 d dk + 6 d dv + 32 (d + dk) (projections, rank-16 gate) + 4 dk dv / H (core), plus
2 W (2 dk + dv) with the convolutions.
Decode state: H (dk/H)(dv/H) elements, plus (W - 1)(2 dk + dv) with the convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, linear_flops
from proxies.mixers.common import GatedRMSNorm, conv_costs, merge_heads, optional_convs, split_heads, through
from proxies.registry import MixerSpec, register

GATE_RANK = 16
GATE_TAU = 16.0


class GLA(Mixer):
    name = "gla"
    optional_conv = True

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d, H = cfg.d_model, cfg.n_heads
        self.dk, self.dv = cfg.widths(0.5, 1.0)
        self.H = H
        self.q = nn.Linear(d, self.dk, bias=False)
        self.k = nn.Linear(d, self.dk, bias=False)
        self.v = nn.Linear(d, self.dv, bias=False)
        convs = optional_convs(cfg, "silu", q=self.dk, k=self.dk, v=self.dv)
        self.conv_q, self.conv_k, self.conv_v = convs["q"], convs["k"], convs["v"]
        self.gate_down = nn.Linear(d, GATE_RANK, bias=False)
        self.gate_up = nn.Linear(GATE_RANK, self.dk, bias=True)
        self.r = nn.Linear(d, self.dv, bias=False)
        self.norm = GatedRMSNorm(self.dv // H)
        self.o = nn.Linear(self.dv, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H = self.H
        q = split_heads(through(self.conv_q, self.q(x)), H)  # (B, T, H, K)
        k = split_heads(through(self.conv_k, self.k(x)), H)
        v = split_heads(through(self.conv_v, self.v(x)), H)  # (B, T, H, V)
        g = F.logsigmoid(self.gate_up(self.gate_down(x))) / GATE_TAU  # (B, T, dk) log decay <= 0
        o = ops.gla(q, k, v, split_heads(g, H), impl=self.cfg.impl)  # (B, T, H, dv/H)
        o = self.norm(o, split_heads(self.r(x), H))
        return self.o(merge_heads(o))

    def flops_per_token(self, context_len: int) -> float:
        d, dk, dv, H = self.cfg.d_model, self.dk, self.dv, self.H
        proj = 2 * linear_flops(d, dk) + 2 * linear_flops(d, dv) + linear_flops(dv, d)
        proj += linear_flops(d, GATE_RANK) + linear_flops(GATE_RANK, dk)
        return proj + conv_costs(self.conv_q, self.conv_k, self.conv_v)[0] + 4 * dk * dv / H

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        tails = conv_costs(self.conv_q, self.conv_k, self.conv_v)[1]
        return (self.dk * self.dv // self.H + tails) * dtype_bytes


register(MixerSpec(
    name="gla", cls=GLA,
    paper="Gated Linear Attention Transformers with Hardware-Efficient Training (arXiv 2312.06635)",
    flops_formula="4 d dk + 6 d dv + 32 (d + dk) + 4 dk dv / H",
    state_formula="dk dv / H (dk = d/2, dv = d)",
))
