"""Matplotlib figures of a study (Agg, no display): the Pareto front in 2-D panels and recall against the
linear:full ratio. Figures are built without pyplot, so nothing global changes and no window opens."""

from __future__ import annotations

import io
from itertools import combinations
from pathlib import Path
from typing import Sequence

from nas.errors import UsageError
from nas.front_data import Axis, Point, log_scale
from nas.label_placement import place_labels
from nas.mixer_colours import layout_colour, mixer_colour, mixers_in

FORMATS = {".png": "png", ".svg": "svg"}
DPI = 100


def plot_format(path: str | Path) -> str:
    """'png' or 'svg' from the file's suffix; UsageError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot tell the plot format from {str(path)!r}; the file must end in "
                         f"{' or '.join(FORMATS)}")
    return FORMATS[suffix]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def front_figure(levels: dict[str, list[Point]], axes: Sequence[Axis], title: str = ""):
    """One row of panels per level, one panel per pair of axes. Front points solid and labelled with their
    layout, dominated points faint; error bars of one across-seed std where a layout has several seeds."""
    pairs = list(combinations(axes, 2))
    rows = max(1, len(levels))
    fig = _figure(max(4.2 * len(pairs), 6.0), 3.6 * rows + 0.6)
    grid = fig.subplots(rows, len(pairs), squeeze=False)
    labels = []
    for r, (level, points) in enumerate(levels.items()):
        for c, (ax_x, ax_y) in enumerate(pairs):
            _front_panel(grid[r][c], points, ax_x, ax_y, f"level {level}" if len(levels) > 1 else "")
            labels.append((grid[r][c], _labels(points, ax_x, ax_y)))
    layouts = [p.layout for pts in levels.values() for p in pts]
    _legend(fig, layouts, front_marks=True)
    if title:
        fig.suptitle(title)
    fig.canvas.draw()  # fix the layout, then place the labels in pixels
    for ax, items in labels:
        place_labels(ax, items)
    return fig


def _labels(points: list[Point], ax_x: Axis, ax_y: Axis) -> list[tuple[float, float, str]]:
    """Every front point's layout; the panel's own 2-D front first (its labels get the best spots)."""
    from storage.pareto import non_dominated

    front = [p for p in points if p.on_front]
    xy = [(p.values[ax_x.metric], p.values[ax_y.metric]) for p in front]
    first = set(non_dominated(xy, [ax_x.direction, ax_y.direction]))
    order = sorted(range(len(front)), key=lambda i: i not in first)
    return [(*xy[i], front[i].layout) for i in order]


def _front_panel(ax, points: list[Point], ax_x: Axis, ax_y: Axis, title: str) -> None:
    for faint in (True, False):
        for p in points:
            if p.on_front == faint:
                continue
            x, y = p.values[ax_x.metric], p.values[ax_y.metric]
            colour = layout_colour(p.layout)
            alpha = 0.25 if faint else 1.0
            if p.seeds > 1 and (ax_x.metric in p.stds or ax_y.metric in p.stds):
                ax.errorbar(x, y, xerr=p.stds.get(ax_x.metric) or None, yerr=p.stds.get(ax_y.metric) or None,
                            fmt="none", ecolor=colour, alpha=alpha, elinewidth=1, capsize=2, zorder=2)
            ax.scatter([x], [y], s=46 if not faint else 30, color=colour, alpha=alpha, zorder=3,
                       edgecolors="black" if not faint else "none", linewidths=0.6)
    if len({a.metric for a in (ax_x, ax_y)}) == 2 and points:
        _front_line(ax, [p for p in points if p.on_front], ax_x, ax_y)
    for axis, setter in ((ax_x, ax.set_xscale), (ax_y, ax.set_yscale)):
        if log_scale(axis.metric, [p.values[axis.metric] for p in points]):
            setter("log")
    ax.set_xlabel(ax_x.label)
    ax.set_ylabel(ax_y.label)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)


def _front_line(ax, front: list[Point], ax_x: Axis, ax_y: Axis) -> None:
    """Join the points of this pair's own 2-D front (the panel's non-dominated staircase), dashed."""
    from storage.pareto import non_dominated

    pts = [(p.values[ax_x.metric], p.values[ax_y.metric]) for p in front]
    keep = [pts[i] for i in non_dominated(pts, [ax_x.direction, ax_y.direction])]
    if len(keep) > 1:
        keep.sort()
        ax.plot([k[0] for k in keep], [k[1] for k in keep], color="black", lw=0.8, ls="--", alpha=0.5, zorder=1)


def _legend(fig, layouts: list[str], front_marks: bool) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="none", color=mixer_colour(m), label=m) for m in mixers_in(layouts)]
    if front_marks:
        handles += [Line2D([], [], marker="o", ls="none", color="grey", markeredgecolor="black", label="front"),
                    Line2D([], [], marker="o", ls="none", color="grey", alpha=0.25, label="dominated")]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8), fontsize=8,
                   frameon=False)


def ratio_figure(series: dict[str, dict], metric: str = "recall"):
    """One panel per level: `metric` against the linear:full ratio, one line per linear mixer (error bars:
    across-seed std), pure attention as a dashed reference. The ratios stand evenly spaced in order of attention
    fraction (24:1, 12:1 and 6:1 would crowd a linear axis). `series` is `nas.ratio_data.ratio_series`."""
    fig = _figure(max(5.0, 4.6 * len(series)), 4.0)
    grid = fig.subplots(1, max(1, len(series)), squeeze=False)
    for c, (level, s) in enumerate(series.items()):
        ax = grid[0][c]
        labels = {p.fraction: p.ratio for pts in s["lines"].values() for p in pts}
        if s["attention"] is not None:
            labels[1.0] = "attn"
        order = sorted(labels)
        at = {f: i for i, f in enumerate(order)}
        for mixer, pts in s["lines"].items():
            ax.errorbar([at[p.fraction] for p in pts], [p.mean for p in pts], yerr=[p.std or 0.0 for p in pts],
                        color=mixer_colour(mixer), marker="o", ms=5, lw=1.6, capsize=2, label=mixer)
        if s["attention"] is not None:
            a = s["attention"]
            ax.axhline(a.mean, color=mixer_colour("attn"), ls="--", lw=1.2, label="attn only")
            ax.errorbar([at[1.0]], [a.mean], yerr=[a.std or 0.0], color=mixer_colour("attn"), marker="s", ms=6,
                        capsize=2)
        ax.set_xticks(range(len(order)), [f"{labels[f]}\n{f:.2g}" for f in order], fontsize=8)
        ax.set_xlabel("linear:full ratio (attention fraction)")
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        ax.set_title(f"level {level}", fontsize=10)
        ax.legend(fontsize=8)
    return fig


def to_bytes(fig, fmt: str) -> bytes:
    """PNG, or SVG with its text kept as text (searchable, selectable) and no date (reproducible)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else {})
    return buf.getvalue()


def save(fig, path: str | Path) -> Path:
    """Write the figure in the format its suffix names; UsageError (one line) when the path cannot be written."""
    p = Path(path)
    data = to_bytes(fig, plot_format(p))
    write_bytes(p, data)
    return p


def write_bytes(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise UsageError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
