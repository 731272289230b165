"""optuna-dashboard keeps working on our database: Optuna's tables share it with ours (hnas_*), and the
dashboard lists a search's study and its trials. Served on 127.0.0.1 at a free port, stopped by the test."""

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from tests.nas.test_fidelity import fake  # noqa: F401  (a fixture)

optuna_dashboard = pytest.importorskip("optuna_dashboard", reason="pip install optuna-dashboard (the test extra)")


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(cli, db, fake):  # noqa: F811
    r = cli("search", "--study", "dash", "--db", db, "--trials", 4, "--layers", 2, "--sampler", "grid",
            "--ratios", "pure,1:1", "--mixers", "gdn,gla")
    assert r.exit_code == 0, r.output
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(db), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _get(url):
    with urllib.request.urlopen(url, timeout=20) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_dashboard_lists_our_study_and_its_trials(served, db):
    studies = _get(f"{served}/api/studies")["study_summaries"]
    ours = [s for s in studies if s["study_name"] == "dash"]
    assert len(ours) == 1 and len(ours[0]["directions"]) == 3  # recall, perplexity, flops
    detail = _get(f"{served}/api/studies/{ours[0]['study_id']}?after=0")
    trials = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(trials) == 4 and all(len(t["values"]) == 3 for t in trials)
    layouts = {a["value"] for t in trials for a in t["user_attrs"] if a["key"] == "layout"}
    assert layouts == {"gdn*2", "gdn,attn", "gla*2", "gla,attn"}
    from storage import open_store

    assert len(open_store(db).evaluations("dash", status="complete")) == 4  # our tables beside Optuna's
