"""`deltanet`: DeltaNet (Yang, Wang, Zhang, Shen, Kim, arXiv 2406.06484), the delta rule parallelised over the
sequence; their Section 3 recurrence and the layer of their release (flash-linear-attention `DeltaNet`).

Recurrence: S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t (Gated DeltaNet without the
decay gate), with q, k, v = SiLU(ShortConv(x W)) (width 4), q and k L2-normalised per head,
beta_t = sigmoid(x_t W_b) per head. Output: per-head RMSNorm of o_t, then W_o. No output gate by default, as in
the paper's release (`use_gate=False`); a subclass with `use_gate = True` adds swish(x W_g) after the norm,
which makes it exactly `gdn` with its decay switched off.
Defaults: n_heads heads, key and value width d (expand_k = expand_v = 1).
FLOPs per token: 2 d (2 dk + 2 dv + H) + 2 W (2 dk + dv) + 6 dk dv / H (+ 2 d dv with the output gate).
Decode state: H (dk/H)(dv/H) plus the convolution tails (W - 1)(2 dk + dv).
"""

from __future__ import annotations

from proxies.mixers.gdn import GatedDeltaNet
from proxies.registry import MixerSpec, register


class DeltaNet(GatedDeltaNet):
    """Gated DeltaNet's layer with the decay gate and (by default) the output gate switched off."""

    name = "deltanet"
    decay = False
    use_gate = False


register(MixerSpec(
    name="deltanet", cls=DeltaNet,
    paper="Parallelizing Linear Transformers with the Delta Rule over Sequence Length (arXiv 2406.06484)",
    flops_formula="4 d dk + 4 d dv + 2 d H + 2 W (2 dk + dv) + 6 dk dv / H",
    state_formula="dk dv / H + (W - 1)(2 dk + dv)",
))
