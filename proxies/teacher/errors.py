"""A teacher checkpoint the student cannot be built from: a user's mistake (the CLI prints one line, exits 2)."""

from __future__ import annotations


class TeacherError(ValueError):
    """Not a local causal-LM checkpoint, or one whose shape our mixers cannot take."""
