"""Which recipe won: per fidelity level, how many evaluations' best sweep point had each learning rate (and, for
recall, each token-shift width). Read from the winners an evaluation stores (`recall_lr`, `recall_token_shift`,
`lm_lr`)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

RECIPE_METRICS = ("recall_lr", "recall_token_shift", "recall_steps", "lm_lr")
"""Stored beside the scores, not scores themselves: never a per-task recall metric."""


def winning_recipes(evaluations: Sequence[Any], levels: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of (level, task, recipe, evaluations): complete evaluations only, most frequent first."""
    rows = []
    for level in levels:
        done = [e for e in evaluations if e.status == "complete" and e.fidelity == level]
        recall = Counter(_recipe(e.metrics, "recall_lr", "recall_token_shift") for e in done)
        lm = Counter(_recipe(e.metrics, "lm_lr", None) for e in done)
        for task, counts in (("recall", recall), ("lm", lm)):
            for recipe, n in counts.most_common():
                if recipe is not None:
                    rows.append({"level": level, "task": task, "recipe": recipe, "evaluations": n})
    return rows


def _recipe(metrics: dict[str, Any] | None, lr_key: str, shift_key: str | None) -> str | None:
    m = metrics or {}
    lr = m.get(lr_key)
    if not isinstance(lr, (int, float)):
        return None
    shift = m.get(shift_key) if shift_key else None
    return f"lr {lr:g}" + (f", token shift {shift}" if isinstance(shift, int) else "")
