"""Fused Triton kernels for the linear mixers (CUDA only; this package imports triton at import time).

    gla(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False) -> (o, final_state)
    delta_rule(q, k, v, beta, g=None, *, scale=None, initial_state=None, output_final_state=False)

Same signatures and semantics as kernels.gla.naive.gla_recurrent / kernels.delta.naive.delta_rule_recurrent.
Each is a torch.autograd.Function with Triton forward and backward kernels (chunk size 64).
"""
from kernels.triton.delta import delta_rule
from kernels.triton.gla import gla

__all__ = ["gla", "delta_rule"]
