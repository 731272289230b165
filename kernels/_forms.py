"""What the PyTorch forms of every op share: the accumulation dtype, the default scale, the state they start
from, and the (B, T, H, ...) <-> (B, H, N, C, ...) chunking with T right-padded by zeros."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def setup(q: torch.Tensor, v: torch.Tensor, scale: float | None) -> tuple[int, int, int, int, int, torch.dtype, float]:
    """(B, T, H, K, V, the accumulation dtype: float32, or float64 for float64 inputs, scale: K ** -0.5 by default)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    acc = torch.float64 if v.dtype == torch.float64 else torch.float32
    return B, T, H, K, V, acc, (K ** -0.5 if scale is None else scale)


def start_state(initial_state: torch.Tensor | None, like: torch.Tensor, B: int, H: int, K: int, V: int,
                acc: torch.dtype) -> torch.Tensor:
    """The state S_0: (B, H, K, V) zeros (in `like`'s dtype and device) or the initial state in `acc`."""
    if initial_state is None:
        return like.new_zeros(B, H, K, V)
    return initial_state.to(acc)


def _pad_time(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Right-pad dim 1 (time) of a (B, T, ...) tensor with zeros."""
    if pad == 0:
        return x
    return F.pad(x, [0, 0] * (x.dim() - 2) + [0, pad])


def n_chunks(T: int, C: int) -> int:
    return max(1, -(-T // C))


def to_chunks(x: torch.Tensor, C: int, acc: torch.dtype) -> torch.Tensor:
    """(B, T, H, ...) -> (B, H, N, C, ...) in `acc`, T right-padded with zeros to N * C."""
    B, T, H = x.shape[:3]
    N = n_chunks(T, C)
    x = _pad_time(x.to(acc), N * C - T)
    x = x.reshape(B, N, C, H, *x.shape[3:])
    return x.transpose(1, 3).transpose(2, 3)


def from_chunks(o: torch.Tensor, T: int) -> torch.Tensor:
    """(B, H, N, C, V) -> (B, T, H, V), the padding dropped."""
    B, H, N, C, V = o.shape
    return o.permute(0, 2, 3, 1, 4).reshape(B, N * C, H, V)[:, :T]
