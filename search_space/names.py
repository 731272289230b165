"""Stable mixer names, shared by the CLI, the database and the proxy registry.

The search space knows names only; `proxies.registry` maps each name to a module, and a test holds the
two together so a mixer registered there is offered here.
"""

ATTENTION = "attn"

# Linear-time (or bounded-state) mixers, in the order the CLI lists them.
LINEAR_MIXERS: tuple[str, ...] = (
    "gdn",
    "deltanet",
    "gla",
    "hgrn",
    "hgrn2",
    "retnet",
    "mamba2",
    "swa",
)

ALL_MIXERS: tuple[str, ...] = (ATTENTION, *LINEAR_MIXERS)


def check_mixer(name: str) -> str:
    """Return `name` if it is a known mixer, else raise `LayoutError` naming the valid ones."""
    from search_space.errors import LayoutError

    if name not in ALL_MIXERS:
        raise LayoutError(f"unknown mixer {name!r}; valid mixers: {', '.join(ALL_MIXERS)}")
    return name
