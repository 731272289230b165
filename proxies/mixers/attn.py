"""`attn`: causal multi-head softmax attention (Vaswani et al., arXiv 1706.03762) with rotary positions (Su et al., arXiv 2104.09864).

q, k, v, o projections of width d_model, H = n_heads heads of size d_model / H, `scaled_dot_product_attention`.
FLOPs per token at context L: 8 d^2 (projections) + 2 d (L + 1) (scores and values, causal average).
Decode state at L: the KV cache, 2 L d elements.
"""

from __future__ import annotations

import torch
from torch import nn

from proxies import ops
from proxies.mixers.base import Mixer, MixerConfig, causal_keys, linear_flops
from proxies.mixers.common import merge_heads, rotary, split_heads
from proxies.registry import MixerSpec, register


class Attention(Mixer):
    name = "attn"
    window: int | None = None

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.inner = cfg.n_heads * cfg.dh
        self.qkv = nn.Linear(d, 3 * self.inner, bias=False)
        self.o = nn.Linear(self.inner, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (split_heads(t, self.n_heads) for t in (q, k, v))  # (B, T, H, D)
        q, k = rotary(q, self.cfg.rope_theta), rotary(k, self.cfg.rope_theta)
        o = ops.causal_attention(q, k, v, window=self.window, impl=self.cfg.impl)
        return self.o(merge_heads(o))

    def keys_per_query(self, context_len: int) -> int:
        return causal_keys(context_len, self.window)

    def flops_per_token(self, context_len: int) -> float:
        d, inner = self.cfg.d_model, self.inner
        proj = linear_flops(d, 3 * inner) + linear_flops(inner, d)
        core = 2 * 2 * inner * self.keys_per_query(context_len)  # q.k and p.v, summed over the sequence
        return proj + core / context_len

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        cached = context_len if self.window is None else min(context_len, self.window)
        return 2 * cached * self.inner * dtype_bytes


register(MixerSpec(
    name="attn", cls=Attention, linear=False,
    paper="Attention Is All You Need (arXiv 1706.03762), rotary positions (arXiv 2104.09864)",
    flops_formula="8 d^2 + 2 d (L + 1)",
    state_formula="KV cache: 2 L d",
))
