"""The one mixer interface: `(B, T, d_model) -> (B, T, d_model)`, built from one shared `MixerConfig`.

Every mixer also answers its parameter count, its decode-state bytes at a context length and its analytic
forward FLOPs per token at a context length. FLOPs convention (held against fvcore in tests): 2 per
multiply-add of matrix products, convolutions and the token-mixing core, averaged over the tokens of one
length-`context_len` sequence; elementwise ops, norms, activations and gates are not counted. Linear mixers
are counted in their recurrent form (what a token costs at decode time); attention in its causal form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from torch import nn


@dataclass(frozen=True, kw_only=True)
class MixerConfig:
    d_model: int
    n_heads: int = 4
    head_dim: int = 0  # 0: d_model // n_heads
    expand_k: float | None = None  # key width / d_model; None: the mixer's paper default
    expand_v: float | None = None  # value width / d_model; None: the mixer's paper default
    conv_size: int = 4  # short causal convolution (0 or 1: none)
    short_conv: bool = False  # gla, retnet, hgrn2, hgrn: a short conv after their projections (fla: use_short_conv)
    state_size: int = 16  # Mamba2 d_state (N)
    mamba2_norm: bool = True  # Mamba2's gated RMSNorm before its output projection (mamba_ssm's rmsnorm)
    hgrn2_norm: bool = True  # HGRN2's RMSNorm before its output projection (flash-linear-attention's g_norm)
    retnet_decays: str = "paper"  # RetNet's fixed per-head decays: "paper" (1 - 2^(-5-h)) or "spread" (mixers/retnet.py)
    window: int = 128  # sliding-window attention
    chunk_size: int = 64
    rope_theta: float = 10000.0
    layer_idx: int = 0
    n_layers: int = 1
    impl: str = "auto"  # kernels implementation: auto | chunk | recurrent | triton
    match_width: str = ""  # a mixer name: HybridLM sizes each layer to its parameters (proxies.width); "": off

    @property
    def dh(self) -> int:
        return self.head_dim or self.d_model // self.n_heads

    def widths(self, expand_k: float, expand_v: float) -> tuple[int, int]:
        """Total key and value widths, each a multiple of n_heads, from this config or the given defaults."""
        ek = self.expand_k if self.expand_k is not None else expand_k
        ev = self.expand_v if self.expand_v is not None else expand_v
        h = self.n_heads
        kw = max(h, int(round(self.d_model * ek / h)) * h)
        vw = max(h, int(round(self.d_model * ev / h)) * h)
        return kw, vw

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MixerConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class Mixer(nn.Module):
    """Base class: subclasses set `name` and implement `forward`, `flops_per_token`, `state_bytes`."""

    name: ClassVar[str] = ""
    optional_conv: ClassVar[bool] = False  # takes MixerConfig.short_conv (its reference has no short convolution)

    def __init__(self, cfg: MixerConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def post_init(self) -> None:
        """Called after the model's generic initialisation; override to restore special initial values."""

    def residual_projection(self) -> nn.Linear | None:
        """The output projection that writes into the residual stream (`o` or `out_proj`), if any."""
        proj = getattr(self, "o", None) or getattr(self, "out_proj", None)
        return proj if isinstance(proj, nn.Linear) else None

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, context_len: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_bytes(self, context_len: int, dtype_bytes: int = 2) -> int:  # pragma: no cover - abstract
        raise NotImplementedError


def linear_flops(d_in: int, d_out: int) -> int:
    """Forward FLOPs per token of a dense projection."""
    return 2 * d_in * d_out


def conv_flops(channels: int, width: int) -> int:
    """Forward FLOPs per token of a depthwise causal convolution."""
    return 2 * channels * width if width > 1 else 0


def causal_keys(context_len: int, window: int | None = None) -> int:
    """Sum over query positions 1..L of the keys each attends to (all earlier ones, or at most `window`)."""
    L = context_len
    if window is None or window >= L:
        return L * (L + 1) // 2
    return window * (window + 1) // 2 + (L - window) * window
