"""Causal depthwise short convolution over time (the reference; used by GDN / DeltaNet / Mamba2-style mixers)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_ACTIVATIONS = (None, "identity", "silu", "swish")


def short_conv(
    x: torch.Tensor,  # (B, T, C)
    weight: torch.Tensor,  # (C, W)
    bias: torch.Tensor | None = None,  # (C,)
    activation: str | None = "silu",
) -> torch.Tensor:  # (B, T, C)
    """y[:, t, c] = act(bias[c] + sum_{w < W} weight[c, w] * x[:, t - W + 1 + w, c]), zeros before t = 0.

    The last tap (weight[:, -1]) multiplies the current step, as in nn.Conv1d(C, C, W, groups=C, padding=W-1)
    truncated to the first T outputs.
    """
    if x.dim() != 3:
        raise ValueError(f"short_conv: x must be (B, T, C), got shape {tuple(x.shape)}")
    C = x.shape[-1]
    if weight.dim() != 2 or weight.shape[0] != C:
        raise ValueError(f"short_conv: weight must be (C, W) = ({C}, W), got shape {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (C,):
        raise ValueError(f"short_conv: bias must be (C,) = ({C},), got shape {tuple(bias.shape)}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"short_conv: activation must be one of {_ACTIVATIONS}, got {activation!r}")
    W = weight.shape[1]
    xt = F.pad(x.transpose(1, 2), (W - 1, 0))  # (B, C, T + W - 1), causal left padding
    y = F.conv1d(xt, weight.unsqueeze(1).to(x.dtype), None if bias is None else bias.to(x.dtype), groups=C)
    y = y.transpose(1, 2)  # (B, T, C)
    if activation in ("silu", "swish"):
        y = F.silu(y)
    return y
