"""The recipe protocol: train a task at every point of its sweep and keep the best point.

A score belongs to a layout only at the layout's best recipe (Zoology and MAD sweep the learning rate per
architecture and report the best). A point is a learning rate and, for recall, a token-shift width (deep
softmax attention needs the shift to form induction heads, hybrids learn faster without it). Every point is
kept, with its recipe, the steps it took and its score; a point whose training diverges is kept as failed and never wins. Recall keeps the highest accuracy
(ties: the lower held-out loss), language modelling the lowest validation loss.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Generic, TypeVar

from proxies.train import NonFiniteLoss

R = TypeVar("R")


@dataclass
class SweepPoint:
    task: str  # recall | lm
    lr: float
    status: str  # complete | failed
    token_shift: int | None = None  # the recall recipe's token-shift width (None: the budget's, for lm)
    steps: int = 0
    score: float | None = None  # recall: held-out accuracy; lm: validation loss (nats per byte)
    loss: float | None = None  # held-out loss
    error: str | None = None
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SweepFailed(NonFiniteLoss):
    """Every point of a sweep diverged; the message names each one, `points` holds them."""

    def __init__(self, message: str, points: list[SweepPoint]) -> None:
        super().__init__(message)
        self.points = points


@dataclass
class SweepResult(Generic[R]):
    points: list[SweepPoint]
    best: R
    best_lr: float
    best_shift: int | None = None


Recipe = tuple[float, "int | None"]  # (learning rate, token-shift width or None)


def run_sweep(task: str, recipes: list[Recipe], fit: Callable[[float, "int | None"], R],
              score: Callable[[R], tuple[float, float, int]], maximize: bool) -> SweepResult[R]:
    """`fit(lr, shift)` trains one point; `score(result) -> (score, loss, steps)`. Returns every point and the
    winner."""
    points: list[SweepPoint] = []
    results: list[tuple[R, SweepPoint]] = []
    for lr, shift in recipes:
        t0 = time.perf_counter()
        try:
            r = fit(lr, shift)
        except NonFiniteLoss as exc:
            points.append(SweepPoint(task=task, lr=lr, token_shift=shift, status="failed", error=str(exc),
                                     wall_time_s=time.perf_counter() - t0))
            continue
        s, loss, steps = score(r)
        point = SweepPoint(task=task, lr=lr, token_shift=shift, status="complete", steps=steps, score=s, loss=loss,
                           wall_time_s=time.perf_counter() - t0)
        points.append(point)
        results.append((r, point))
    if not results:
        raise SweepFailed("; ".join(p.error or "" for p in points), points)
    sign = -1.0 if maximize else 1.0
    best, point = min(results, key=lambda rp: (sign * rp[1].score, rp[1].loss if maximize else 0.0))
    return SweepResult(points=points, best=best, best_lr=point.lr, best_shift=point.token_shift)
