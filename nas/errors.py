"""User mistakes the CLI reports with exit code 2 and one line."""

from __future__ import annotations


class UsageError(ValueError):
    """A bad option value or combination."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every exception type that means 'the user asked for something impossible' (not a bug)."""
    from proxies.budget import BudgetError
    from proxies.tasks.corpus import CorpusError
    from proxies.teacher.errors import TeacherError
    from search_space.errors import LayoutError, SpaceError
    from storage.errors import StorageError

    return (UsageError, SpaceError, LayoutError, BudgetError, StorageError, CorpusError, TeacherError)
