"""Point labels that overlap each other as little as possible: each label tries a few spots around its point
(in display pixels) and keeps the one that overlaps the labels placed before it least. Greedy, in the order
given, so put the labels that matter most first. Call it after the figure's layout is fixed."""

from __future__ import annotations

from typing import Sequence

OFFSETS = ((4, 4), (4, -10), (-4, 4), (-4, -10), (6, 12), (6, -18), (-6, 12), (-6, -18))  # points from the dot


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box, frame) -> float:
    inside_w = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0))
    inside_h = max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
    return box.width * box.height - inside_w * inside_h


def place_labels(ax, labels: Sequence[tuple[float, float, str]], *, fontsize: float = 7) -> list:
    """Annotate (x, y, text) in data coordinates; return the annotations."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed, boxes = [], []
    for x, y, text in labels:
        best = None
        for dx, dy in OFFSETS:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                              ha="left" if dx > 0 else "right", zorder=4, annotation_clip=False)
            ann.set_in_layout(False)
            box = ann.get_window_extent(renderer)
            cost = sum(_overlap(box, b) for b in boxes) + _outside(box, frame)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        placed.append(best[1])
        boxes.append(best[2])
    return placed
