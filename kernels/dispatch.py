"""The public kernels API: validate inputs once, then route to the recurrent reference, the PyTorch chunked form
or the Triton kernels.

impl:
    "recurrent"  step-by-step reference (ground truth, slow)
    "chunk"      PyTorch chunked form, any device, autograd through torch ops
    "compile"    the chunked form through torch.compile (`kernels.compiled`): the same maths, element-wise chains
                 fused (Triton kernels on CUDA, C++ on a CPU); compiles once per shape, dtype and gate kind
    "triton"     `kernels.triton` (CUDA only); ValueError off CUDA, RuntimeError if it cannot be imported
    "auto"       chunk; triton instead when the tensors are on CUDA, `kernels.triton` imports, and
                 HYBRID_NAS_TRITON=1 is set (read at call time). The Triton backward kernels are not yet proven on
                 Triton 3.6 / Hopper for every configuration (docs/kernels.md), so they are opt-in until they are.
                 Which shapes the Triton kernels take on "auto" is the caller's rule (`proxies.ops`).

The Triton module (imported lazily, so this package imports on any CPU machine):
    kernels.triton.gla(q, k, v, g, *, scale, initial_state, output_final_state) -> (o, final_state | None)
    kernels.triton.delta_rule(q, k, v, beta, g, *, scale, initial_state, output_final_state) -> (o, final_state | None)
`scale` always reaches the implementations as a float.
"""
from __future__ import annotations

import importlib
import os

import torch

from kernels._inputs import check_beta, check_chunk_size, check_gate, check_qkv, check_state
from kernels.compiled import compiled
from kernels.ops.delta.chunk import delta_rule_chunk
from kernels.ops.delta.naive import delta_rule_recurrent
from kernels.ops.gla.chunk import gla_chunk
from kernels.ops.gla.naive import gla_recurrent

IMPLS = ("auto", "recurrent", "chunk", "compile", "triton")

_triton_cache: dict[str, object] = {}


def _load_triton():
    """(module, None) if `kernels.triton` imports, else (None, the exception). Tried once per process."""
    if "result" not in _triton_cache:
        try:
            _triton_cache["result"] = (importlib.import_module("kernels.triton"), None)
        except Exception as e:  # ImportError, or a broken triton install raising anything else
            _triton_cache["result"] = (None, e)
    return _triton_cache["result"]


def triton_opted_in() -> bool:
    """Whether "auto" may use the Triton kernels (HYBRID_NAS_TRITON=1)."""
    return os.environ.get("HYBRID_NAS_TRITON", "") == "1"


def _pick(op: str, impl: str, device: torch.device, supported) -> object | None:
    """Returns the triton module to use, or None for the PyTorch path named by impl ("auto" -> "chunk").
    `supported(module)`: whether the module has the op."""
    if impl not in IMPLS:
        raise ValueError(f"{op}: impl must be one of {IMPLS}, got {impl!r}")
    if impl in ("recurrent", "chunk", "compile"):
        return None
    if impl == "triton" and device.type != "cuda":
        raise ValueError(f"{op}: impl='triton' needs CUDA tensors, got tensors on {device}; use 'chunk' or 'auto'")
    if device.type != "cuda":
        return None
    if impl == "auto" and not triton_opted_in():
        return None
    mod, err = _load_triton()
    if mod is None:
        if impl == "triton":
            raise RuntimeError(f"{op}: impl='triton' but kernels.triton failed to import: {err!r}") from err
        return None
    if not supported(mod):
        if impl == "triton":
            raise ValueError(f"{op}: kernels.triton does not support this call (shapes / dtypes / gate form)")
        return None
    return mod


def _route(op: str, impl: str, args: tuple, recurrent, chunk, *, scale: float | None, initial_state,
           output_final_state: bool, chunk_size: int):
    """Run `op` on validated `args` (q first) by the implementation `impl` picks; scale as a float."""
    q = args[0]
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    kw = dict(scale=scale, initial_state=initial_state, output_final_state=output_final_state)
    mod = _pick(op, impl, q.device, lambda m: hasattr(m, op))
    if mod is not None:
        return getattr(mod, op)(*args, **kw)
    if impl == "recurrent":
        return recurrent(*args, **kw)
    if impl == "compile":
        chunk = compiled(chunk)
    return chunk(*args, chunk_size=chunk_size, **kw)


def gla(
    q: torch.Tensor,  # (B, T, H, K)
    k: torch.Tensor,  # (B, T, H, K)
    v: torch.Tensor,  # (B, T, H, V)
    g: torch.Tensor | None = None,  # (B, T, H, K) per-channel, (B, T, H) per-head log decay, or None
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
    impl: str = "auto",
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t ; o_t = scale * q_t S_t  (scale defaults to K ** -0.5).

    Returns (o: (B, T, H, V) in v.dtype, final_state: (B, H, K, V) float32 (float64 for float64 inputs) or None).
    """
    B, T, H, K, V = check_qkv("gla", q, k, v)
    check_gate("gla", g, B, T, H, K, q.device, per_channel_ok=True)
    check_state("gla", initial_state, B, H, K, V, q.device)
    check_chunk_size("gla", chunk_size)
    return _route("gla", impl, (q, k, v, g), gla_recurrent, gla_chunk, scale=scale, initial_state=initial_state,
                  output_final_state=output_final_state, chunk_size=chunk_size)


def delta_rule(
    q: torch.Tensor,  # (B, T, H, K), L2-normalised by the caller
    k: torch.Tensor,  # (B, T, H, K), L2-normalised by the caller
    v: torch.Tensor,  # (B, T, H, V)
    beta: torch.Tensor,  # (B, T, H) in (0, 1)
    g: torch.Tensor | None = None,  # (B, T, H) per-head log decay (GatedDeltaNet) or None (DeltaNet)
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,  # (B, H, K, V)
    output_final_state: bool = False,
    impl: str = "auto",
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t^T v_t ; o_t = scale * q_t S_t.

    Returns (o: (B, T, H, V) in v.dtype, final_state: (B, H, K, V) float32 (float64 for float64 inputs) or None).
    """
    B, T, H, K, V = check_qkv("delta_rule", q, k, v)
    check_beta("delta_rule", beta, B, T, H, q.device)
    check_gate("delta_rule", g, B, T, H, K, q.device, per_channel_ok=False)
    check_state("delta_rule", initial_state, B, H, K, V, q.device)
    check_chunk_size("delta_rule", chunk_size)
    return _route("delta_rule", impl, (q, k, v, beta, g), delta_rule_recurrent, delta_rule_chunk, scale=scale,
                  initial_state=initial_state, output_final_state=output_final_state, chunk_size=chunk_size)
