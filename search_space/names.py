"""Stable mixer names, shared by the CLI, the database and the proxy registry: one explicit registry of names.

Each entry names one mixer; `proxies/mixers/<name>.py` implements it and registers its `MixerSpec` under the
same name (`proxies.registry` checks that every name here has exactly one, and nothing else is registered).
Adding a mixer: its file in `proxies/mixers/`, and one `MixerName` here. The search space knows names only.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class MixerName:
    name: str
    linear: bool = True  # linear-time (or bounded-state); False: full softmax attention
    grid: int | None = None  # position among the six linear mixers of arXiv 2507.06457's ratio-by-mixer grid

    @property
    def module(self) -> str:
        """The module that implements and registers this mixer."""
        return f"proxies.mixers.{self.name}"


# In the order the CLI lists them, attention first.
MIXER_NAMES: tuple[MixerName, ...] = (
    MixerName("attn", linear=False),
    MixerName("gdn", grid=5),
    MixerName("deltanet", grid=4),
    MixerName("gla", grid=2),
    MixerName("hgrn", grid=0),
    MixerName("hgrn2", grid=1),
    MixerName("retnet", grid=3),
    MixerName("mamba2"),
    MixerName("swa"),
)

ATTENTION = "attn"

# Linear-time (or bounded-state) mixers, in the order the CLI lists them.
LINEAR_MIXERS: tuple[str, ...] = tuple(m.name for m in MIXER_NAMES if m.linear)

ALL_MIXERS: tuple[str, ...] = (ATTENTION, *LINEAR_MIXERS)

# The `grid` command's default variants: the paper's six linear mixers, in its order.
GRID_VARIANTS: tuple[str, ...] = tuple(m.name for m in sorted((m for m in MIXER_NAMES if m.grid is not None),
                                                              key=lambda m: m.grid))


def check_mixer(name: str) -> str:
    """Return `name` if it is a known mixer, else raise `LayoutError` naming the valid ones."""
    from search_space.errors import LayoutError

    if name not in ALL_MIXERS:
        raise LayoutError(f"unknown mixer {name!r}; valid mixers: {', '.join(ALL_MIXERS)}")
    return name
