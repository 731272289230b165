"""A progress bar for a search: trials done, the best value of each objective so far, time left.

On a terminal it is a live bar; elsewhere (CI, logs) one line per finished trial.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from nas.driver import TrialOutcome
from nas.numbers import score


class SearchProgress:
    def __init__(self, done: int, total: int, objectives: list[dict[str, str]]) -> None:
        self.done, self.total, self.objectives = done, total, objectives
        self.start_done = done
        self.best: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self.live = sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> "SearchProgress":
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
                TextColumn("left"), TimeRemainingColumn(), console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task("search", total=self.total, completed=self.done, best="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def best_text(self) -> str:
        parts = []
        for o in self.objectives:
            m = o["metric"]
            if m in self.best:
                parts.append(f"{m} {score(self.best[m])}")
        return "best: " + ", ".join(parts) if parts else ""

    def eta(self) -> float | None:
        ran = self.done - self.start_done
        if ran <= 0:
            return None
        return (time.perf_counter() - self.t0) / ran * max(0, self.total - self.done)

    def update(self, outcome: TrialOutcome, done: int, total: int) -> None:
        self.done, self.total = done, total
        if outcome.values is not None:
            for o, v in zip(self.objectives, outcome.values):
                m, better = o["metric"], (max if o["direction"] == "maximize" else min)
                self.best[m] = better(self.best.get(m, v), v)
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total, best=self.best_text())
            self._progress.console.log(_line(outcome))
        else:
            eta = self.eta()
            left = f", ~{eta:.0f} s left" if eta is not None else ""
            print(f"[{done}/{total}] {_line(outcome)} | {self.best_text()}{left}", file=sys.stderr, flush=True)


def _line(o: TrialOutcome) -> str:
    if o.status == "failed":
        return f"trial {o.trial} {o.layout}: FAILED ({o.error})"
    vals = ", ".join(f"{k} {score(float(o.metrics[k]))}" for k in ("recall", "perplexity", "flops") if k in o.metrics)
    tag = " (cached)" if o.status == "cached" else f" in {o.wall_time_s:.1f} s"
    return f"trial {o.trial} {o.layout}: {vals}{tag}"


class EvalProgress:
    """Training progress of one evaluation: a live bar per phase on a terminal, else a line every 20%."""

    def __init__(self, totals: dict[str, int]) -> None:
        self.totals = totals
        self.live = sys.stderr.isatty()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._printed: dict[str, int] = {}

    def __enter__(self) -> "EvalProgress":
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, phase: str, step: int, loss: float) -> None:
        total = self.totals.get(phase.split()[0], 0)  # "mqar lr=0.001": one bar per sweep point
        done = step + 1
        if self._progress is not None:
            if phase not in self._tasks:
                self._tasks[phase] = self._progress.add_task(f"train {phase}", total=total, loss="")
            self._progress.update(self._tasks[phase], completed=done, loss=f"{loss:.3f}")
            return
        tenth = (5 * done) // max(1, total)
        if tenth > self._printed.get(phase, 0) or done == total:
            self._printed[phase] = tenth
            print(f"train {phase}: step {done}/{total}, loss {loss:.3f}", file=sys.stderr, flush=True)
