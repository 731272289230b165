"""Shape / dtype / device validation shared by the public kernels API (clear ValueErrors, never silent broadcasts)."""
from __future__ import annotations

import torch


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _check_float(name: str, x: torch.Tensor, device: torch.device) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.device != device:
        raise ValueError(f"{name} is on {x.device} but q is on {device}; all inputs must share one device")


def check_qkv(op: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, int, int, int, int]:
    """q, k: (B, T, H, K); v: (B, T, H, V). Returns (B, T, H, K, V)."""
    if not isinstance(q, torch.Tensor):
        raise ValueError(f"{op}: q must be a torch.Tensor, got {type(q).__name__}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_float(f"{op}: {name}", x, q.device)
        if x.dim() != 4:
            raise ValueError(f"{op}: {name} must be 4-D (B, T, H, D), got shape {_shape(x)}")
    if k.shape != q.shape:
        raise ValueError(f"{op}: k must have q's shape (B, T, H, K) = {_shape(q)}, got {_shape(k)}")
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(f"{op}: v must be (B, T, H, V) with (B, T, H) = {_shape(q)[:3]} as in q, got {_shape(v)}")
    B, T, H, K = q.shape
    return B, T, H, K, v.shape[-1]


def check_gate(op: str, g: torch.Tensor | None, B: int, T: int, H: int, K: int, device, per_channel_ok: bool) -> None:
    if g is None:
        return
    _check_float(f"{op}: g", g, device)
    ok = [(B, T, H)] + ([(B, T, H, K)] if per_channel_ok else [])
    if _shape(g) not in ok:
        want = " or ".join(str(s) for s in ok)
        raise ValueError(f"{op}: g (log decay) must have shape {want}, got {_shape(g)}")


def check_beta(op: str, beta: torch.Tensor, B: int, T: int, H: int, device) -> None:
    _check_float(f"{op}: beta", beta, device)
    if _shape(beta) != (B, T, H):
        raise ValueError(f"{op}: beta must have shape (B, T, H) = {(B, T, H)}, got {_shape(beta)}")


def check_state(op: str, s: torch.Tensor | None, B: int, H: int, K: int, V: int, device) -> None:
    if s is None:
        return
    _check_float(f"{op}: initial_state", s, device)
    if _shape(s) != (B, H, K, V):
        raise ValueError(f"{op}: initial_state must have shape (B, H, K, V) = {(B, H, K, V)}, got {_shape(s)}")


def check_chunk_size(op: str, chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{op}: chunk_size must be a positive int, got {chunk_size!r}")
