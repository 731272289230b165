"""The PyTorch chunked forms through `torch.compile` (`impl="compile"`): the same code, its element-wise chains fused.

At proxy sizes a chunked form is dozens of small kernels per call (a `(gdn*3,attn)*3` training step at the `quick`
MQAR shapes runs about 4,400 kernels, most of them element-wise: docs/engine.md), so its time is set by how many
kernels run, not by the arithmetic. TorchInductor fuses those chains (Triton kernels on CUDA, C++ on a CPU); the
matrix products stay cuBLAS calls. Each compiled form is traced whole (`fullgraph=True`) at static shapes
(`dynamic=False`): a new shape, dtype, gate kind or autocast state compiles once more, and TorchInductor's cache
on disk makes a later process reuse what an earlier one compiled. Compilation is serialised by `torch._dynamo`'s
own lock, so forms may be called from several threads (the side-by-side trainings of `proxies.side_by_side`); a
caller that captures CUDA graphs must run a call at every shape before capturing it (the graph engine warms up
eagerly first), so that no compilation happens inside a capture.

The recompile limit of `torch._dynamo` (per traced function, 8 by default) is raised to `RECOMPILE_LIMIT`: one
proxy calls a form at a handful of shapes per mixer kind, and a search over several mixer kinds calls it at more.
"""
from __future__ import annotations

import threading
from typing import Callable

import torch

RECOMPILE_LIMIT = 128

_lock = threading.Lock()
_forms: dict[Callable, Callable] = {}


def compiled(form: Callable) -> Callable:
    """`form` (a chunked form of `kernels.ops`) through `torch.compile`, made once per process."""
    with _lock:
        if form not in _forms:
            config = torch._dynamo.config
            config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
            _forms[form] = torch.compile(form, fullgraph=True, dynamic=False)
        return _forms[form]
