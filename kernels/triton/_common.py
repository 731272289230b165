"""Shared helpers for the Triton kernels: dtype maps, shape checks, output allocation, launch sizes, the
dot in the input dtype (`_mm`), the within-chunk gate cumsum and the gate gradient."""
from __future__ import annotations

import torch
import triton
import triton.language as tl

# Set to True (tests do) to fill every kernel output with NaN before launch, so an element the kernel
# forgets to write shows up as NaN instead of as stale memory.
POISON = False

import os

# HYBRID_NAS_KERNEL_SYNC=1: synchronise after every launch and name the kernel that faulted (debugging).
SYNC = os.environ.get("HYBRID_NAS_KERNEL_SYNC") == "1"


def launched(name: str, kernel) -> None:
    LAUNCHED[name] = kernel
    if SYNC:
        import torch
        try:
            torch.cuda.synchronize()
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"CUDA error after {name}: {e}") from e


# Backward configurations whose Triton kernels failed the device checks on Triton 3.6 / H100 fall back to
# the PyTorch chunk form when gradients are needed (forward-only calls always use Triton: every forward
# matched the reference on the device). HYBRID_NAS_TRITON_FORCE=1 or FORCE_TRITON = True (the checks and
# tests set it) runs the Triton backward anyway.
FORCE_TRITON = os.environ.get("HYBRID_NAS_TRITON_FORCE") == "1"
_warned: set = set()


def needs_grad(*tensors) -> bool:
    import torch
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def fallback(name: str) -> bool:
    """True (and warn once) when the unverified Triton backward `name` must give way to the chunk form."""
    if FORCE_TRITON:
        return False
    if name not in _warned:
        import warnings
        warnings.warn(f"kernels.triton: the Triton backward for {name} failed its device check on Triton 3.6/H100 "
                      "(see kernels/NOTES.md); using the PyTorch chunk form for this call", stacklevel=3)
        _warned.add(name)
    return True


# Delta-rule backward debugging (the device dk of `_delta_bwd_chunk_kernel`, kernels/NOTES.md "What is left").
# DEBUG_DELTA = True: the backward runs the chunk kernel with DEBUG=True (stores the five dk terms, V', dA^T,
# dB, dB^T) and leaves those buffers with the saved ones (Ms, hs, dhs, dvn, gc, dk/dq/dbeta partials) in
# LAST_DEBUG; kernels.triton._check.check_delta_terms reads them.
DEBUG_DELTA = False
LAST_DEBUG: dict = {}

# HYBRID_NAS_DELTA_ALT=dbt_scratch,dat_scratch,vnt_scratch (comma list, or "all"): alternative formulations
# in the chunk kernel (dB^T / dA^T / V'^T through a per-program global scratch read back transposed instead of
# computed). DELTA_ALT may also be set directly (a comma string or an iterable of names).
DELTA_ALTS = ("dbt_scratch", "dat_scratch", "vnt_scratch")
DELTA_ALT = os.environ.get("HYBRID_NAS_DELTA_ALT", "")


def delta_alt() -> frozenset:
    alt = DELTA_ALT
    if isinstance(alt, str):
        alt = [a.strip() for a in alt.split(",")]
    alt = {a for a in alt if a and a != "none"}
    if "all" in alt:
        alt = (alt - {"all"}) | set(DELTA_ALTS)
    bad = alt - set(DELTA_ALTS)
    if bad:
        raise ValueError(f"HYBRID_NAS_DELTA_ALT: unknown {sorted(bad)}; known: {', '.join(DELTA_ALTS)}, all")
    return frozenset(alt)


# name -> last compiled kernel launched (n_regs / n_spills for the notes)
LAUNCHED: dict = {}

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


def alloc(shape, dtype, device) -> torch.Tensor:
    if POISON:
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


def num_warps_for(K: int, BV: int) -> int:
    # the sequential kernels run one program per SM at these grid sizes: 8 warps spread the tiles
    return 8


# Warps of the backward kernels (both launches); HYBRID_NAS_BWD_WARPS overrides (device runs try 4 vs 8).
BWD_WARPS = int(os.environ.get("HYBRID_NAS_BWD_WARPS", "4"))


def bwd_warps() -> int:
    return BWD_WARPS


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
