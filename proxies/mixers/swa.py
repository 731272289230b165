"""`swa`: sliding-window causal softmax attention (Longformer, Beltagy et al., arXiv 2004.05150; as used by
Mistral 7B, arXiv 2310.06825, and in the hybrids Hymba and Jet-Nemotron).

`attn` (same projections, heads and rotary positions) with each query limited to its last W = cfg.window keys,
itself included: o_t = softmax(q_t K_{t-W+1..t}^T / sqrt(D)) V_{t-W+1..t}.
FLOPs per token at context L: 8 d^2 (projections) + 4 d keys(L, W) / L, keys(L, W) = W (W + 1) / 2 + (L - W) W
for L > W (the causal sum L (L + 1) / 2 otherwise).
Decode state: a rolling KV window, 2 min(L, W) d elements, bounded however long the context (so it fills a
linear slot of the search space).
"""

from __future__ import annotations

from proxies.mixers.attn import Attention
from proxies.mixers.base import MixerConfig
from proxies.registry import MixerSpec, register


class SlidingWindowAttention(Attention):
    name = "swa"

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__(cfg)
        if cfg.window < 1:
            raise ValueError(f"swa: window must be >= 1, got {cfg.window}")
        self.window = cfg.window


register(MixerSpec(
    name="swa", cls=SlidingWindowAttention,
    paper="Longformer: The Long-Document Transformer (arXiv 2004.05150); Mistral 7B (arXiv 2310.06825)",
    flops_formula="8 d^2 + 4 d (W (W + 1) / 2 + (L - W) W) / L  (L > W; else as attn)",
    state_formula="KV window: 2 min(L, W) d",
))
