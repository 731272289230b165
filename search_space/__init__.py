"""What a hybrid layout is, and which layouts a search may propose."""

from search_space.errors import LayoutError, SpaceError
from search_space.layout import Layout
from search_space.names import ALL_MIXERS, ATTENTION, LINEAR_MIXERS
from search_space.ratio import attention_count, canonical_ratio, evenly_spaced, parse_ratio
from search_space.space import PLACEMENTS, SearchSpace

__all__ = [
    "ALL_MIXERS", "ATTENTION", "LINEAR_MIXERS", "Layout", "LayoutError", "PLACEMENTS", "SearchSpace",
    "SpaceError", "attention_count", "canonical_ratio", "evenly_spaced", "parse_ratio",
]
