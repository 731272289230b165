"""`hgrn2`: HGRN2, gated linear RNNs with state expansion (Qin, Yang, Sun, Shen, Li, Sun, Zhong, arXiv 2404.07904),
their Section 3 as released in flash-linear-attention (`HGRN2Attention`).

HGRN's element-wise recurrence with the input expanded by an outer product: per head, a (dk/H) x (dv/H) state
    lambda_t = gamma_l + (1 - gamma_l) sigmoid(x_t W_f)          (forget gate, per key channel, lower-bounded)
    S_t = diag(lambda_t) S_{t-1} + (1 - lambda_t)^T (x_t W_i)    (the input gate tied to the forget gate)
    o_t = scale * swish(x_t W_q) S_t                              (HGRN's output gate becomes the query)
    out_t = RMSNorm(o_t) W_o                                      (one RMSNorm over the full value width)
(`cfg.hgrn2_norm = False`: out_t = o_t W_o, no norm before the output projection: the proxies' default, which
lets a 12-layer 3:1 hgrn2 hybrid learn MQAR at `quick`; docs/recipe.md.)
i.e. `ops.gla(q = swish(x W_q), k = 1 - lambda, v = x W_i, g = log lambda)` with a per-channel gate and the
default scale (dk/H)^-0.5 as in the release. Lower bound gamma_l = l / L, as in `hgrn` (the paper's
cumulative softmax over layers at its initial value, fixed; 0 for the first layer).
Defaults: n_heads heads; forget (key) width dk = d (expand_k = 1), so the state expansion ratio (the paper's
head key size, 128 at their widths) is d / H here; input (value) width dv = d (expand_v = 1); no short conv.
With `short_conv` (the release's `use_short_conv`) the q, f and i projections each pass a depthwise causal
convolution of width W before their activations.
FLOPs per token: 4 d dk + 4 d dv + 4 dk dv / H (+ 2 W (2 dk + dv) with the convolutions). Decode state:
H (dk/H)(dv/H) elements (+ (W - 1)(2 dk + dv) with the convolutions).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, linear_flops
from proxies.mixers.common import GatedRMSNorm, conv_costs, merge_heads, optional_convs, split_heads, through
from proxies.mixers.hgrn import bounded_forget, lower_bound
from proxies.registry import MixerSpec, register


class HGRN2(Mixer):
    name = "hgrn2"
    optional_conv = True

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d, H = cfg.d_model, cfg.n_heads
        self.H = H
        self.dk, self.dv = cfg.widths(1.0, 1.0)
        self.gamma = lower_bound(cfg.layer_idx, cfg.n_layers)
        self.q = nn.Linear(d, self.dk, bias=False)
        self.f = nn.Linear(d, self.dk, bias=False)
        self.i = nn.Linear(d, self.dv, bias=False)
        convs = optional_convs(cfg, None, q=self.dk, f=self.dk, i=self.dv)  # before the mixer's own activations
        self.conv_q, self.conv_f, self.conv_i = convs["q"], convs["f"], convs["i"]
        self.norm = GatedRMSNorm(self.dv) if cfg.hgrn2_norm else None
        self.o = nn.Linear(self.dv, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H = self.H
        q = split_heads(F.silu(through(self.conv_q, self.q(x))), H)  # (B, T, H, K)
        log_lam, one_minus = bounded_forget(through(self.conv_f, self.f(x)), self.gamma)  # (B, T, dk) each
        k = split_heads(one_minus.to(q.dtype), H)  # (B, T, H, K)
        v = split_heads(through(self.conv_i, self.i(x)), H)  # (B, T, H, V)
        o = ops.gla(q, k, v, split_heads(log_lam, H), impl=self.cfg.impl)  # (B, T, H, V)
        o = merge_heads(o)  # (B, T, dv)
        return self.o(o if self.norm is None else self.norm(o))

    def flops_per_token(self, context_len: int) -> float:
        d, dk, dv, H = self.cfg.d_model, self.dk, self.dv, self.H
        conv = conv_costs(self.conv_q, self.conv_f, self.conv_i)[0]
        return 2 * linear_flops(d, dk) + linear_flops(d, dv) + linear_flops(dv, d) + conv + 4 * dk * dv / H

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        tails = conv_costs(self.conv_q, self.conv_f, self.conv_i)[1]
        return (self.dk * self.dv // self.H + tails) * dtype_bytes


register(MixerSpec(
    name="hgrn2", cls=HGRN2,
    paper="HGRN2: Gated Linear RNNs with State Expansion (arXiv 2404.07904)",
    flops_formula="4 d dk + 4 d dv + 4 dk dv / H",
    state_formula="dk dv / H (dk = dv = d)",
))
