"""Opening a store: URL checks, the schema version, the default location, sharing with Optuna."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import storage
from storage import SCHEMA_VERSION, SchemaVersionError, StorageError, open_store
from tests.storage.helpers import make_study, start

REPO = Path(__file__).resolve().parents[2]
TABLES = {"hnas_meta", "hnas_studies", "hnas_candidates", "hnas_evaluations", "hnas_pareto"}


@pytest.mark.parametrize(
    "url, expected",
    [
        ("foo://x", "unsupported database 'foo'"),
        ("sqlite:////nonexistent/dir/x.db", "directory /nonexistent/dir does not exist"),
        ("postgresql://127.0.0.1:1/x", "Connection refused"),
        ("not a url", "cannot parse database URL"),
        ("postgresql://u@h:port/db", "cannot parse database URL"),
        ("mysql://u@localhost/db", "unsupported database 'mysql'"),
        ("sqlite+nodriver:///x.db", "unknown driver 'nodriver'"),
        ("postgresql+asyncpg://u@localhost/db", "asynchronous"),
        ("postgresql://u@localhost", "names no database"),
        ("", "non-empty string"),
    ],
)
def test_bad_urls_raise_one_clear_line(url, expected):
    with pytest.raises(StorageError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "\n" not in message and expected in message
    assert "sqlite:///" in message or "pip install" in message  # says what is valid


def test_missing_driver_says_what_to_install():
    pytest.importorskip("sqlalchemy.dialects.postgresql.pg8000")
    try:
        import pg8000  # noqa: F401
    except ImportError:
        with pytest.raises(StorageError, match="pip install pg8000"):
            open_store("postgresql+pg8000://u@localhost/db")
    else:
        pytest.skip("pg8000 is installed")


def test_a_file_that_is_not_a_database(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 1000)
    with pytest.raises(StorageError, match="file is not a database"):
        open_store(f"sqlite:///{junk}")
    assert junk.read_bytes() == b"not sqlite" * 1000
    with pytest.raises(StorageError, match="is a directory"):
        open_store(f"sqlite:///{tmp_path}")


def test_passwords_are_hidden_in_messages():
    with pytest.raises(StorageError) as caught:
        open_store("postgresql://user:hunter2@127.0.0.1:1/x")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_default_url_is_hybrid_nas_db_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store()
    try:
        assert store.url == storage.DEFAULT_URL == "sqlite:///hybrid_nas.db"
        make_study(store)
    finally:
        store.close()
    assert (tmp_path / "hybrid_nas.db").is_file()
    with open_store(tmp_path / "hybrid_nas.db") as again:  # a path means a SQLite file
        assert again.get_study("demo").name == "demo"


def test_sqlite_is_set_up_for_several_processes(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store._engine.connect() as conn:  # noqa: SLF001 - looking under the hood on purpose
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_tables_and_version_row(store, raw):
    names = set(inspect(raw).get_table_names())
    assert TABLES <= names and all(n.startswith("hnas_") for n in names)
    with raw.connect() as conn:
        assert conn.execute(text("SELECT id, schema_version FROM hnas_meta")).all() == [(1, SCHEMA_VERSION)]


def test_a_newer_schema_is_refused_and_left_alone(open_db, raw, db_url):
    store = open_db()
    make_study(store)
    start(store)
    store.close()
    with raw.begin() as conn:
        conn.execute(text("UPDATE hnas_meta SET schema_version = :v"), {"v": SCHEMA_VERSION + 1})
        conn.execute(text("DROP TABLE hnas_pareto"))  # what a newer version might have done
    with pytest.raises(SchemaVersionError) as caught:
        open_store(db_url)
    message = str(caught.value)
    assert "\n" not in message and f"version {SCHEMA_VERSION + 1}" in message and "upgrade hybrid-nas" in message
    assert isinstance(caught.value, StorageError)
    with raw.connect() as conn:  # nothing was changed: no table re-created, the version row kept
        assert "hnas_pareto" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT schema_version FROM hnas_meta")).scalar() == SCHEMA_VERSION + 1
        assert conn.execute(text("SELECT COUNT(*) FROM hnas_evaluations")).scalar() == 1


def test_optuna_tables_share_the_database(store, open_db):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    make_study(store)
    study = optuna.create_study(study_name="demo", storage=store.sqlalchemy_url, directions=["maximize", "minimize"])
    study.optimize(lambda trial: (trial.suggest_float("x", 0, 1), 1.0), n_trials=2)
    assert len(optuna.load_study(study_name="demo", storage=store.sqlalchemy_url).trials) == 2
    again = open_db()  # our tables open fine next to Optuna's
    assert again.get_study("demo").optuna_study_name == "demo"


def test_a_store_pickles_as_its_url(store):
    import pickle

    make_study(store)
    clone = pickle.loads(pickle.dumps(store))
    try:
        assert clone.get_study("demo") == store.get_study("demo")
    finally:
        clone.close()


def test_importing_storage_imports_nothing_else_of_ours_and_no_torch():
    code = (
        "import sys, storage, storage.db, storage.store, storage.schema; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'nas', 'proxies', 'search_space', 'kernels', 'triton'}); "
        "assert not bad, bad"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path in (REPO / "storage").glob("*.py"):
        source = path.read_text()
        for package in ("nas", "proxies", "search_space", "kernels", "torch"):
            assert f"import {package}" not in source and f"from {package}" not in source, (path, package)
