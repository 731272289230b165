"""Backends every storage test runs against: a SQLite file always, PostgreSQL when
HNAS_TEST_POSTGRES_URL is set (start one with `eval "$(bash scripts/postgres.sh)"`).

Each test gets an empty database: a fresh SQLite file under tmp_path, or a fresh PostgreSQL schema that is
dropped after the test (the `empty_db` fixture of tests/conftest.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

import storage

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request, empty_db) -> str:
    """The URL of an empty database on each backend (see tests/conftest.py)."""
    return empty_db(request.param)


@pytest.fixture
def open_db(db_url):
    """open_db() -> a Store on this test's database (closed after the test); call it again for another."""
    opened: list[storage.Store] = []

    def _open(url: str | None = None) -> storage.Store:
        store = storage.open_store(url or db_url)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_db) -> storage.Store:
    return open_db()


@pytest.fixture
def raw(db_url):
    """A plain SQLAlchemy engine on the same database, to look under the store or to tamper with it."""
    engine = create_engine(storage.parse_url(db_url))
    yield engine
    engine.dispose()
