"""The recipe protocol: train a task at every point of its sweep and keep the best point.

A score belongs to a layout only at the layout's best recipe (Zoology and MAD sweep the learning rate per
architecture and report the best). A point is a learning rate and, for recall, a token-shift width (deep
softmax attention needs the shift to form induction heads, hybrids learn faster without it). Every point is
kept, with its recipe, the steps it took and its score; a point whose training diverges is kept as failed and
never wins. Recall keeps the highest accuracy (ties: the lower held-out loss), language modelling the lowest
validation loss. The points are independent trainings: a runner trains them one after another or side by side
on one GPU (`proxies.side_by_side`); the choice changes the time, not the scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable, Generic, TypeVar

from proxies.side_by_side import Outcome, in_turn
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
Runner = Callable[[list[Callable[[], Any]]], list[Outcome]]


@dataclass
class Sweep(Generic[R]):
    """One task's sweep: `fit(lr, shift)` trains a point, `score(result) -> (score, loss, steps)`."""

    task: str
    recipes: list[Recipe]
    fit: Callable[[float, "int | None"], R]
    score: Callable[[R], tuple[float, float, int]]
    maximize: bool


def run_sweeps(sweeps: list[Sweep], runner: Runner = in_turn) -> list[SweepResult]:
    """Train every point of every sweep through `runner` (one after another, or side by side:
    `proxies.side_by_side`) and pick each sweep's winner. A point that diverges is kept as failed; a sweep whose
    points all diverge raises `SweepFailed`; any other error is raised as it is, once every point has finished."""
    jobs = [(s, lr, shift) for s in sweeps for lr, shift in s.recipes]
    outcomes = runner([partial(s.fit, lr, shift) for s, lr, shift in jobs])
    raise_unexpected(outcomes)
    return [settle(sweep, [o for (s, _, _), o in zip(jobs, outcomes) if s is sweep]) for sweep in sweeps]


def raise_unexpected(outcomes: list[Outcome]) -> None:
    """Raise the first error that is not a divergence (a bug, not a failed point)."""
    for o in outcomes:
        if o.error is not None and not isinstance(o.error, NonFiniteLoss):
            raise o.error


def settle(sweep: Sweep, outcomes: list[Outcome]) -> SweepResult:
    """Every point of `sweep` from its outcomes (in recipe order) and the winner; `SweepFailed` if none
    completed. A point whose error is not a divergence is kept as failed with that error."""
    points: list[SweepPoint] = []
    results: list[tuple[Any, SweepPoint]] = []
    for (lr, shift), o in zip(sweep.recipes, outcomes, strict=True):
        if o.error is not None:
            points.append(SweepPoint(task=sweep.task, lr=lr, token_shift=shift, status="failed", error=str(o.error),
                                     wall_time_s=o.wall_time_s))
            continue
        score, loss, steps = sweep.score(o.value)
        point = SweepPoint(task=sweep.task, lr=lr, token_shift=shift, status="complete", steps=steps, score=score,
                           loss=loss, wall_time_s=o.wall_time_s)
        points.append(point)
        results.append((o.value, point))
    if not results:
        raise SweepFailed("; ".join(p.error or "" for p in points), points)
    sign = -1.0 if sweep.maximize else 1.0
    best, point = min(results, key=lambda rp: (sign * rp[1].score, rp[1].loss if sweep.maximize else 0.0))
    return SweepResult(points=points, best=best, best_lr=point.lr, best_shift=point.token_shift)


def run_sweep(task: str, recipes: list[Recipe], fit: Callable[[float, "int | None"], R],
              score: Callable[[R], tuple[float, float, int]], maximize: bool,
              runner: Runner = in_turn) -> SweepResult[R]:
    """One sweep (`run_sweeps` of one): every point and the winner."""
    return run_sweeps([Sweep(task, recipes, fit, score, maximize)], runner)[0]
