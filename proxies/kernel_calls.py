"""The kernel calls a budget's proxies make: every distinct (op, B, T, H, K, V, gate) that `ops.gla` and
`ops.delta_rule` receive while each mixer trains and evaluates at the budget's task shapes, with whether "auto"
takes the Triton kernels for it on CUDA. A kernel is proven where the product calls it: the device check
(`tools/gpu/check_preset_shapes.py`) takes its cases from here, not from a hand list.

The batch shapes are those of the proxies' own loops: recall training (`mqar_batch` x each task's length),
its held-out and validation batches (twice the batch, and the remainder of the examples), language-model
training and validation (`lm_batch` x `lm_seq_len`, and the last, smaller validation batch).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from proxies import ops, registry
from proxies.budget import Budget
from proxies.build import mixer_config
from proxies.model import HybridLM
from proxies.recall import VALIDATION_EXAMPLES
from proxies.tasks.recall_suite import build_suite
from search_space.layout import Layout


def batch_shapes(budget: Budget, lm_windows: int | None = None) -> dict[tuple[int, int], str]:
    """(B, T) of every forward pass the proxies run at this budget -> where it comes from."""
    lens = ([budget.mqar_seq_len] if budget.recall_suite == "mqar" else [t.seq_len for t in build_suite(budget)])
    eval_b = 2 * budget.mqar_batch
    shapes: dict[tuple[int, int], str] = {}
    for T in lens:
        shapes.setdefault((budget.mqar_batch, T), "recall training")
        for n, what in ((budget.mqar_test_examples, "recall held-out"), (VALIDATION_EXAMPLES, "recall validation")):
            if what == "recall validation" and not budget.recall_target > 0:
                continue
            shapes.setdefault((min(eval_b, n), T), what)  # a smaller last batch is filled up (train.one_shape)
    shapes.setdefault((budget.lm_batch, budget.lm_seq_len), "lm training")
    if lm_windows is not None:
        shapes.setdefault((min(budget.lm_batch, lm_windows), budget.lm_seq_len), "lm validation")
    return shapes


def lm_validation_windows(budget: Budget) -> int:
    """How many validation windows the language-model proxy scores (needs the corpus)."""
    from proxies.lm_data import lm_split, prepare_lm

    split = lm_split(prepare_lm(budget.corpus), budget.lm_seq_len)
    return min(split.num_val_windows, max(1, budget.lm_eval_tokens // budget.lm_seq_len))


@torch.no_grad()
def kernel_calls(budget: Budget, mixers: list[str] | None = None, lm_windows: int | None = None) -> list[dict]:
    """Every distinct kernel call of the budget's proxies, one dict each: op, B, T, H, K, V, gate (none | head |
    channel), scale, triton (whether "auto" routes it to Triton on CUDA), mixers and where (which loops)."""
    names = mixers or [n for n, spec in registry.load_all().items() if spec.linear]
    shapes = batch_shapes(budget, lm_windows)
    found: dict[tuple, dict] = {}
    cfg = replace(mixer_config(budget), impl="auto")
    for name in names:
        model = HybridLM(Layout.parse(name), 256, cfg)
        for (B, T), where in shapes.items():
            calls: list[dict] = []
            with ops.recording_calls(calls):
                model(torch.zeros(B, T, dtype=torch.long))
            for c in calls:
                key = (c["op"], c["B"], c["T"], c["H"], c["K"], c["V"], c["gate"], c["scale"])
                entry = found.setdefault(key, {**c, "mixers": [], "where": []})
                if name not in entry["mixers"]:
                    entry["mixers"].append(name)
                if where not in entry["where"]:
                    entry["where"].append(where)
    return sorted(found.values(), key=lambda c: (c["op"], c["gate"], c["K"], c["V"], c["T"], c["B"]))
