"""Gated linear attention (GLA): recurrent reference (ground truth) and chunked PyTorch form."""
from kernels.ops.gla.chunk import gla_chunk
from kernels.ops.gla.naive import gla_recurrent

__all__ = ["gla_chunk", "gla_recurrent"]
