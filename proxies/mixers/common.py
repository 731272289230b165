"""Small pieces several mixers share: rotary positions, a gated RMSNorm, a short causal convolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels.conv import short_conv
from proxies.mixers.base import conv_flops


def rotary(x: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (RoFormer, arXiv 2104.09864) on `(B, T, H, D)`, D even, half-split pairs."""
    B, T, H, D = x.shape
    half = D // 2
    inv = 1.0 / (theta ** (torch.arange(half, device=x.device, dtype=torch.float32) / half))
    ang = torch.arange(T, device=x.device, dtype=torch.float32)[:, None] * inv[None, :]  # (T, D/2)
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.to(x.dtype)


class GatedRMSNorm(nn.Module):
    """Per-head RMSNorm of the mixer output, optionally times `silu(gate)` (GLA, GatedDeltaNet, Mamba2)."""

    def __init__(self, head_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(head_dim))
        self.eps = eps

    def forward(self, x: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, H, D); gate: (B, T, H, D) or None
        acc = torch.promote_types(x.dtype, torch.float32)  # float32, or float64 for float64 inputs
        xf = x.to(acc)
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(acc)
        if gate is not None:
            y = y * F.silu(gate.to(acc))
        return y.to(x.dtype)


class ShortConv(nn.Module):
    """Depthwise causal convolution over time, then SiLU (or nothing with `activation=None`),
    `(B, T, C) -> (B, T, C)`; width <= 1 is the activation alone."""

    def __init__(self, channels: int, width: int, activation: str | None = "silu") -> None:
        super().__init__()
        self.width = width
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(channels, width) / width**0.5) if width > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None:
            return F.silu(x) if self.activation else x
        return short_conv(x, self.weight, activation=self.activation)

    def flops_per_token(self) -> int:
        return conv_flops(self.weight.shape[0], self.width) if self.weight is not None else 0

    def state_elements(self) -> int:
        """Decode state: the last width - 1 inputs of every channel."""
        return 0 if self.weight is None else self.weight.shape[0] * (self.width - 1)


def optional_convs(cfg, activation: str | None, **channels: int) -> dict[str, ShortConv | None]:
    """flash-linear-attention's `use_short_conv` for a mixer whose reference has no short convolution: with
    `cfg.short_conv` (and `cfg.conv_size` > 1) one `ShortConv` of width `cfg.conv_size` per named projection, else
    None for each (the mixer as its paper has it)."""
    on = cfg.short_conv and cfg.conv_size > 1
    return {name: ShortConv(c, cfg.conv_size, activation) if on else None for name, c in channels.items()}


def through(conv: ShortConv | None, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)`, or `x` when the optional convolution is off."""
    return x if conv is None else conv(x)


def conv_costs(*convs: ShortConv | None) -> tuple[int, int]:
    """Forward FLOPs per token and decode-state elements of optional convolutions (0, 0 when they are off)."""
    on = [c for c in convs if c is not None]
    return sum(c.flops_per_token() for c in on), sum(c.state_elements() for c in on)


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, T, H, D = x.shape
    return x.reshape(B, T, H * D)
