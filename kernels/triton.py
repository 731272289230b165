"""The fused Triton kernels of the linear mixers, in one place (CUDA only; this module imports triton at import
time, so `kernels.dispatch` loads it lazily). The kernels live beside their ops' other forms:
`kernels/ops/gla/triton.py`, `kernels/ops/delta/triton.py`; shared helpers and `Options` in `kernels/triton_common.py`.

    gla(q, k, v, g=None, *, scale=None, initial_state=None, output_final_state=False, options=None)
        -> (o, final_state)
    delta_rule(q, k, v, beta, g=None, *, scale=None, initial_state=None, output_final_state=False, options=None)

Same signatures and semantics as kernels.ops.gla.naive.gla_recurrent / kernels.ops.delta.naive.delta_rule_recurrent.
Each is a torch.autograd.Function with Triton forward and backward kernels (chunk size 64).
Where a Triton backward has not passed its device check on Triton 3.6 / H100 (the delta rule) and gradients
are needed, the call falls back to the PyTorch chunk form
with a one-time warning (`options=Options(force_backward=True)` runs the Triton backward anyway). `Options` (frozen)
also poisons outputs with NaN, synchronises after each launch, sets the backward warps and reports each launch.
History of the device checks: docs/kernels.md.
"""
from kernels.ops.delta.triton import delta_rule
from kernels.ops.gla.triton import gla
from kernels.triton_common import Options

__all__ = ["Options", "gla", "delta_rule"]
