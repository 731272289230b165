"""`pareto --plot FILE`: read a study (nothing is written to the database) and draw its fronts to FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from nas.errors import UsageError


def check_target(path: str | Path) -> Path:
    """The output file, checked before any work: a known suffix and an existing directory to hold it."""
    from nas.plots import plot_format

    p = Path(path)
    plot_format(p)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {str(p)!r}: {str(parent)!r} is not a directory")
    if p.is_dir():
        raise UsageError(f"cannot write {str(p)!r}: it is a directory")
    return p


def plot_front(store: Any, study: str, path: str | Path, axes: Sequence[str] | None = None) -> str:
    """Draw every pair of `axes` (default: the study's objectives) per level; return a one-line summary."""
    from nas.front_data import choose_axes, level_points
    from nas.plots import front_figure, save

    target = check_target(path)
    record = store.get_study(study)
    evaluations = store.evaluations(study, status="complete")
    chosen = choose_axes(study, record.objectives, evaluations, axes)
    levels = level_points(evaluations, chosen)
    fig = front_figure(levels, chosen, title=f"study {study}")
    save(fig, target)
    n = sum(len(p) for p in levels.values())
    on = sum(q.on_front for p in levels.values() for q in p)
    return (f"wrote {target}: {len(levels)} level(s), {n} layout point(s), {on} on the front of "
            f"{', '.join(a.metric for a in chosen)}")
