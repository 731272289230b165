"""A recall suite that does not saturate: MQAR at a ladder of difficulties plus two recall tasks from MAD.

An attention layer makes easy MQAR trivial, so hybrids that all solve the budget's MQAR setting tie at 1.0.
The suite (``Budget.recall_suite = "ladder"``) trains one model on a round-robin of tasks (one task per
step, so every task sees ``steps / n_tasks`` batches) and scores each on its own held-out examples:

* ``mqar_SxK``: MQAR (Zoology) at sequence length S with K key-value pairs. The default ladder is the
  budget's (``mqar_seq_len``, ``mqar_kv_pairs``), then 2x and 4x both (pairs capped by the vocabulary);
  ``Budget.recall_ladder = "64x4,256x32,512x64"`` names the levels instead.
* ``noisy``: MAD's noisy in-context recall (proxies/tasks/noisy_recall.py) at twice the base length, with
  ``min(2K, vocab/2 - 1)`` keys that recur and a fraction ``recall_noise`` of noise slots.
* ``selcopy``: MAD's selective copying (proxies/tasks/selective_copy.py): 2K tokens scattered in twice the
  base length, written out after a copy token.

Every task draws data tokens from the budget's ``mqar_vocab``; noise tokens and the copy token sit above it,
so one embedding serves all. Scores are accuracies on labelled positions only; ``recall`` is their
unweighted mean over tasks (each ladder level counts as one task), ``recall_<task>`` each one's.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from .mqar import MQARConfig, MQARData, make_mqar
from .noisy_recall import NoisyRecallConfig, make_noisy_recall
from .selective_copy import SelectiveCopyConfig, make_selective_copy

if TYPE_CHECKING:  # pragma: no cover
    from proxies.budget import Budget

NOISE_VOCAB = 16
EXTRA_TASKS = ("noisy", "selcopy")
DEFAULT_MULTIPLIERS = (1, 2, 4)
_LEVEL = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")

TaskConfig = Union[MQARConfig, NoisyRecallConfig, SelectiveCopyConfig]


class RecallSuiteError(ValueError):
    """A bad ladder or task list."""


@dataclass(frozen=True)
class RecallTask:
    name: str  # the metric is `recall_<name>`
    kind: str  # mqar | noisy | selcopy
    config: TaskConfig

    @property
    def metric(self) -> str:
        return f"recall_{self.name}"

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    def make(self, num_examples: int, seed: int) -> MQARData:
        if self.kind == "mqar":
            return make_mqar(self.config, num_examples, seed)
        if self.kind == "noisy":
            return make_noisy_recall(self.config, num_examples, seed)
        return make_selective_copy(self.config, num_examples, seed)

    def data_seed(self, seed: int, split: str) -> int:
        """Seeds for each task and split, derived from the run's seed (train and test never share one)."""
        digest = hashlib.sha256(f"hybrid-nas/recall/{self.name}/{split}/{int(seed)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1


def parse_ladder(text: str) -> list[tuple[int, int]]:
    """``"64x4,128x16"`` -> ``[(64, 4), (128, 16)]``."""
    levels = []
    for item in [t for t in text.split(",") if t.strip()]:
        m = _LEVEL.match(item)
        if not m:
            raise RecallSuiteError(f"bad MQAR level {item.strip()!r}; write SEQxPAIRS, e.g. '128x16'")
        levels.append((int(m.group(1)), int(m.group(2))))
    return levels


def ladder_levels(budget: "Budget") -> list[tuple[int, int]]:
    """The MQAR (seq_len, kv_pairs) levels of the suite, easiest first, duplicates dropped."""
    if budget.recall_ladder.strip():
        levels = parse_ladder(budget.recall_ladder)
        if not levels:
            raise RecallSuiteError("recall_ladder names no level")
    else:
        cap = budget.mqar_vocab // 2 - 1
        levels = [(budget.mqar_seq_len * m, min(budget.mqar_kv_pairs * m, cap)) for m in DEFAULT_MULTIPLIERS]
    return list(dict.fromkeys(levels))


def suite_vocab(budget: "Budget") -> int:
    """Embedding size of the suite's model: data tokens, noise tokens, the copy token."""
    return budget.mqar_vocab + NOISE_VOCAB + 1


def build_suite(budget: "Budget") -> list[RecallTask]:
    """The tasks of the budget's recall suite (raises RecallSuiteError / ValueError for impossible settings)."""
    v, s, k = budget.mqar_vocab, budget.mqar_seq_len, budget.mqar_kv_pairs
    tasks = [RecallTask(f"mqar_{seq}x{pairs}", "mqar", MQARConfig(vocab_size=v, seq_len=seq, num_kv_pairs=pairs))
             for seq, pairs in ladder_levels(budget)]
    extra = [t.strip() for t in budget.recall_tasks.split(",") if t.strip()]
    for name in extra:
        if name not in EXTRA_TASKS:
            raise RecallSuiteError(f"unknown recall task {name!r}; valid: {', '.join(EXTRA_TASKS)}")
    if len(set(extra)) != len(extra):
        raise RecallSuiteError(f"recall task listed twice in {budget.recall_tasks!r}")
    if "noisy" in extra:
        keys = max(1, min(2 * k, v // 2 - 1))
        tasks.append(RecallTask("noisy", "noisy", NoisyRecallConfig(
            vocab_size=v, seq_len=2 * s, num_keys=keys, frac_noise=float(budget.recall_noise),
            noise_vocab=NOISE_VOCAB)))
    if "selcopy" in extra:
        tasks.append(RecallTask("selcopy", "selcopy", SelectiveCopyConfig(
            vocab_size=v, seq_len=2 * s, num_tokens=min(2 * k, (2 * s - 1) // 2), copy_token=v + NOISE_VOCAB)))
    return tasks
