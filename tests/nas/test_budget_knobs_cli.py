"""The newer budget knobs from the CLI: bad values exit 2 with one line and store nothing."""
import json

from storage import open_store
from tests.nas.conftest import TINY


def test_bad_token_shift_and_compile_flag_exit_2(cli, db):
    r = cli("evaluate", "gla,attn", "--budget", "smoke", "--set", "token_shift=1", "--db", db)
    assert r.exit_code == 2 and "token_shift" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("search", "--study", "s", "--budget", "smoke", "--trials", 1, "--set", "torch_compile=maybe", "--db", db)
    assert r.exit_code == 2 and "torch_compile" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert open_store(db).list_studies() == []


def test_token_shift_evaluation_counts_its_flops(cli, db):
    r = cli("evaluate", "gla,attn", "--budget", "smoke", "--set", "token_shift=3", *TINY, "--db", db,
            "--format", "json")
    assert r.exit_code == 0, r.output
    on = json.loads(r.stdout)
    r = cli("evaluate", "gla,attn", "--budget", "smoke", *TINY, "--db", db, "--format", "json")
    off = json.loads(r.stdout)
    assert on["flops"] - off["flops"] == 2 * 2 * 32 * 3  # two blocks of d_model 32, width 3
    assert on["params"] - off["params"] == 2 * 32 * 3


def test_budget_command_shows_the_sections(cli):
    from dataclasses import fields

    from proxies.budget import SECTIONS, Budget

    r = cli("budget", "smoke", "--set", "lm_steps=7")
    assert r.exit_code == 0, r.output
    for key in SECTIONS:
        assert f"[{key}]" in r.stdout
    assert all(f.name in r.stdout for f in fields(Budget))
    assert any(line.split()[:2] == ["lm_steps", "7"] for line in r.stdout.splitlines())
    data = json.loads(cli("budget", "quick", "--format", "json").stdout)
    assert [s["section"] for s in data] == list(SECTIONS)
    for bad in (("budget", "nope"), ("budget", "smoke", "--set", "lm_batch=0"), ("budget", "--format", "xml")):
        r = cli(*bad)
        assert r.exit_code == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1, r.output
