"""(Gated) delta rule: recurrent reference (ground truth) and chunked WY / UT-transform PyTorch form."""
from kernels.ops.delta.chunk import delta_rule_chunk
from kernels.ops.delta.naive import delta_rule_recurrent

__all__ = ["delta_rule_chunk", "delta_rule_recurrent"]
