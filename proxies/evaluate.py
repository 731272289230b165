"""Judge one layout: the recall proxy and the language-model proxy, each at its best learning rate of the
budget's sweep, then FLOPs, parameters and decode state.

`evaluate(layout, budget, device=..., seed=...) -> Metrics`. Everything is deterministic given the seed (up to
the nondeterminism of GPU kernels); the seed applies to every point of a sweep. On CUDA every point of both
sweeps trains at once, each on its own stream (`budget.side_by_side` caps how many); with `stack_sweep` each
sweep trains as one model with stacked weights (`proxies.stacked_sweep`), the two sweeps side by side.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable

import torch

from proxies.budget import Budget
from proxies.flops import flops_per_token
from proxies.language import train_lm
from proxies.lm_data import prepare_lm
from proxies.metrics import Metrics
from proxies.recall import prepare_recall, train_recall
from proxies.side_by_side import side_by_side
from proxies.stacked_sweep import lm_stacked, recall_stacked, run_stacked
from proxies.sweep import Sweep, run_sweeps
from search_space.layout import Layout

Progress = Callable[[str, int, float], None]  # (phase, step, loss)


def evaluate(layout: Layout | str, budget: Budget, *, device: str = "cpu", seed: int = 0,
             progress: Progress | None = None) -> Metrics:
    if isinstance(layout, str):
        layout = Layout.parse(layout)
    dev = torch.device(device)
    corpus = prepare_lm(budget.corpus)  # a bad corpus fails here, before any training
    t0 = time.perf_counter()
    data = prepare_recall(budget, seed)
    solved = threading.Event() if budget.recall_stop_sweep and budget.recall_target > 0 else None
    sweeps = [
        Sweep("recall", budget.recall_recipes(),
              lambda lr, shift: train_recall(layout, replace(budget, token_shift=shift), data, dev, seed, lr, progress,
                                             solved_elsewhere=solved),
              lambda r: (r.score, r.loss, r.steps), maximize=True),
        Sweep("lm", [(lr, None) for lr in budget.sweep("lm")],
              lambda lr, _: train_lm(layout, budget, corpus, dev, seed, lr, progress),
              lambda r: (r.loss, r.loss, r.steps), maximize=False),
    ]
    runner = side_by_side(dev, budget.side_by_side)
    if budget.stack_sweep:  # each sweep one stacked training (proxies.stacked_sweep); the two side by side
        recall, lm = run_stacked(sweeps, [
            lambda: recall_stacked(layout, budget, data, dev, seed, budget.recall_recipes(), progress),
            lambda: lm_stacked(layout, budget, corpus, dev, seed, list(budget.sweep("lm")), progress)], runner)
    else:
        recall, lm = run_sweeps(sweeps, runner)
    model = lm.best.model
    flops = flops_per_token(model, budget.flops_context)
    analytic = model.flops_per_token(budget.flops_context)
    wall = time.perf_counter() - t0
    tasks = recall.best.tasks
    return Metrics(
        recall=recall.best.score, perplexity=lm.best.perplexity, bits_per_byte=lm.best.bits_per_byte, flops=flops,
        params=model.num_params(), state_bytes=model.state_bytes(budget.flops_context),
        flops_context=budget.flops_context, mqar_loss=recall.best.loss, lm_loss=lm.best.loss, wall_time_s=wall,
        device=_device_name(dev), corpus=budget.corpus, seed=seed,
        recall_lr=recall.best_lr, recall_token_shift=recall.best_shift, lm_lr=lm.best_lr, recall_steps=recall.best.steps,
        sweep=[p.to_dict() for p in recall.points + lm.points],
        extra={"flops_analytic": analytic, "layout": layout.canonical(), "budget": budget.name,
               "non_embedding_params": model.num_params(non_embedding=True),
               "graph": budget.uses_graph(device),
               **({"recall_tasks": tasks, "recall_aggregate": "mean over tasks"} if tasks else {})},
    )


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return "cpu"
