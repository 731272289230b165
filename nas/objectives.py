"""Objectives a search can optimise, with their directions."""

from __future__ import annotations

from nas.errors import UsageError

OBJECTIVES: dict[str, str] = {
    "recall": "maximize",
    "perplexity": "minimize",
    "bits_per_byte": "minimize",
    "flops": "minimize",
    "params": "minimize",
    "state_bytes": "minimize",
    "kl": "minimize",  # a student's KL to its teacher (search --teacher)
}
DEFAULT_OBJECTIVES = ("recall", "perplexity", "flops")
TEACHER_OBJECTIVES = ("kl", "recall", "flops")  # the default with --teacher


def parse_objectives(text: str) -> list[dict[str, str]]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError(f"no objectives given; valid: {', '.join(OBJECTIVES)}")
    for n in names:
        if n not in OBJECTIVES:
            raise UsageError(f"unknown objective {n!r}; valid: {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise UsageError(f"objective listed twice in {text!r}")
    return [{"metric": n, "direction": OBJECTIVES[n]} for n in names]
