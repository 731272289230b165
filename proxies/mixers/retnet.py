"""`retnet`: multi-scale retention, the token mixer of RetNet (Sun et al., arXiv 2307.08621), their Section 2.

Per head h, a fixed decay gamma_h = 1 - 2^(-5 - h) (h = 0 .. H-1), constant over time and data (`cfg.retnet_decays =
"spread"`: 1 - 2^(-5 - 7 h / (H - 1)), the span of the paper's 8 heads at any head count; the proxies' default,
since with 2 heads the paper's decays forget within ~64 tokens: docs/architecture.md):
    S_t = gamma_h S_{t-1} + k_t^T v_t,  o_t = q_t S_t / sqrt(dk/H)   (their recurrent form, Eq. 6)
with q = rotary(x W_Q), k = rotary(x W_K) (the paper's xPos rotation; plain rotary here, as in
flash-linear-attention's release), then MSR(x) = (swish(x W_G) * Norm_h(o)) W_O with a per-head RMSNorm
(the paper's GroupNorm over heads; RMSNorm as in the later torchscale and the fla release). The core is
`ops.gla` with a per-head log gate log(gamma_h), the same at every step; the paper's parallel-form
normalisations of the decay matrix and the scores are left out (the per-head norm is scale invariant).
Defaults as in the paper: n_heads heads, key width d (expand_k = 1), value and gate width 2d (expand_v = 2), so
the layer holds 8 d^2 parameters (the paper pairs it with a 2d FFN; the MLP here is fixed, so `match_width`
brings expand_v down to ~2/3 to hold attention's 4 d^2).
With `short_conv` (flash-linear-attention's `use_short_conv`, off by default there): q, k, v each pass a
depthwise causal convolution of width W and SiLU after their projections, before the rotation.
FLOPs per token: 4 d dk + 6 d dv + 4 dk dv / H (+ 2 W (2 dk + dv) with the convolutions). Decode state:
H (dk/H)(dv/H) elements (+ (W - 1)(2 dk + dv) with the convolutions).
"""

from __future__ import annotations

import torch
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, linear_flops
from proxies.mixers.common import (GatedRMSNorm, conv_costs, merge_heads, optional_convs, rotary, split_heads,
                                   through)
from proxies.registry import MixerSpec, register


DECAYS = ("paper", "spread")


def retention_decays(n_heads: int, form: str = "paper") -> torch.Tensor:
    """The fixed per-head decays (float64). "paper": gamma_h = 1 - 2^(-5 - h), h = 0 .. n_heads - 1, so the span
    depends on the head count (8 heads: 1 - 2^-5 .. 1 - 2^-12; 2 heads: 1 - 2^-5 and 1 - 2^-6). "spread": the
    8-head span at any head count, gamma_h = 1 - 2^(-5 - 7 h / (n_heads - 1))."""
    if form not in DECAYS:
        raise ValueError(f"retnet: decays must be one of {', '.join(DECAYS)}, got {form!r}")
    h = torch.arange(n_heads, dtype=torch.float64)
    step = 1.0 if form == "paper" else 7.0 / max(1, n_heads - 1)
    return 1.0 - 2.0 ** (-5.0 - step * h)


class RetNet(Mixer):
    name = "retnet"
    optional_conv = True

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d, H = cfg.d_model, cfg.n_heads
        self.H = H
        self.dk, self.dv = cfg.widths(1.0, 2.0)
        if (self.dk // H) % 2:
            raise ValueError(f"retnet: rotary needs an even key head size, got {self.dk // H}")
        self.q = nn.Linear(d, self.dk, bias=False)
        self.k = nn.Linear(d, self.dk, bias=False)
        self.v = nn.Linear(d, self.dv, bias=False)
        convs = optional_convs(cfg, "silu", q=self.dk, k=self.dk, v=self.dv)
        self.conv_q, self.conv_k, self.conv_v = convs["q"], convs["k"], convs["v"]
        self.g = nn.Linear(d, self.dv, bias=False)
        self.norm = GatedRMSNorm(self.dv // H)
        self.o = nn.Linear(self.dv, d, bias=False)
        self.register_buffer("log_decay", retention_decays(H, cfg.retnet_decays).log().float(), persistent=False)  # (H,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, theta = self.H, self.cfg.rope_theta
        B, T, _ = x.shape
        q = rotary(split_heads(through(self.conv_q, self.q(x)), H), theta)  # (B, T, H, K)
        k = rotary(split_heads(through(self.conv_k, self.k(x)), H), theta)
        v = split_heads(through(self.conv_v, self.v(x)), H)  # (B, T, H, V)
        g = self.log_decay.to(torch.promote_types(x.dtype, torch.float32)).expand(B, T, H)  # (B, T, H)
        o = ops.gla(q, k, v, g, impl=self.cfg.impl)  # (B, T, H, V)
        o = self.norm(o, split_heads(self.g(x), H))
        return self.o(merge_heads(o))

    def flops_per_token(self, context_len: int) -> float:
        d, dk, dv, H = self.cfg.d_model, self.dk, self.dv, self.H
        proj = 2 * linear_flops(d, dk) + 2 * linear_flops(d, dv) + linear_flops(dv, d)
        return proj + conv_costs(self.conv_q, self.conv_k, self.conv_v)[0] + 4 * dk * dv / H

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        tails = conv_costs(self.conv_q, self.conv_k, self.conv_v)[1]
        return (self.dk * self.dv // self.H + tails) * dtype_bytes


register(MixerSpec(
    name="retnet", cls=RetNet,
    paper="Retentive Network: A Successor to Transformer for Large Language Models (arXiv 2307.08621)",
    flops_formula="4 d dk + 6 d dv + 4 dk dv / H",
    state_formula="dk dv / H (dk = d, dv = 2d)",
))
