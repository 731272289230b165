"""Errors a user can cause; the CLI turns each into exit code 2 and one line."""


class SpaceError(ValueError):
    """An impossible or malformed search space."""


class LayoutError(ValueError):
    """A layout string that cannot be parsed or names an unknown mixer."""
