"""The causal depthwise short convolution."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kernels.conv import short_conv


def _loop(x, w, b):
    B, T, C = x.shape
    W = w.shape[1]
    y = torch.zeros_like(x)
    for t in range(T):
        for i in range(W):
            s = t - (W - 1) + i
            if s >= 0:
                y[:, t] += w[:, i] * x[:, s]
    return y + (0 if b is None else b)


@pytest.mark.parametrize("T", [1, 3, 17])
@pytest.mark.parametrize("with_bias", [False, True])
def test_matches_loop(T, with_bias):
    x = torch.randn(2, T, 5, dtype=torch.float64)
    w = torch.randn(5, 4, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64) if with_bias else None
    torch.testing.assert_close(short_conv(x, w, b, activation=None), _loop(x, w, b))
    torch.testing.assert_close(short_conv(x, w, b), F.silu(_loop(x, w, b)))


def test_matches_conv1d_module():
    conv = torch.nn.Conv1d(6, 6, 4, groups=6, padding=3).double()
    x = torch.randn(2, 10, 6, dtype=torch.float64)
    ref = conv(x.transpose(1, 2))[..., :10].transpose(1, 2)
    torch.testing.assert_close(short_conv(x, conv.weight[:, 0], conv.bias, activation=None), ref)


def test_causal():
    x = torch.randn(1, 12, 3, dtype=torch.float64)
    w = torch.randn(3, 4, dtype=torch.float64)
    y = short_conv(x, w)
    x2 = x.clone()
    x2[:, 7:] = torch.randn(1, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(short_conv(x2, w)[:, :7], y[:, :7])


def test_bad_inputs():
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError):
        short_conv(x, torch.randn(4, 3))
    with pytest.raises(ValueError):
        short_conv(x[0], torch.randn(3, 4))
    with pytest.raises(ValueError):
        short_conv(x, torch.randn(3, 4), activation="relu6")
