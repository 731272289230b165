"""Backends every storage test runs against: a SQLite file always, PostgreSQL when
HNAS_TEST_POSTGRES_URL is set (start one with `eval "$(bash scripts/postgres.sh)"`).

Each test gets an empty database: a fresh SQLite file under tmp_path, or a fresh PostgreSQL schema
(selected through the URL's `options=-csearch_path=...`) that is dropped after the test.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

import storage

POSTGRES_ENV = "HNAS_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def _postgres_admin():
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        yield None
        return
    engine = create_engine(storage.parse_url(url), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, _postgres_admin) -> str:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hnas.db'}"
        return
    if _postgres_admin is None:
        pytest.skip(f"set {POSTGRES_ENV} to run on PostgreSQL (see scripts/postgres.sh)")
    schema = f"hnas_test_{uuid.uuid4().hex[:12]}"
    with _postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _postgres_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


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
