"""Forward FLOPs through fvcore's `FlopCountAnalysis`, with handles for the ops it would count as zero.

fvcore counts one multiply-add as one flop; we report 2x that, matching `Mixer.flops_per_token`.
Handles: `aten::scaled_dot_product_attention` (causal or full), and the custom ops of `proxies.ops`
(`hybrid_nas::gla`, `hybrid_nas::delta_rule`, `hybrid_nas::window_attention`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from proxies.mixers.base import causal_keys
from proxies.ops import counting_flops


def _shape(v: Any) -> list[int]:
    return list(v.type().sizes())


def _const(v: Any) -> Any:
    return v.toIValue()


def _sdpa_macs(inputs, outputs) -> int:
    q, k, v = (_shape(x) for x in inputs[:3])
    B, H, T, D = q
    S, Dv = k[-2], v[-1]
    is_causal = bool(_const(inputs[5])) if len(inputs) > 5 else False
    if len(inputs) > 3 and _const(inputs[3]) is None and is_causal:
        keys = causal_keys(T) if S == T else T * S
    else:
        keys = T * S  # an explicit mask: counted as full (our mixers never pass one to SDPA while counting)
    return B * H * keys * (D + Dv)


def _gla_macs(inputs, outputs) -> int:
    B, T, H, K = _shape(inputs[0])
    V = _shape(inputs[2])[-1]
    return 2 * B * T * H * K * V  # state update k^T v and readout q S, per token


def _delta_macs(inputs, outputs) -> int:
    B, T, H, K = _shape(inputs[0])
    V = _shape(inputs[2])[-1]
    return 3 * B * T * H * K * V  # k^T S (prediction), k (v - pred)^T (write), q S (readout)


def _window_macs(inputs, outputs) -> int:
    B, T, H, D = _shape(inputs[0])
    Dv = _shape(inputs[2])[-1]
    window = int(_const(inputs[3]))
    return B * H * causal_keys(T, window) * (D + Dv)


HANDLES = {
    "aten::scaled_dot_product_attention": _sdpa_macs,
    "hybrid_nas::gla": _gla_macs,
    "hybrid_nas::delta_rule": _delta_macs,
    "hybrid_nas::window_attention": _window_macs,
}


def count_flops(module: torch.nn.Module, *inputs: torch.Tensor) -> int:
    """Total forward FLOPs (2 per multiply-add) of `module(*inputs)`, as fvcore counts them with our handles."""
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    was_training = module.training
    module.eval()
    try:
        with counting_flops(), torch.no_grad():
            fca = FlopCountAnalysis(module, inputs if len(inputs) > 1 else inputs[0])
            fca.set_op_handle(**HANDLES)
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = fca.total()
    finally:
        module.train(was_training)
    return 2 * int(total)


def flops_per_token(model: torch.nn.Module, context_len: int) -> float:
    """fvcore's forward FLOPs per token of a language model on one sequence of `context_len` token ids."""
    device = next(model.parameters()).device
    return count_flops(model, torch.zeros(1, context_len, dtype=torch.long, device=device)) / context_len
