"""Connect to a database URL: check the URL, make the engine, create or check the tables.

Valid URLs: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `postgresql://user:pass@host:5432/db`
(psycopg2 or psycopg 3, whichever is installed; `postgresql+psycopg2://` or `postgresql+psycopg://` to choose).
Anything else ends in one `StorageError` line. `parse_url(url)` gives the URL with its driver resolved,
which is what to hand to Optuna's RDBStorage so that both open the same database the same way.

SQLite is set up for several writer processes (Ray workers) on one file: WAL journal, a busy timeout, and
write transactions that take the write lock when they begin (`BEGIN IMMEDIATE`), so that a writer waits
for the lock instead of failing with "database is locked". WAL needs a local file system (not NFS).
"""

from __future__ import annotations

import importlib.util
import os
import random
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, event, exc, inspect, select
from sqlalchemy.engine import URL, Connection, Engine, make_url

from storage.errors import SchemaVersionError, StorageError, one_line
from storage.schema import SCHEMA_VERSION, Base, MetaRow

DEFAULT_URL = "sqlite:///hybrid_nas.db"
VALID_URLS = (
    "valid URLs look like sqlite:///path.db (relative to the current directory), sqlite:////abs/path.db "
    "or postgresql://user:pass@host:5432/dbname"
)
BUSY_TIMEOUT_S = 60.0
PG_CONNECT_TIMEOUT_S = 10
_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
_PIP = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]", "pg8000": "pg8000"}
WRITE_OPTION = "hnas_write"
"""Execution option marking a write transaction (SQLite takes the write lock at BEGIN for those)."""
_SCHEMA_LOCK = 0x686E6173  # "hnas": PostgreSQL advisory lock held while tables are created or checked


def connect(url: str | os.PathLike | None = None, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """The engine for `url`, its tables created when missing (`storage.open_store` wraps it in a `Store`).

    Raise `StorageError` (one line) as `open_store` documents.
    """
    parsed = parse_url(url)
    engine = _make_engine(parsed, busy_timeout_s)
    try:
        _prepare(engine, parsed)
    except BaseException:
        engine.dispose()
        raise
    return engine


def parse_url(url: str | os.PathLike | None) -> URL:
    """Check a database URL without connecting; raise `StorageError` saying what is wrong."""
    if url is None:
        url = DEFAULT_URL
    elif isinstance(url, os.PathLike):
        url = f"sqlite:///{os.fspath(url)}"
    if not isinstance(url, str) or not url.strip():
        raise StorageError(f"database URL must be a non-empty string, got {url!r}; {VALID_URLS}")
    text = url.strip()
    try:
        parsed = make_url(text)
    except Exception as error:  # noqa: BLE001 - ArgumentError, ValueError (bad port), ...
        raise StorageError(f"cannot parse database URL {text!r} ({one_line(error)}); {VALID_URLS}") from None

    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise StorageError(f"unsupported database {backend!r} in URL {_safe(parsed)}; {VALID_URLS}")
    explicit = "+" in parsed.drivername
    if backend != _DRIVERS[backend]:  # postgres:// (Heroku style) -> postgresql://
        parsed = parsed.set(drivername=parsed.drivername.replace(backend, _DRIVERS[backend], 1))
    if parsed.get_backend_name() == "postgresql" and not explicit:
        # SQLAlchemy 2.1 means psycopg (3) by plain postgresql://; use whichever driver is installed.
        parsed = parsed.set(drivername=f"postgresql+{_installed_pg_driver()}")

    try:
        dialect = parsed.get_dialect()
    except exc.NoSuchModuleError:
        raise StorageError(
            f"unknown driver {parsed.get_driver_name()!r} for {parsed.get_backend_name()} in URL "
            f"{_safe(parsed)}; {VALID_URLS}"
        ) from None
    if getattr(dialect, "is_async", False):
        raise StorageError(
            f"driver {parsed.get_driver_name()!r} in URL {_safe(parsed)} is asynchronous and cannot be used "
            f"here; {VALID_URLS}"
        )
    try:
        dialect.import_dbapi()
    except ImportError:
        driver = parsed.get_driver_name()
        raise StorageError(
            f"the {driver!r} driver for URL {_safe(parsed)} is not installed (pip install {_PIP.get(driver, driver)})"
        ) from None

    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed)
    elif not parsed.database:
        raise StorageError(f"URL {_safe(parsed)} names no database; {VALID_URLS}")
    return parsed


