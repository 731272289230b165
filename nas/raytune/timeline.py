"""How parallel a search ran, from the times our tables record."""

from __future__ import annotations

from typing import Any


def timeline(evaluations: list[Any]) -> dict[str, float]:
    """How parallel a search ran, from the start and end times our tables record: the most evaluations
    running at once, the span from the first start to the last end, and the sum of their wall times."""
    spans = [(e.started_at.timestamp(), e.finished_at.timestamp()) for e in evaluations
             if e.finished_at is not None and e.cached_from is None and e.wall_time_s]
    if not spans:
        return {"evaluations": 0, "max_concurrent": 0, "span_s": 0.0, "sum_wall_s": 0.0}
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return {"evaluations": len(spans), "max_concurrent": peak,
            "span_s": max(b for _, b in spans) - min(a for a, _ in spans),
            "sum_wall_s": sum(e.wall_time_s for e in evaluations if e.finished_at is not None
                              and e.cached_from is None and e.wall_time_s)}
