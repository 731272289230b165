"""Judge one layout: train an MQAR proxy and a language-model proxy, count FLOPs, parameters and state.

`evaluate(layout, budget, device=..., seed=...) -> Metrics`. Everything is deterministic given the seed
(up to the nondeterminism of GPU kernels).
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import torch

from proxies.budget import Budget
from proxies.flops import flops_per_token
from proxies.metrics import Metrics
from proxies.mixers.base import MixerConfig
from proxies.model import HybridLM
from proxies.lm_data import lm_eval_batches, lm_train_batches, prepare_lm
from proxies.tasks.mqar import MQARConfig, make_mqar, make_mqar_heldout
from proxies.train import TrainConfig, eval_batches, train
from search_space.layout import Layout

Progress = Callable[[str, int, float], None]  # (phase, step, loss)


def mixer_config(budget: Budget) -> MixerConfig:
    return MixerConfig(
        d_model=budget.d_model, n_heads=budget.n_heads, chunk_size=budget.chunk_size, window=budget.window,
        impl=budget.impl, match_width="attn" if budget.match_width else "",
    )


def build_model(layout: Layout, budget: Budget, vocab_size: int, seed: int) -> HybridLM:
    torch.manual_seed(seed)
    return HybridLM(layout, vocab_size, mixer_config(budget), token_shift=budget.token_shift)


def runnable(model: HybridLM, budget: Budget) -> torch.nn.Module:
    """What trains and evaluates: the model itself, or its torch.compile'd form with `torch_compile` (the
    parameters are shared; FLOPs are always counted on the plain model)."""
    return torch.compile(model) if budget.torch_compile else model


def mqar_config(budget: Budget) -> MQARConfig:
    return MQARConfig(vocab_size=budget.mqar_vocab, seq_len=budget.mqar_seq_len, num_kv_pairs=budget.mqar_kv_pairs)


def _epochs(x: torch.Tensor, y: torch.Tensor, batch: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0] - batch + 1, batch):
            idx = perm[i : i + batch]
            yield x[idx], y[idx]


def _chunks(x: torch.Tensor, y: torch.Tensor, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i in range(0, x.shape[0], batch):
        yield x[i : i + batch], y[i : i + batch]


def run_mqar(layout: Layout, budget: Budget, device: torch.device, seed: int,
             progress: Progress | None = None) -> tuple[float, float]:
    """Train on MQAR; return (held-out accuracy on value tokens, held-out loss)."""
    cfg = mqar_config(budget)
    train_x, train_y = make_mqar(cfg, budget.mqar_train_examples, seed)
    test_x, test_y = make_mqar_heldout(cfg, budget.mqar_test_examples, seed)
    model = build_model(layout, budget, cfg.vocab_size, seed).to(device)
    tcfg = TrainConfig(steps=budget.mqar_steps, lr=budget.mqar_lr, weight_decay=budget.weight_decay,
                       warmup_frac=budget.warmup_frac, precision=budget.precision)
    on_step = (lambda s, loss: progress("mqar", s, loss)) if progress else None
    run = runnable(model, budget)
    train(run, _epochs(train_x, train_y, budget.mqar_batch, seed), tcfg, device, on_step)
    nll, count, correct = eval_batches(run, _chunks(test_x, test_y, 2 * budget.mqar_batch), device, budget.precision)
    return correct / count, nll / count


def run_lm(layout: Layout, budget: Budget, device: torch.device, seed: int,
           progress: Progress | None = None) -> tuple[float, float, float, HybridLM]:
    """Train on text; return (validation perplexity, bits per byte, validation loss, the model)."""
    data = prepare_lm(budget.corpus)
    model = build_model(layout, budget, data.vocab_size, seed).to(device)
    tcfg = TrainConfig(steps=budget.lm_steps, lr=budget.lm_lr, weight_decay=budget.weight_decay,
                       warmup_frac=budget.warmup_frac, precision=budget.precision)
    on_step = (lambda s, loss: progress("lm", s, loss)) if progress else None
    run = runnable(model, budget)
    train(run, lm_train_batches(data, budget.lm_batch, budget.lm_seq_len, seed), tcfg, device, on_step)
    batches = lm_eval_batches(data, budget.lm_batch, budget.lm_seq_len, budget.lm_eval_tokens)
    nll, count, _ = eval_batches(run, batches, device, budget.precision)
    loss = nll / count
    ppl, bpb = data.perplexity(loss), data.bits_per_byte(loss)
    return ppl, bpb, loss, model


def evaluate(layout: Layout | str, budget: Budget, *, device: str = "cpu", seed: int = 0,
             progress: Progress | None = None) -> Metrics:
    if isinstance(layout, str):
        layout = Layout.parse(layout)
    dev = torch.device(device)
    prepare_lm(budget.corpus)  # a bad corpus fails here, before any training
    t0 = time.perf_counter()
    recall_tasks: dict[str, float] = {}
    if budget.recall_suite == "mqar":
        recall, mqar_loss = run_mqar(layout, budget, dev, seed, progress)
    else:  # the recall suite: MQAR ladder + MAD tasks; `recall` is the mean over tasks
        from proxies.tasks.recall_suite import run_recall_suite

        recall, mqar_loss, recall_tasks = run_recall_suite(layout, budget, dev, seed, progress)
    ppl, bpb, lm_loss, model = run_lm(layout, budget, dev, seed, progress)
    flops = flops_per_token(model, budget.flops_context)
    analytic = model.flops_per_token(budget.flops_context)
    wall = time.perf_counter() - t0
    return Metrics(
        recall=recall, perplexity=ppl, bits_per_byte=bpb, flops=flops, params=model.num_params(),
        state_bytes=model.state_bytes(budget.flops_context), flops_context=budget.flops_context,
        mqar_loss=mqar_loss, lm_loss=lm_loss, wall_time_s=wall, device=_device_name(dev),
        corpus=budget.corpus, seed=seed,
        extra={"flops_analytic": analytic, "layout": layout.canonical(), "budget": budget.name,
               "non_embedding_params": model.num_params(non_embedding=True),
               **({"recall_tasks": recall_tasks, "recall_aggregate": "mean over tasks"} if recall_tasks else {})},
    )


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return "cpu"
