"""Errors a user can cause; the CLI turns each into exit code 2 and one line."""

from __future__ import annotations


class StorageError(ValueError):
    """A database that cannot be used as asked: a bad URL, a refused connection, conflicting settings.

    The message is always one line that says what was wrong and, where it helps, what is valid.
    """

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class StudyNotFound(StorageError):
    """No study of that name; the message lists the studies that do exist."""


class SchemaVersionError(StorageError):
    """The database was written by a newer (or unknown) hybrid-nas schema."""


def one_line(text: object) -> str:
    """Collapse whitespace (driver messages often span lines) so a message prints as one line."""
    return " ".join(str(text).split())
