"""`hybrid-nas submit` and `hybrid-nas jobs` against a real Ray head started here (127.0.0.1, 2 CPUs).

The head runs as `ray start --head --block` in its own session with its own temp dir and ports, and a marker
in its environment: the test stops exactly it (SIGTERM to the blocking process, then SIGKILL by pid for any
marked process left), never `ray stop`, which would stop every Ray on the machine.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from storage import open_store
from tests.nas.conftest import TINY
from tests.nas.test_ray_search import MARK, ROOT, marked_pids, reap


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(autouse=True)
def no_auth(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head with its job server on 127.0.0.1 (one for this module); yields the job server's address."""
    tmp_path = tmp_path_factory.mktemp("head")
    mark = uuid.uuid4().hex
    temp = tempfile.mkdtemp(prefix="hh", dir="/tmp")
    gcs, dash, agent_listen, agent_grpc, runtime_env, metrics, node_mgr, obj_mgr, client = free_ports(9)
    env = {**os.environ, MARK: mark, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "HYBRID_NAS_TUNE_DIR": str(tmp_path / "tune"), "PYTHONPATH": str(ROOT)}
    for k in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        env.pop(k, None)
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` command of this Python
    cmd = [*ray_cli, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
           "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--include-dashboard", "true",
           "--dashboard-agent-listen-port", str(agent_listen), "--dashboard-agent-grpc-port", str(agent_grpc),
           "--runtime-env-agent-port", str(runtime_env), "--metrics-export-port", str(metrics),
           "--node-manager-port", str(node_mgr), "--object-manager-port", str(obj_mgr),
           "--ray-client-server-port", str(client), "--num-cpus", "2", "--num-gpus", "0",
           "--object-store-memory", str(200 * 2**20), "--temp-dir", temp, "--disable-usage-stats"]
    log = open(tmp_path / "head.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        from ray.job_submission import JobSubmissionClient

        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "head.log").read_text()
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield address, f"127.0.0.1:{gcs}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes of its own node
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        left = reap(mark, grace_s=20)
        log.close()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
        assert not marked_pids(mark)
        assert not left, f"the head left processes behind: {left}"


def test_submit_a_search_to_a_head_and_read_the_front(cli, tmp_path, head):
    head, _ = head
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    r = cli("submit", "--address", head, "--wait", "--timeout", 300, "--study", "j", "--db", db, "--trials", 3,
            "--sampler", "random", "--max-concurrent", 2, "--layers", 2, "--ratios", "pure,1:1", *TINY)
    assert r.exit_code == 0, r.output
    job_id = r.stdout.splitlines()[0].strip()
    assert job_id.startswith("raysubmit_"), r.stdout
    assert "Pareto front" in r.stdout  # the job's logs
    assert f"job {job_id}: SUCCEEDED" in r.stderr
    # the front, read back from the database the job wrote
    front = json.loads(cli("pareto", "--study", "j", "--db", db, "--format", "json").stdout)
    assert front and all(row["layout"] for row in front)
    # the jobs commands
    assert cli("jobs", "status", job_id, "--address", head).stdout.strip() == "SUCCEEDED"
    listing = cli("jobs", "list", "--address", head).stdout
    assert job_id in listing and "nas.cli search --ray" in listing
    assert "Pareto front" in cli("jobs", "logs", job_id, "--address", head).stdout
    r = cli("jobs", "stop", job_id, "--address", head)
    assert r.exit_code == 0 and "already ended" in r.stdout
    r = cli("jobs", "status", "raysubmit_nope", "--address", head)
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_submit_without_waiting_prints_the_id_then_stop(cli, tmp_path, head):
    """`jobs stop` while a trial trains: the driver takes SIGTERM as Ctrl-C and leaves the database consistent."""
    head, _ = head
    db = f"sqlite:///{tmp_path / 'stop.db'}"
    r = cli("submit", "--address", head, "--study", "st", "--db", db, "--trials", 50, "--sampler", "random",
            "--layers", 2, "--set", "mqar_steps=400", "--set", "lm_steps=4", "--set", "flops_context=64")
    assert r.exit_code == 0, r.output
    job_id = r.stdout.strip()
    assert "hybrid-nas jobs logs" in r.stderr
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for a trial to be training
        try:
            if open_store(db).evaluations("st", status="running"):
                break
        except Exception:
            pass
        time.sleep(0.2)
    else:
        pytest.fail("no trial started: " + cli("jobs", "logs", job_id, "--address", head).stdout[-2000:])
    assert cli("jobs", "stop", job_id, "--address", head).exit_code == 0
    while time.time() < deadline:
        state = cli("jobs", "status", job_id, "--address", head).stdout.strip()
        if state in ("STOPPED", "FAILED", "SUCCEEDED"):
            break
        time.sleep(0.5)
    assert state == "STOPPED"
    store = open_store(db)
    assert not store.evaluations("st", status="running")
    assert [e.error for e in store.evaluations("st", status="failed")] == ["interrupted"]
    logs = cli("jobs", "logs", job_id, "--address", head).stdout
    assert "interrupted: everything finished so far is stored" in logs, logs[-2000:]


def test_search_joins_a_running_cluster_with_address(cli, tmp_path, head, monkeypatch):
    _, gcs = head
    monkeypatch.setenv("HYBRID_NAS_TUNE_DIR", str(tmp_path / "tune"))
    db = f"sqlite:///{tmp_path / 'joined.db'}"
    r = cli("search", "--ray", "--address", gcs, "--study", "a", "--db", db, "--trials", 2, "--sampler", "tune-grid",
            "--max-concurrent", 2, "--layers", 2, "--ratios", "pure,1:1", *TINY)
    assert r.exit_code == 0, r.output
    import ray

    assert not ray.is_initialized()  # disconnected; the head (stopped by its fixture) runs on
    rows = [e for e in open_store(db).evaluations("a") if e.status == "complete"]
    assert len(rows) == 2


def test_submit_checks_the_search_options_before_submitting(cli, db):
    r = cli("submit", "--address", "http://127.0.0.1:9", "--stduy", "x")
    assert r.exit_code == 2 and "No such option: --stduy" in r.stderr, r.output
    r = cli("submit", "--address", "http://127.0.0.1:9", "--study", "x", "--db", db)
    assert r.exit_code == 2 and "cannot reach the Ray job server at http://127.0.0.1:9" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("jobs", "list", "--address", "http://127.0.0.1:9")
    assert r.exit_code == 2 and "cannot reach" in r.stderr


def test_submit_without_the_cluster_extra_says_how_to_get_it(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)  # as if ray[default] were not installed
    r = cli("submit", "--address", "http://127.0.0.1:9", "--study", "x")
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and "hybrid-nas[cluster]" in line


def test_search_args_make_the_database_absolute(tmp_path, monkeypatch):
    from nas.commands.cluster import search_args

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYBRID_NAS_DB", raising=False)
    assert search_args(["--study", "a"]) == ["--ray", "--study", "a", "--db", f"sqlite:///{tmp_path}/hybrid_nas.db"]
    out = search_args(["--ray", "--db=sqlite:///rel.db", "--trials", "3"])
    assert out == ["--ray", "--trials", "3", "--db", f"sqlite:///{tmp_path}/rel.db"]
    pg = "postgresql://u:secret@db:5432/h"
    assert search_args(["--db", pg])[-1] == pg
