"""The whole search on each database backend: a SQLite file always, PostgreSQL when HNAS_TEST_POSTGRES_URL is set."""

import json
import os
import uuid

import optuna
import pytest

from storage import open_store
from tests.nas.conftest import TINY

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("HNAS_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=BACKENDS)
def url(request, empty_db):
    return empty_db(request.param)


def test_search_on_backend_and_cache_across_studies(cli, url):
    first, second = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    args = ["--db", url, "--layers", 2, "--sampler", "grid", "--ratios", "pure", "--mixers", "gdn", *TINY]
    assert cli("search", "--study", first, "--trials", 1, *args).exit_code == 0
    r = cli("search", "--study", second, "--trials", 1, *args)
    assert r.exit_code == 0, r.output
    assert "(cached)" in r.stderr
    store = open_store(url)
    a, b = store.evaluations(first, status="complete"), store.evaluations(second, status="complete")
    assert len(a) == len(b) == 1 and b[0].cached_from == a[0].id and b[0].recall == a[0].recall
    front = json.loads(cli("pareto", "--study", second, "--db", url, "--format", "json").stdout)
    assert [row["layout"] for row in front] == ["gdn*2"]
    assert len(optuna.load_study(study_name=second, storage=store.sqlalchemy_url).trials) == 1
