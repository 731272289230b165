"""A layout as a picture: one coloured cell per layer, bottom layer first, as inline SVG (no plotting library).

The cells carry the mixer colours of `nas.mixer_colours`, the same as the plots' markers; hovering a cell shows
its layer number and mixer.
"""

from __future__ import annotations

from html import escape

from nas.mixer_colours import mixer_colour, mixers_in

CELL_H = 18
MAX_W = 480  # the whole strip; a cell is at most 24 px wide and at least 3


def strip_svg(layout: str, *, max_width: int = MAX_W) -> str:
    """An <svg> of the layout's layers left (first layer) to right (last)."""
    from search_space.layout import Layout

    layers = Layout.parse(layout).layers
    w = max(3, min(24, max_width // len(layers)))
    gap = 1 if w >= 6 else 0
    cells = "".join(
        f'<rect x="{i * w}" y="0" width="{w - gap}" height="{CELL_H}" fill="{mixer_colour(m)}">'
        f"<title>layer {i}: {escape(m)}</title></rect>"
        for i, m in enumerate(layers)
    )
    return (f'<svg class="strip" width="{w * len(layers)}" height="{CELL_H}" '
            f'role="img" aria-label="{escape(layout)}">{cells}</svg>')


def legend_html(layouts: list[str]) -> str:
    """Swatches of the mixers these layouts use."""
    items = "".join(
        f'<span class="swatch"><svg width="14" height="14">'
        f'<rect width="14" height="14" fill="{mixer_colour(m)}"/></svg> {escape(m)}</span>'
        for m in mixers_in(layouts)
    )
    return f'<div class="legend">{items}</div>'
