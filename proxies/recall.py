"""The recall proxy at one learning rate: MQAR alone (`recall_suite=mqar`), or the recall suite (one model on a
round-robin of MQAR levels and MAD tasks, `recall_suite=ladder`).

Data depend on the seed only, so a learning-rate sweep draws them once (`prepare_recall`) and trains each point
on the same examples (`train_recall`). Training reads feeds staged on the device; the score is held-out
accuracy on labelled positions (the suite: the mean over its tasks). With `recall_target` > 0 training stops
once accuracy on a separate validation draw reaches it on every task (Zoology's early stop at 0.99); with
`recall_stop_sweep` the first point to get there stops the whole sweep (each other point at its next check): the
layout has solved the task, and the points it stops have not reached the target, so the solver wins.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Callable

import torch

from proxies.build import build_model, runnable
from proxies.budget import Budget
from proxies.feeds import RoundRobin, TableFeed
from proxies.tasks.mqar import MQARConfig, make_mqar, make_mqar_heldout
from proxies.tasks.recall_suite import build_suite, suite_vocab
from proxies.train import TrainConfig, chunks, eval_batches, train
from search_space.layout import Layout

Progress = Callable[[str, int, float], None]
VALIDATION_EXAMPLES = 256  # held-out examples per task that decide an early stop (never the scored ones)

Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass
class RecallTaskData:
    metric: str | None  # `recall_<task>` in the suite; None for MQAR alone
    train: Pair
    test: Pair
    val: Pair | None
    rows_seed: int  # seed of the task's shuffled epochs


@dataclass
class RecallData:
    phase: str  # "mqar" or "recall" (the progress phase)
    vocab_size: int
    steps: int
    tasks: list[RecallTaskData]


@dataclass
class RecallRun:
    score: float  # held-out accuracy (the suite: mean over tasks)
    loss: float  # held-out loss per scored position (the suite: mean over tasks)
    steps: int  # steps trained (fewer after an early stop)
    stopped_early: bool
    tasks: dict[str, float] = field(default_factory=dict)  # the suite: accuracy per task metric


def mqar_config(budget: Budget) -> MQARConfig:
    return MQARConfig(vocab_size=budget.mqar_vocab, seq_len=budget.mqar_seq_len, num_kv_pairs=budget.mqar_kv_pairs)


def _val_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"hybrid-nas/recall/{name}/validation/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def prepare_recall(budget: Budget, seed: int) -> RecallData:
    """Training, test and (with an early-stop target) validation examples of every recall task."""
    early = budget.recall_target > 0
    if budget.recall_suite == "mqar":
        cfg = mqar_config(budget)
        val = make_mqar(cfg, VALIDATION_EXAMPLES, _val_seed(seed, "mqar")) if early else None
        task = RecallTaskData(None, tuple(make_mqar(cfg, budget.mqar_train_examples, seed)),
                              tuple(make_mqar_heldout(cfg, budget.mqar_test_examples, seed)),
                              tuple(val) if val is not None else None, seed)
        return RecallData("mqar", cfg.vocab_size, budget.mqar_steps, [task])
    suite = build_suite(budget)
    n_train = max(2 * budget.mqar_batch, budget.mqar_train_examples // len(suite))
    tasks = []
    for i, t in enumerate(suite):
        val = tuple(t.make(VALIDATION_EXAMPLES, t.data_seed(seed, "val"))) if early else None
        tasks.append(RecallTaskData(t.metric, tuple(t.make(n_train, t.data_seed(seed, "train"))),
                                    tuple(t.make(budget.mqar_test_examples, t.data_seed(seed, "test"))), val, seed + i))
    return RecallData("recall", suite_vocab(budget), budget.recall_steps or budget.mqar_steps, tasks)


def recall_feeds(budget: Budget, data: RecallData, device: torch.device) -> RoundRobin:
    """The training batches of every task, served in turn (one feed per task)."""
    per_task = -(-data.steps // len(data.tasks))  # batches each task's feed serves
    return RoundRobin([TableFeed.shuffled(*t.train, budget.mqar_batch, per_task, t.rows_seed, device)
                       for t in data.tasks])


def recall_config(budget: Budget, data: RecallData, device: torch.device, lr: float) -> TrainConfig:
    return TrainConfig(steps=data.steps, lr=lr, weight_decay=budget.weight_decay, warmup_frac=budget.warmup_frac,
                       precision=budget.precision, graph=budget.uses_graph(str(device)), task=data.phase)


def check_every(budget: Budget, data: RecallData) -> int:
    """Steps between early-stop checks."""
    return budget.recall_check_every or max(1, data.steps // 20)


def train_recall(layout: Layout, budget: Budget, data: RecallData, device: torch.device, seed: int, lr: float,
                 progress: Progress | None = None, solved_elsewhere: threading.Event | None = None) -> RecallRun:
    """Train one model on `data` at learning rate `lr` and score it.

    `solved_elsewhere` (with `recall_stop_sweep`) is shared by a sweep's points: a point that reaches
    `recall_target` sets it, and every point stops at its next check once it is set."""
    n = len(data.tasks)
    feeds = recall_feeds(budget, data, device)
    model = build_model(layout, budget, data.vocab_size, seed).to(device)
    run = runnable(model, budget)
    tcfg = recall_config(budget, data, device, lr)
    batch = 2 * budget.mqar_batch

    def accuracy(pair: Pair) -> tuple[float, float]:
        nll, count, correct = eval_batches(run, chunks(*pair, batch), device, budget.precision)
        return correct / max(1, count), nll / max(1, count)

    def solved(_: int) -> bool:
        if solved_elsewhere is not None and solved_elsewhere.is_set():
            return True
        done = all(accuracy(t.val)[0] >= budget.recall_target for t in data.tasks)
        if done and solved_elsewhere is not None:
            solved_elsewhere.set()
        return done

    every = check_every(budget, data)
    phase = f"{data.phase} lr={lr:g}" + (f" shift={budget.token_shift}" if budget.recall_shifts else "")
    on_step = (lambda s, loss: progress(phase, s, loss)) if progress else None
    result = train(run, feeds, tcfg, device, on_step, check=solved if budget.recall_target > 0 else None,
                   check_every=every)
    scores = [accuracy(t.test) for t in data.tasks]
    tasks = {t.metric: acc for t, (acc, _) in zip(data.tasks, scores) if t.metric is not None}
    return RecallRun(score=sum(a for a, _ in scores) / n, loss=sum(l for _, l in scores) / n,
                     steps=result.steps, stopped_early=result.stopped_early, tasks=tasks)
