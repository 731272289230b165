"""Gated linear attention (GLA): recurrent reference (ground truth) and chunked PyTorch form."""
from kernels.gla.chunk import gla_chunk
from kernels.gla.naive import gla_recurrent

__all__ = ["gla_chunk", "gla_recurrent"]
