"""A task's whole sweep as one stacked training (`stack_sweep=true`, `proxies.stacked`).

Recall: every (learning rate, token-shift width) point of the sweep in one model built with the widest shift,
each point's taps beyond its own width frozen at their zero start (width 0: the shift off, exactly); the same
data, checks and early stops as `proxies.recall.train_recall` gives each point (with `recall_stop_sweep` every
point stops at the check where one reaches the target). Language modelling: every rate of `lm_lrs` in one model.
Each returns one `Outcome` per point in the sweep's order (a diverged point's error a `NonFiniteLoss`), so the
sweep is settled as when its points train one by one (`proxies.sweep.settle`). The stacked models run the
PyTorch chunked forms (`impl=auto` means `chunk` here: the Triton kernels have no batching rule).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import torch

from proxies.build import build_model
from proxies.budget import Budget
from proxies.language import LMRun, lm_config, lm_feed
from proxies.lm_data import LMCorpus, lm_eval_batches
from proxies.recall import RecallData, RecallRun, check_every, recall_config, recall_feeds
from proxies.side_by_side import Outcome
from proxies.stacked import StackedModel, StackedResult, eval_stacked, stackable, train_stacked
from proxies.sweep import Sweep, SweepResult, raise_unexpected, settle
from proxies.train import NonFiniteLoss, chunks
from search_space.layout import Layout

Progress = Callable[[str, int, float], None]


def shift_masks(model: torch.nn.Module, widths: list[int], device: torch.device) -> dict[str, torch.Tensor]:
    """Per token-shift weight (d, W) of `model`: a (K, 1, W) mask, point i training only its last widths[i] taps
    (the current token's is the last)."""
    masks = {}
    for name, p in model.named_parameters():
        if name.endswith("shift.weight"):
            W = p.shape[-1]
            m = torch.zeros(len(widths), 1, W, device=device)
            for i, w in enumerate(widths):
                if w:
                    m[i, :, W - w:] = 1.0
            masks[name] = m
    return masks


def _points(k: int) -> str:
    return f"{k} point" + ("s" if k != 1 else "")


def _outcomes(res: StackedResult, values: list, wall: float) -> list[Outcome]:
    return [Outcome(None, NonFiniteLoss(err), wall) if err else Outcome(v, None, wall)
            for v, err in zip(values, res.errors)]


def recall_stacked(layout: Layout, budget: Budget, data: RecallData, device: torch.device, seed: int,
                   recipes: list[tuple[float, int]], progress: Progress | None = None) -> list[Outcome]:
    t0 = time.perf_counter()
    lrs, widths = [lr for lr, _ in recipes], [w for _, w in recipes]
    budget = stackable(replace(budget, token_shift=max(widths)))
    n = len(data.tasks)
    feeds = recall_feeds(budget, data, device)
    model = build_model(layout, budget, data.vocab_size, seed).to(device)
    masks = shift_masks(model, widths, device)
    stacked = StackedModel(model, len(recipes))
    tcfg = recall_config(budget, data, device, 0.0)  # the rates are the points'
    batch = 2 * budget.mqar_batch

    def per_point(pair) -> list[tuple[float, float]]:  # (accuracy, loss per scored position) of every point
        return [(correct / max(1, count), nll / max(1, count))
                for nll, count, correct in eval_stacked(stacked, chunks(*pair, batch), device, budget.precision)]

    def check(_: int) -> list[bool]:
        ok = [True] * len(recipes)
        for t in data.tasks:
            ok = [o and acc >= budget.recall_target for o, (acc, _) in zip(ok, per_point(t.val))]
        return ok

    every = check_every(budget, data)
    phase = f"{data.phase} {_points(len(recipes))} stacked"
    on_step = (lambda s, losses: progress(phase, s, min(losses))) if progress else None
    res = train_stacked(stacked, feeds, tcfg, lrs, device, masks=masks,
                        check=check if budget.recall_target > 0 else None, check_every=every,
                        stop_all=budget.recall_stop_sweep, on_step=on_step)
    scores = [per_point(t.test) for t in data.tasks]  # [task][point] -> (accuracy, loss)
    runs = []
    for i in range(len(recipes)):
        accs = [s[i] for s in scores]
        runs.append(RecallRun(score=sum(a for a, _ in accs) / n, loss=sum(l for _, l in accs) / n,
                              steps=res.steps[i], stopped_early=res.stopped_early[i],
                              tasks={t.metric: a for t, (a, _) in zip(data.tasks, accs) if t.metric is not None}))
    return _outcomes(res, runs, time.perf_counter() - t0)


def lm_stacked(layout: Layout, budget: Budget, data: LMCorpus, device: torch.device, seed: int, lrs: list[float],
               progress: Progress | None = None) -> list[Outcome]:
    t0 = time.perf_counter()
    budget = stackable(budget)
    feed = lm_feed(budget, data, device, seed)
    stacked = StackedModel(build_model(layout, budget, data.vocab_size, seed).to(device), len(lrs))
    tcfg = lm_config(budget, device, 0.0)  # the rates are the points'
    phase = f"lm {_points(len(lrs))} stacked"
    on_step = (lambda s, losses: progress(phase, s, min(losses))) if progress else None
    res = train_stacked(stacked, feed, tcfg, lrs, device, on_step=on_step)
    batches = lm_eval_batches(data, budget.lm_batch, budget.lm_seq_len, budget.lm_eval_tokens)
    runs = []
    for i, (nll, count, _) in enumerate(eval_stacked(stacked, batches, device, budget.precision)):
        loss = nll / count
        runs.append(LMRun(loss=loss, perplexity=data.perplexity(loss), bits_per_byte=data.bits_per_byte(loss),
                          steps=res.steps[i], model=stacked.point(i)))
    return _outcomes(res, runs, time.perf_counter() - t0)


def run_stacked(sweeps: list[Sweep], jobs: list[Callable[[], list[Outcome]]], runner) -> list[SweepResult]:
    """Each sweep's stacked job (through `runner`: side by side on CUDA) and each sweep settled from its points."""
    outcomes = runner(jobs)
    raise_unexpected(outcomes)
    return [settle(sweep, o.value) for sweep, o in zip(sweeps, outcomes)]
