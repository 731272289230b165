"""Fused Triton kernels for the linear mixers (CUDA only; this package imports triton at import time).

    gla(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False, options=None)
        -> (o, final_state)
    delta_rule(q, k, v, beta, g=None, *, scale=None, initial_state=None, output_final_state=False, options=None)

Same signatures and semantics as kernels.gla.naive.gla_recurrent / kernels.delta.naive.delta_rule_recurrent.
Each is a torch.autograd.Function with Triton forward and backward kernels (chunk size 64).
Where a Triton backward has not passed its device check on Triton 3.6 / H100 (the delta rule) and gradients
are needed, the call falls back to the PyTorch chunk form
with a one-time warning (`options=Options(force_backward=True)` runs the Triton backward anyway). `Options` (frozen)
also poisons outputs with NaN, synchronises after each launch, sets the backward warps and reports each launch.
History of the device checks: docs/kernels.md.
"""
from kernels.triton._common import Options
from kernels.triton.delta import delta_rule
from kernels.triton.gla import gla

__all__ = ["Options", "gla", "delta_rule"]
