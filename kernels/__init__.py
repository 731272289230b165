"""Token-mixing recurrences for the linear mixers, behind one dispatching API (`kernels.gla`,
`kernels.delta_rule`).

Each op keeps its forms side by side, as flash-linear-attention does: `kernels/ops/<op>/naive.py` (the recurrent
reference, ground truth), `chunk.py` (PyTorch chunked, any device) and `triton.py` (CUDA; imports triton, so it is
loaded lazily, through `kernels.triton`). The public functions live at the top and the op folders under
`kernels.ops`, so no attribute of this package is both a function and a subpackage.

Conventions: inputs (B, T, H, D); gates in log space (g <= 0, decay exp(g)); states (B, H, K, V) float32.
"""
from kernels.conv import short_conv
from kernels.dispatch import IMPLS, delta_rule, gla
from kernels.ops.delta import delta_rule_chunk, delta_rule_recurrent
from kernels.ops.gla import gla_chunk, gla_recurrent

__all__ = [
    "IMPLS",
    "delta_rule",
    "delta_rule_chunk",
    "delta_rule_recurrent",
    "gla",
    "gla_chunk",
    "gla_recurrent",
    "short_conv",
]
