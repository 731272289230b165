"""The language-modelling proxy at one learning rate: next-byte training on the corpus's training part, scored as
validation loss on its held-out tail (perplexity and bits per byte follow from it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from proxies.build import build_model, runnable
from proxies.budget import Budget
from proxies.feeds import WindowFeed
from proxies.lm_data import LMCorpus, lm_eval_batches, lm_split
from proxies.model import HybridLM
from proxies.train import TrainConfig, eval_batches, train
from search_space.layout import Layout

Progress = Callable[[str, int, float], None]


@dataclass
class LMRun:
    loss: float  # validation loss per byte (nats)
    perplexity: float
    bits_per_byte: float
    steps: int
    model: HybridLM


def lm_feed(budget: Budget, data: LMCorpus, device: torch.device, seed: int) -> WindowFeed:
    """Random windows of the corpus's training part, the same for every point of a sweep."""
    split = lm_split(data, budget.lm_seq_len)
    return WindowFeed.random(split.train, budget.lm_batch, budget.lm_seq_len, budget.lm_steps, seed, device)


def lm_config(budget: Budget, device: torch.device, lr: float) -> TrainConfig:
    return TrainConfig(steps=budget.lm_steps, lr=lr, weight_decay=budget.weight_decay, warmup_frac=budget.warmup_frac,
                       precision=budget.precision, graph=budget.uses_graph(str(device)), task="lm")


def train_lm(layout: Layout, budget: Budget, data: LMCorpus, device: torch.device, seed: int, lr: float,
             progress: Progress | None = None) -> LMRun:
    feed = lm_feed(budget, data, device, seed)
    model = build_model(layout, budget, data.vocab_size, seed).to(device)
    run = runnable(model, budget)
    tcfg = lm_config(budget, device, lr)
    phase = f"lm lr={lr:g}"
    on_step = (lambda s, loss: progress(phase, s, loss)) if progress else None
    result = train(run, feed, tcfg, device, on_step)
    batches = lm_eval_batches(data, budget.lm_batch, budget.lm_seq_len, budget.lm_eval_tokens)
    nll, count, _ = eval_batches(run, batches, device, budget.precision)
    loss = nll / count
    return LMRun(loss=loss, perplexity=data.perplexity(loss), bits_per_byte=data.bits_per_byte(loss),
                 steps=result.steps, model=model)
