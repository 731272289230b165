"""Token-mixing recurrences for the linear mixers: recurrent references (ground truth), PyTorch chunked forms,
Triton kernels on CUDA (`kernels.triton`, imported lazily), behind one dispatching API.

Conventions: inputs (B, T, H, D); gates in log space (g <= 0, decay exp(g)); states (B, H, K, V) float32.
"""
from kernels.conv import short_conv
from kernels.delta import delta_rule_chunk, delta_rule_recurrent
from kernels.gla import gla_chunk, gla_recurrent

# Imported last on purpose: the function `kernels.gla` shadows the attribute of the subpackage `kernels/gla/`
# (`from kernels.gla.chunk import gla_chunk` still works; `kernels.gla.chunk` as an attribute path does not).
from kernels.dispatch import IMPLS, delta_rule, gla  # noqa: E402

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
