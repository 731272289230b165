"""Fixtures every test package may use: empty databases on each backend.

PostgreSQL runs only when HNAS_TEST_POSTGRES_URL is set (start one with `eval "$(bash scripts/postgres.sh)"`).
That server outlives a test run, so no test may use its database directly: each one gets a fresh schema
(selected through the URL's `options=-csearch_path=...`) that is dropped after the test.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

import storage

POSTGRES_ENV = "HNAS_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def _postgres_admin():
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        yield None
        return
    engine = create_engine(storage.parse_url(url), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def empty_db(tmp_path, _postgres_admin):
    """empty_db("sqlite" | "postgresql") -> the URL of an empty database, removed after the test."""
    schemas: list[str] = []

    def _make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'hnas-{uuid.uuid4().hex[:8]}.db'}"
        if _postgres_admin is None:
            pytest.skip(f"set {POSTGRES_ENV} to run on PostgreSQL (see scripts/postgres.sh)")
        schema = f"hnas_test_{uuid.uuid4().hex[:12]}"
        with _postgres_admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        url = _postgres_admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield _make
    for schema in schemas:
        with _postgres_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
