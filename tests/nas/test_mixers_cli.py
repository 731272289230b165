"""`hybrid-nas mixers`: the table, the JSON, and one-line errors."""

import json

from typer.testing import CliRunner

from nas.cli import app
from search_space.names import ALL_MIXERS

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["mixers", *map(str, args)], catch_exceptions=False)


def test_table_lists_every_mixer_with_paper_and_formulas():
    r = _run()
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "d_model=256" in lines[0] and "L=4096" in lines[0]
    for name in ALL_MIXERS:
        row = next(line for line in lines if line.split() and line.split()[0] == name)
        assert row.split()[1].isdigit()  # parameters
    assert "4194304" in r.stdout  # attn's KV cache at L=4096, d=256, 2 bytes
    assert r.stdout.count("arXiv") >= len(ALL_MIXERS)
    assert "KV window: 2 min(L, W) d" in r.stdout


def test_json_has_numbers_at_the_given_width():
    d, L = 128, 1024
    r = _run("--d-model", d, "--n-heads", 2, "--context", L, "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["d_model"], out["n_heads"], out["context"]) == (d, 2, L)
    rows = {m["mixer"]: m for m in out["mixers"]}
    assert list(rows) == list(ALL_MIXERS)
    attn = rows["attn"]
    assert attn["params"] == 4 * d * d
    assert attn["flops_per_token"] == 8 * d * d + 2 * d * (L + 1)
    assert attn["state_bytes"] == 2 * L * d * 2
    for m in rows.values():
        assert "arXiv" in m["paper"] and m["flops_formula"] and m["state_formula"]
        assert m["params"] > 0 and m["flops_per_token"] > 0 and m["state_bytes"] > 0
    assert rows["hgrn"]["state_bytes"] == (d + 2 * 3 * d) * 2  # its state and its two convolutions' last 3 inputs
    assert out["architecture"] == {"short_conv": True, "mamba2_norm": False, "hgrn2_norm": False,
                                   "retnet_decays": "spread"}


def test_by_default_the_mixers_as_the_proxies_build_them_and_with_reference_as_their_papers():
    """The default rows are the costs a search stores (the budgets' architecture); --reference the papers' forms."""
    from proxies.budget import get_budget
    from proxies.build import build_model
    from search_space.layout import Layout

    d, L = 64, 512
    proxy = {m["mixer"]: m for m in json.loads(_run("--d-model", d, "--n-heads", 2, "--context", L, "--window",
                                                     64, "--format", "json").stdout)["mixers"]}
    r = _run("--d-model", d, "--n-heads", 2, "--context", L, "--window", 64, "--format", "json", "--reference")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["architecture"] == {"short_conv": False, "mamba2_norm": True, "hgrn2_norm": True,
                                   "retnet_decays": "paper"}
    paper = {m["mixer"]: m for m in out["mixers"]}
    assert paper["hgrn"]["state_bytes"] == d * 2
    budget = get_budget("quick", {"d_model": d, "n_heads": 2, "window": 64})
    for name in ALL_MIXERS:
        mixer = build_model(Layout.parse(name), budget, 16, 0).blocks[0].mixer
        assert (proxy[name]["params"], proxy[name]["flops_per_token"]) == (mixer.num_params(),
                                                                           mixer.flops_per_token(L))
    for name in ("gla", "retnet", "hgrn2", "hgrn"):
        assert proxy[name]["flops_per_token"] > paper[name]["flops_per_token"]
    assert proxy["mamba2"]["params"] < paper["mamba2"]["params"]  # no norm gain
    assert proxy["gdn"] == paper["gdn"] and proxy["attn"] == paper["attn"]
    table = _run("--d-model", d, "--n-heads", 2).stdout
    assert "short convolutions" in table and "as its reference" in _run("--reference").stdout


def test_match_width_sizes_every_mixer_to_attention():
    r = _run("--match-width", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["mixers"]
    assert all(abs(m["params"] / (4 * 256 * 256) - 1) < 0.03 for m in rows)


def test_bad_input_exits_2_with_one_line():
    for args in (("--format", "csv"), ("--d-model", 30, "--n-heads", 4), ("--context", 0)):
        r = _run(*args)
        assert r.exit_code == 2, args
        assert r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
    assert "table, json" in _run("--format", "csv").stderr
