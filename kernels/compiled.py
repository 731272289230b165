"""The PyTorch chunked forms through `torch.compile` (`impl="compile"`): the same code, its element-wise chains fused.

At proxy sizes a chunked form is dozens of small kernels per call (a `(gdn*3,attn)*3` training step at the `quick`
MQAR shapes runs about 4,400 kernels, most of them element-wise: docs/engine.md), so its time is set by how many
kernels run, not by the arithmetic. TorchInductor fuses those chains (Triton kernels on CUDA, C++ on a CPU); the
matrix products stay cuBLAS calls. Each compiled form is traced whole (`fullgraph=True`) at static shapes
(`dynamic=False`): a new shape, dtype, gate kind or autocast state compiles once more, and TorchInductor's cache
on disk makes a later process reuse what an earlier one compiled.

Forms may be called from several threads (the side-by-side trainings of `proxies.side_by_side`), and calls are
serialised: compiling traces the form with torch.fx, which raises a process-wide flag, and on torch up to 2.11 a
compiled function entered from another thread while that flag is up fails ("Detected that you are using FX to
symbolically trace a dynamo-optimized function"), seen on the GPU host when one training compiled its evaluation
shapes while the others still trained. So one lock covers every call of every form (a call is host-side kernel
launches; the CUDA-graph engine calls forms only while warming up and capturing), and the backward is compiled
with its forward (`force_non_lazy_backward_lowering`) rather than lazily at the first backward, outside the lock.

Compiling, and the first launch of a compiled kernel (TorchInductor tunes some kernels then, timing them), may
synchronise the device, which fails while another thread captures a CUDA graph ("operation not permitted when
stream is capturing", seen on the GPU host when one training compiled its evaluation shapes while another
captured). A caller that captures graphs holds `exclusive()` for the capture and for the eager warm-up steps before
it (whose backward passes launch the compiled backward kernels first), so no form compiles or first runs during a
capture; it must also run a call at every shape before capturing it, so that no compilation happens inside one.
"""
from __future__ import annotations

import functools
import threading
from typing import Callable

import torch

RECOMPILE_LIMIT = 128

_lock = threading.Lock()  # making forms
_calls = threading.RLock()  # calling them, and capturing CUDA graphs (`exclusive`)
_forms: dict[Callable, Callable] = {}


def compiled(form: Callable) -> Callable:
    """`form` (a chunked form of `kernels.ops`) through `torch.compile`, made once per process."""
    with _lock:
        if form not in _forms:
            config = torch._dynamo.config
            config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
            torch._functorch.config.force_non_lazy_backward_lowering = True
            _forms[form] = _one_call_at_a_time(torch.compile(form, fullgraph=True, dynamic=False))
        return _forms[form]


def exclusive() -> threading.RLock:
    """The lock every call of a compiled form holds: hold it to keep them (and their compiles) out of a stretch of
    work, such as a CUDA-graph capture and its warm-up steps. Re-entrant, so forms may be called inside it."""
    return _calls


def _one_call_at_a_time(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def call(*args, **kwargs):
        with _calls:
            return fn(*args, **kwargs)

    return call
