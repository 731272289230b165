"""The hybrid language model: embedding, N blocks (norm, mixer, residual, norm, gated MLP, residual), norm, head.

Small enough to read in one sitting. The layout names each block's mixer; all mixers share one MixerConfig
(with their layer index filled in). Input and output embeddings are tied.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from proxies import registry
from kernels.conv import short_conv
from proxies.mixers.base import Mixer, MixerConfig, conv_flops, linear_flops
from proxies.width import match_width
from search_space.layout import Layout


def mlp_hidden(d_model: int, multiple: int = 16) -> int:
    """SwiGLU hidden width ~ 8/3 d, rounded up to a multiple (as in LLaMA)."""
    h = int(8 * d_model / 3)
    return (h + multiple - 1) // multiple * multiple


class GatedMLP(nn.Module):
    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.hidden = mlp_hidden(d_model)
        self.up = nn.Linear(d_model, 2 * self.hidden, bias=False)
        self.down = nn.Linear(self.hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.up(x).chunk(2, dim=-1)
        return self.down(F.silu(a) * b)

    def flops_per_token(self) -> int:
        d = self.up.in_features
        return linear_flops(d, 2 * self.hidden) + linear_flops(self.hidden, d)


class TokenShift(nn.Module):
    """h + conv(h): a depthwise causal convolution over the last `width` tokens, added to its input (zero at init).

    Off by default. It hands every block the previous tokens' features, which softmax attention must otherwise
    build from a positional head before it can form an induction head: a plateau whose length at depth is a
    lottery over seeds (attn*4, MQAR: one seed at 0.29, another at 1.00 after 1000 steps).
    """

    def __init__(self, d_model: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d_model, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + short_conv(h, self.weight, activation=None)

    def flops_per_token(self) -> int:
        return conv_flops(*self.weight.shape)

    def state_bytes(self, dtype_bytes: int = 2) -> int:
        """Decode state: the last width - 1 inputs of every channel."""
        d, width = self.weight.shape
        return (width - 1) * d * dtype_bytes


class Block(nn.Module):
    def __init__(self, mixer: Mixer, d_model: int, token_shift: int = 0) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(d_model, eps=1e-6)
        self.shift = TokenShift(d_model, token_shift) if token_shift > 0 else None
        self.mixer = mixer
        self.norm2 = nn.RMSNorm(d_model, eps=1e-6)
        self.mlp = GatedMLP(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        if self.shift is not None:
            h = self.shift(h)
        x = x + self.mixer(h)
        return x + self.mlp(self.norm2(x))

    def flops_per_token(self, context_len: int) -> float:
        shift = self.shift.flops_per_token() if self.shift is not None else 0
        return self.mixer.flops_per_token(context_len) + self.mlp.flops_per_token() + shift

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        shift = self.shift.state_bytes(dtype_bytes) if self.shift is not None else 0
        return self.mixer.state_bytes(context_len, dtype_bytes) + shift


class HybridLM(nn.Module):
    def __init__(self, layout: Layout, vocab_size: int, mixer_cfg: MixerConfig, token_shift: int = 0) -> None:
        super().__init__()
        self.layout = layout
        self.vocab_size = vocab_size
        d = mixer_cfg.d_model
        self.embed = nn.Embedding(vocab_size, d)
        blocks = []
        for i, name in enumerate(layout.layers):
            cfg = replace(mixer_cfg, layer_idx=i, n_layers=layout.n_layers)
            if cfg.match_width:  # width matching (proxies.width): equal per-layer mixer parameters
                cfg = match_width(name, cfg, target=cfg.match_width)
            blocks.append(Block(registry.get(name).cls(cfg), d, token_shift))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.RMSNorm(d, eps=1e-6)
        self.head = nn.Linear(d, vocab_size, bias=False)
        self.head.weight = self.embed.weight
        self.apply(_init)
        for block in self.blocks:
            block.mixer.post_init()  # mixers with special initialisation (decay ranges, biases) redo it
            # GPT-2's depth scaling: projections that write into the residual stream start 1/sqrt(2 N) smaller
            for proj in (block.mlp.down, block.mixer.residual_projection()):
                if proj is not None:
                    with torch.no_grad():
                        proj.weight.mul_((2 * layout.n_layers) ** -0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, T, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (B, T, vocab)

    # -- accounting -----------------------------------------------------------------------------
    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def flops_per_token(self, context_len: int) -> float:
        """Analytic forward FLOPs per token at `context_len` (mixers + MLPs + head; 2 per multiply-add)."""
        total = sum(b.flops_per_token(context_len) for b in self.blocks)
        return total + linear_flops(self.head.in_features, self.vocab_size)

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:
        """Decode-state bytes at `context_len`: KV caches plus recurrent and convolution states (token shift too)."""
        return sum(b.state_bytes(context_len, dtype_bytes) for b in self.blocks)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
