"""One colour per mixer, shared by the layout strips and the plots, so a reader matches them at a glance."""

from __future__ import annotations

from search_space.names import ATTENTION

MIXER_COLOURS: dict[str, str] = {
    "attn": "#d62728",      # red: full attention stands out
    "swa": "#ff9896",       # light red: windowed attention
    "gdn": "#1f77b4",       # blue
    "deltanet": "#9ecae1",  # light blue: the ungated delta rule
    "gla": "#2ca02c",       # green
    "hgrn": "#bcbd22",      # olive
    "hgrn2": "#9467bd",     # purple
    "retnet": "#ff7f0e",    # orange
    "mamba2": "#17becf",    # cyan
}
OTHER = "#7f7f7f"  # a mixer this palette does not know, or a layout mixing several linear kinds


def mixer_colour(name: str) -> str:
    return MIXER_COLOURS.get(name, OTHER)


def layout_colour(layout: str) -> str:
    """The colour of a layout's one linear mixer (attention's for pure attention; grey for several kinds)."""
    from search_space.layout import Layout

    lay = Layout.parse(layout)
    kinds = lay.linear_mixers
    if not kinds:
        return mixer_colour(ATTENTION)
    return mixer_colour(kinds[0]) if len(kinds) == 1 else OTHER


def mixers_in(layouts: list[str]) -> list[str]:
    """The mixers the layouts use, in the palette's order."""
    from search_space.layout import Layout

    used = {m for lay in layouts for m in Layout.parse(lay).layers}
    known = [m for m in MIXER_COLOURS if m in used]
    return known + sorted(used - set(known))
