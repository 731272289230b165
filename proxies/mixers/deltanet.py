"""`deltanet`: DeltaNet (Yang, Wang, Zhang, Shen, Kim, arXiv 2406.06484), the delta rule parallelised over the
sequence; their Section 3 recurrence and the layer of their release (flash-linear-attention `DeltaNet`).

Recurrence: S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t (Gated DeltaNet without the
decay gate), with q, k, v = SiLU(ShortConv(x W)) (width 4), q and k L2-normalised per head,
beta_t = sigmoid(x_t W_b) per head. Output: per-head RMSNorm of o_t, then W_o. No output gate by default, as in
the paper's release (`use_gate=False`); a subclass with `use_gate = True` adds swish(x W_g) after the norm,
which makes it exactly `gdn` with its decay switched off.
Defaults: n_heads heads, key and value width d (expand_k = expand_v = 1).
FLOPs per token: 2 d (2 dk + 2 dv + H) + 2 W (2 dk + dv) + 6 dk dv / H (+ 2 d dv with the output gate).
Decode state: H (dk/H)(dv/H) plus the convolution tails (W - 1)(2 dk + dv).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, conv_flops, linear_flops
from proxies.mixers.common import GatedRMSNorm, ShortConv, merge_heads, split_heads
from proxies.registry import MixerSpec, register


class DeltaNet(Mixer):
    name = "deltanet"
    use_gate: ClassVar[bool] = False

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
        o = ops.delta_rule(q, k, v, beta, None, impl=self.cfg.impl)  # (B, T, H, V)
        o = self.norm(o, split_heads(self.g(x), H) if self.use_gate else None)
        return self.o(merge_heads(o))

    def flops_per_token(self, context_len: int) -> float:
        d, dk, dv, H, W = self.cfg.d_model, self.dk, self.dv, self.H, self.cfg.conv_size
        proj = 2 * linear_flops(d, dk) + linear_flops(d, dv) + linear_flops(dv, d) + linear_flops(d, H)
        if self.use_gate:
            proj += linear_flops(d, dv)
        conv = 2 * conv_flops(dk, W) + conv_flops(dv, W)
        return proj + conv + 6 * dk * dv / H

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        W = self.cfg.conv_size
        conv_tail = (W - 1) * (2 * self.dk + self.dv) if W > 1 else 0
        return (self.dk * self.dv // self.H + conv_tail) * dtype_bytes


register(MixerSpec(
    name="deltanet", cls=DeltaNet,
    paper="Parallelizing Linear Transformers with the Delta Rule over Sequence Length (arXiv 2406.06484)",
    flops_formula="4 d dk + 4 d dv + 2 d H + 2 W (2 dk + dv) + 6 dk dv / H",
    state_formula="dk dv / H + (W - 1)(2 dk + dv)",
))