def _installed_pg_driver() -> str:
    for driver in ("psycopg2", "psycopg"):
        if importlib.util.find_spec(driver) is not None:
            return driver
    return "psycopg2"  # not installed: parse_url says how to install it


def _check_sqlite_path(url: URL) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("uri") or database.startswith("file:"):
        return
    path = Path(database)
    where = path if path.is_absolute() else Path.cwd() / path
    if where.is_dir():
        raise StorageError(f"cannot open {_safe(url)}: {where} is a directory, not a database file; {VALID_URLS}")
    if not where.parent.is_dir():
        raise StorageError(f"cannot open {_safe(url)}: directory {where.parent} does not exist; {VALID_URLS}")


def _make_engine(url: URL, busy_timeout_s: float) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
        _configure_sqlite(engine, busy_timeout_s)
    else:
        connect_args = {}
        if url.get_driver_name() in ("psycopg2", "psycopg") and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    _guard_fork(engine)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN; `_begin` below does
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            _use_wal(cursor, deadline=time.monotonic() + busy_timeout_s)
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A deferred transaction that reads then writes can fail at once with SQLITE_BUSY when another
        # process wrote in between; taking the write lock up front makes the busy timeout apply instead.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _use_wal(cursor, *, deadline: float) -> None:
    """Switch the file to WAL once. The switch needs an exclusive lock and SQLite does not wait for it
    (no busy handler), so processes opening a new file together retry here until the deadline."""
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def _guard_fork(engine: Engine) -> None:
    """A forked child (multiprocessing, Ray) opens its own connections instead of sharing its parent's."""

    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection, record) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection, record, proxy) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError("connection was made in another process")


def _prepare(engine: Engine, url: URL) -> None:
    """Refuse a newer schema, create missing tables, write the version row: one transaction."""
    try:
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            version = None
            if inspect(conn).has_table(MetaRow.__tablename__):
                version = conn.execute(select(MetaRow.schema_version).where(MetaRow.id == 1)).scalar()
            if version is not None and version != SCHEMA_VERSION:
                raise SchemaVersionError(_version_message(url, version))
            Base.metadata.create_all(conn)
            if version is None:
                now = datetime.now(timezone.utc)
                conn.execute(MetaRow.__table__.insert().values(id=1, schema_version=SCHEMA_VERSION, created_at=now))
    except exc.DBAPIError as error:
        raise StorageError(f"cannot open {_safe(url)}: {_driver_message(error)}; {VALID_URLS}") from None
    except exc.SQLAlchemyError as error:
        raise StorageError(f"cannot open {_safe(url)}: {one_line(error)}") from None


def _version_message(url: URL, version: int) -> str:
    if version > SCHEMA_VERSION:
        return (
            f"database {_safe(url)} has hybrid-nas schema version {version}, newer than this code's "
            f"{SCHEMA_VERSION}: upgrade hybrid-nas to use it (nothing was changed)"
        )
    return (
        f"database {_safe(url)} has hybrid-nas schema version {version}, which this code (version "
        f"{SCHEMA_VERSION}) cannot upgrade (nothing was changed)"
    )


def _driver_message(error: exc.DBAPIError) -> str:
    """What the driver said, on one line, e.g. '... failed: Connection refused Is the server running ...'."""
    text = one_line(error.orig if error.orig is not None else error) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)
