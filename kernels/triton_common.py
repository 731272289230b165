"""Shared helpers for the Triton kernels: dtype maps, shape checks, output allocation, launch sizes, the
dot in the input dtype (`_mm`), the within-chunk gate cumsum and the gate gradient."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import triton
import triton.language as tl


# How the kernels run, passed down by the caller (`gla(..., options=Options(...))`); the defaults are the product's.
@dataclass(frozen=True, kw_only=True)
class Options:
    poison: bool = False  # fill every output with NaN before launch: an element a kernel forgets to write shows as NaN
    force_backward: bool = False  # run a Triton backward that failed its device check instead of the chunk form
    sync: bool = False  # synchronise after every launch and name the kernel that faulted (debugging)
    bwd_warps: int = 4  # warps of the backward launches (both of them)
    on_launch: Callable[[str, Any], None] | None = None  # called with (kernel name, compiled kernel) after a launch


DEFAULT = Options()

# The sequential forward kernels run one program per SM at these grid sizes: 8 warps spread the tiles.
FWD_WARPS = 8


def launched(name: str, kernel, options: Options) -> None:
    if options.on_launch is not None:
        options.on_launch(name, kernel)
    if options.sync:
        try:
            torch.cuda.synchronize()
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"CUDA error after {name}: {e}") from e


# Backward configurations whose Triton kernels failed the device checks on Triton 3.6 / H100 fall back to
# the PyTorch chunk form when gradients are needed (forward-only calls always use Triton: every forward
# matched the reference on the device). `Options(force_backward=True)` (the checks and tests) runs the
# Triton backward anyway.
_warned: set = set()


def needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def fallback(name: str, options: Options) -> bool:
    """True (and warn once) when the unverified Triton backward `name` must give way to the chunk form."""
    if options.force_backward:
        return False
    if name not in _warned:
        import warnings
        warnings.warn(f"kernels.triton: the Triton backward for {name} failed its device check on Triton 3.6/H100 "
                      "(see docs/kernels.md); using the PyTorch chunk form for this call", stacklevel=3)
        _warned.add(name)
    return True


CHUNK = 64  # BT: rows of one chunk; the intra-chunk matrices are CHUNK x CHUNK

_TL_DTYPES = {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16, torch.float32: tl.float32}


def tl_dtype(dtype: torch.dtype):
    try:
        return _TL_DTYPES[dtype]
    except KeyError:
        raise TypeError(f"Triton kernels take bfloat16, float16 or float32 inputs, got {dtype}") from None


def dot_precision(dtype: torch.dtype) -> str:
    # float32 inputs: three tf32 products per dot (~fp32 accuracy on the tensor cores);
    # 16-bit inputs: operands are cast to the input dtype, fp32 accumulation, precision flag unused.
    return "tf32x3" if dtype == torch.float32 else "tf32"


def check_head_dims(K: int, V: int) -> None:
    for name, d in (("K", K), ("V", V)):
        if d < 16 or d > 128 or (d & (d - 1)) != 0:
            raise ValueError(f"Triton kernels need head dim {name} a power of two in [16, 128], got {d}; "
                             "use impl='chunk' for other sizes")


def alloc(shape, dtype, device, options: Options) -> torch.Tensor:
    if options.poison:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """dtype of the per-chunk states saved for the backward (they enter the dots in the input dtype)."""
    return torch.bfloat16 if dtype == torch.bfloat16 else torch.float32


def pick_bv(V: int, BH: int, K: int = 0, cap: int = 64) -> int:
    """V block per program: split V (more programs) when batch*heads alone leaves the GPU idle."""
    bv = min(V, cap if K < 128 else min(cap, 32))
    while bv > 32 and BH * (V // bv) < 64:
        bv //= 2
    return bv


def finish_partial(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Sum per-V-block partial gradients (leading dim NV) and cast to dtype."""
    if x.shape[0] == 1:
        return x[0] if x.dtype == dtype else x[0].to(dtype)
    return x.sum(0).to(dtype)


def cdiv(a: int, b: int) -> int:
    return triton.cdiv(a, b)


@triton.jit
def _mm(a, b, DT: tl.constexpr, PREC: tl.constexpr):
    return tl.dot(a.to(DT), b.to(DT), input_precision=PREC)


def gate_grad(dgam: torch.Tensor, ht, dht, dtype) -> torch.Tensor:
    """dg from the per-step dGamma partials (NV, B, T, H[, K]): reverse cumsum over T + the final-state term."""
    dgam = dgam.sum(0)
    dg = dgam.flip(1).cumsum(1).flip(1)
    if dht is not None:
        fin = (ht * dht).sum(-1)  # (B, H, K)
        if dg.dim() == 3:
            fin = fin.sum(-1)  # (B, H)
        dg = dg + fin.unsqueeze(1)
    return dg.to(dtype)


def chunk_cumsum(g: torch.Tensor, BT: int) -> torch.Tensor:
    """Within-chunk cumulative sum of the log gate along T (dim 1), float32, same shape as g."""
    B, T = g.shape[:2]
    NT = cdiv(T, BT)
    g = g.float()
    if NT * BT != T:
        g = torch.cat([g, g.new_zeros((B, NT * BT - T) + tuple(g.shape[2:]))], dim=1)
    return g.view(B, NT, BT, *g.shape[2:]).cumsum(2).view(B, NT * BT, *g.shape[2:])[:, :T].contiguous()
