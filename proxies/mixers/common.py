"""Small pieces several mixers share: rotary positions, a gated RMSNorm, a short causal convolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels.conv import short_conv


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
    """Depthwise causal convolution over time with SiLU, `(B, T, C) -> (B, T, C)`; width <= 1 is identity."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.randn(channels, width) / width**0.5) if width > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None:
            return F.silu(x)
        return short_conv(x, self.weight, activation="silu")


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, T, H, D = x.shape
    return x.reshape(B, T, H * D)
