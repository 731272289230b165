"""Fused Triton kernels for the linear mixers (CUDA only; this package imports triton at import time).

    gla(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False) -> (o, final_state)
    delta_rule(q, k, v, beta, g=None, *, scale=None, initial_state=None, output_final_state=False)

Same signatures and semantics as kernels.gla.naive.gla_recurrent / kernels.delta.naive.delta_rule_recurrent.
Each is a torch.autograd.Function with Triton forward and backward kernels (chunk size 64).
Where a Triton backward has not passed its device check on Triton 3.6 / H100 (delta rule; GLA with a per-head
or no gate and output_final_state=True) and gradients are needed, the call falls back to the PyTorch chunk form
with a one-time warning (HYBRID_NAS_TRITON_FORCE=1 runs the Triton backward anyway). See kernels/NOTES.md.
"""
from kernels.triton.delta import delta_rule
from kernels.triton.gla import gla

__all__ = ["gla", "delta_rule"]
