"""What every part of the store shares: the engine, its read and write sessions (one transaction each, database
trouble raised as `StorageError`), and the small helpers the methods use. `storage.store.Store` is built on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage import arguments
from storage.db import WRITE_OPTION
from storage.errors import StorageError, one_line
from storage.records import StudyRecord

INTERRUPTED = "interrupted"


class StoreBase:
    """The engine and its sessions; see `storage.store.Store` for the methods."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)

    # -- the store itself -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def sqlalchemy_url(self) -> str:
        """The full URL with its driver resolved and the password kept: hand it to Optuna's RDBStorage
        (`optuna.storages.RDBStorage(store.sqlalchemy_url)`) so that Optuna's tables share this database."""
        return self._engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close the pooled connections (the store can still be used; it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> "StoreBase":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- one transaction ------------------------------------------------------------------------------------
    @contextmanager
    def _session(self, what: str, *, write: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back (nothing kept) when it raises."""
        maker = self._write if write else self._read
        try:
            with maker() as session, session.begin():
                yield session
        except sa_exc.DBAPIError as error:
            detail = one_line(error.orig if error.orig is not None else error)
            raise StorageError(f"database error while {what} in {self.url}: {detail:.300}") from error
        except sa_exc.SQLAlchemyError as error:
            raise StorageError(f"database error while {what} in {self.url}: {one_line(error):.300}") from error


def study_name(study: str | StudyRecord | None, *, optional: bool = False) -> str | None:
    if study is None and optional:
        return None
    if isinstance(study, StudyRecord):
        return study.name
    if isinstance(study, str):
        return arguments.study_name(study)
    raise StorageError(f"study must be a study name or a StudyRecord, got {type(study).__name__}")


def now() -> datetime:
    return datetime.now(timezone.utc)
