"""`mamba2`: the Mamba-2 block, state space duality (SSD) (Dao & Gu, arXiv 2405.21060), their Section 7 block
as in the reference `mamba_ssm.modules.mamba2.Mamba2`, with ngroups = 1.

    z, x, B, C, dt = x_in W_in                                 (widths dv, dv, N, N, H)
    x, B, C = SiLU(ShortConv(x, B, C))                         (depthwise causal conv of width W, with bias)
    dt = softplus(dt + dt_bias),  A = -exp(A_log)              (per head)
    h_t = exp(dt_t A) h_{t-1} + dt_t B_t^T x_t,  y_t = C_t h_t + D x_t     (per head: h_t is N x P)
    out = RMSNorm(y * SiLU(z)) W_out                           (gated RMSNorm, norm after the gate, one group)
(`cfg.mamba2_norm = False`: out = (y * SiLU(z)) W_out, the reference's `rmsnorm=False`, as in Mamba-1.)
The scan is `ops.gla(q = C, k = B, v = dt * x, g = dt * A, scale = 1)` with a scalar log gate per head; B and C
(one group) are broadcast to every head. A in [1, 16] and dt in [1e-3, 1e-1] (log-uniform) at init, D = 1, as
in Mamba-2; these are plain parameters, untouched by the model's generic init.
Defaults: expand 2 (inner width dv = 2d; expand_v sets it), head size P = cfg.dh (d / n_heads, so H = dv / P =
2 n_heads heads), d_state N = cfg.state_size (16; Mamba-2 uses 64 to 128 at scale), conv width W = cfg.conv_size.
FLOPs per token: 2 d (3 dv + 2 N + H) + 2 W (dv + 2 N) + 4 N dv.
Decode state: H N P = N dv elements plus the convolution tail (W - 1)(dv + 2 N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels import short_conv
from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, conv_flops, linear_flops
from proxies.mixers.common import GatedRMSNorm, ShortConv, split_heads
from proxies.mixers.gdn import mamba_decay_init
from proxies.registry import MixerSpec, register

EXPAND = 2.0


class Mamba2(Mixer):
    name = "mamba2"

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d = cfg.d_model
        self.P = cfg.dh  # head size
        ev = cfg.expand_v if cfg.expand_v is not None else EXPAND
        self.dv = max(1, round(d * ev / self.P)) * self.P  # inner width, a multiple of the head size
        self.H = self.dv // self.P
        self.N = cfg.state_size
        self.conv_dim = self.dv + 2 * self.N
        self.in_proj = nn.Linear(d, 2 * self.dv + 2 * self.N + self.H, bias=False)
        self.conv = ShortConv(self.conv_dim, cfg.conv_size)
        self.conv_bias = nn.Parameter(torch.zeros(self.conv_dim))
        A_log, dt_bias = mamba_decay_init(self.H)
        self.A_log = nn.Parameter(A_log)
        self.dt_bias = nn.Parameter(dt_bias)
        self.D = nn.Parameter(torch.ones(self.H))
        self.norm = GatedRMSNorm(self.dv) if cfg.mamba2_norm else None
        self.out_proj = nn.Linear(self.dv, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Bsz, T, _ = x.shape
        H, N, dv = self.H, self.N, self.dv
        z, xBC, dt = self.in_proj(x).split([dv, self.conv_dim, H], dim=-1)
        if self.conv.weight is None:
            xBC = F.silu(xBC + self.conv_bias)
        else:
            xBC = short_conv(xBC, self.conv.weight, self.conv_bias, activation="silu")  # (B, T, dv + 2N)
        xs, Bm, Cm = xBC.split([dv, N, N], dim=-1)
        xs = split_heads(xs, H)  # (B, T, H, P)
        acc = torch.promote_types(x.dtype, torch.float32)
        dt = F.softplus(dt.to(acc) + self.dt_bias)  # (B, T, H)
        g = -self.A_log.to(acc).exp() * dt  # (B, T, H) log decay <= 0
        k = Bm.unsqueeze(2).expand(Bsz, T, H, N)  # (B, T, H, N), one group shared by the heads
        q = Cm.unsqueeze(2).expand(Bsz, T, H, N)
        v = xs * dt.unsqueeze(-1).to(xs.dtype)  # (B, T, H, P)
        y = ops.gla(q, k, v, g, scale=1.0, impl=self.cfg.impl)  # (B, T, H, P)
        y = y + self.D.to(y.dtype)[:, None] * xs
        y = y.reshape(Bsz, T, dv) * F.silu(z)
        return self.out_proj(y if self.norm is None else self.norm(y))

    def flops_per_token(self, context_len: int) -> float:
        d, dv, N, H, W = self.cfg.d_model, self.dv, self.N, self.H, self.cfg.conv_size
        proj = linear_flops(d, 2 * dv + 2 * N + H) + linear_flops(dv, d)
        return proj + conv_flops(self.conv_dim, W) + 4 * N * dv

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        W = self.cfg.conv_size
        conv_tail = (W - 1) * self.conv_dim if W > 1 else 0
        return (self.N * self.dv + conv_tail) * dtype_bytes


register(MixerSpec(
    name="mamba2", cls=Mamba2,
    paper="Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured State Space "
          "Duality (arXiv 2405.21060)",
    flops_formula="2 d (3 dv + 2 N + H) + 2 W (dv + 2 N) + 4 N dv  (dv = 2d, H = dv / dh)",
    state_formula="N dv + (W - 1)(dv + 2 N)",
))
