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
