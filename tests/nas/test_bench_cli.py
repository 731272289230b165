import json

import pytest
import torch


def test_bench_proxy_on_cpu(cli):
    r = cli("bench", "proxy", "--device", "cpu", "--budget", "smoke", "--steps", 1, "--layouts", "attn*2;gdn,attn",
            "--set", "lm_batch=2", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["layout"] for row in rows] == ["attn*2", "gdn,attn"]
    assert all(row["tokens_per_s"] > 0 and row["mfu"] is None for row in rows)
    table = cli("bench", "proxy", "--device", "cpu", "--budget", "smoke", "--steps", 1, "--layouts", "attn",
                "--set", "lm_batch=2").stdout
    assert "tokens/s" in table


def test_bench_bad_input(cli):
    r = cli("bench", "proxy", "--device", "cpu", "--layouts", "attn*2;nope")
    assert r.exit_code == 2 and "unknown mixer 'nope'" in r.stderr
    r = cli("bench", "kernels", "--shapes", "1,2,3")
    assert r.exit_code == 2 and "B,T,H,D" in r.stderr
    if not torch.cuda.is_available():
        r = cli("bench", "kernels")
        assert r.exit_code == 2 and "no CUDA device" in r.stderr


def test_bench_proxy_rows_carry_the_engine_columns(cli):
    r = cli("bench", "proxy", "--device", "cpu", "--budget", "smoke", "--steps", 1, "--layouts", "attn",
            "--task", "mqar", "--engine", "eager", "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["graph"] is False and row["task"] == "mqar" and row["workers"] == 1
    assert row["batch"] == 32 and row["seq_len"] == 24  # the smoke MQAR shapes
    assert row["ms_per_step"] > 0 and row["gpu_busy_ms"] is None and row["launches_per_step"] is None


def test_bench_proxy_and_recall_bad_input(cli):
    for args, msg in ((("--task", "vision"), "unknown task 'vision'"), (("--engine", "jit"), "unknown engine"),
                      (("--engine", "graph"), "needs a CUDA device")):
        r = cli("bench", "proxy", "--device", "cpu", *args)
        assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    for args, msg in ((("--mixers", "attn,nope"), "unknown mixer 'nope'"), (("--settings", "64x40"), "seq >= 4"),
                      (("--settings", "big"), "SEQxPAIRS"), (("--lrs", "0,1e-3"), "positive"),
                      (("--widths", "100"), "multiples of the head size"), (("--shifts", "1"), "at least 2"),
                      (("--shifts", "a"), "integers"), (("--set", "short_conv=maybe"), "short_conv"),
                      (("--set", "nope=1"), "unknown budget field"), (("--set", "mqar_batch=8"), "use --batch"),
                      (("--set", "mqar_vocab=64"), "fixed")):
        r = cli("bench", "recall", "--device", "cpu", *args)
        assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bench_recall_reports_each_case_beside_zoology(cli):
    r = cli("bench", "recall", "--device", "cpu", "--mixers", "attn,gla", "--settings", "32x4", "--widths", "64",
            "--lrs", "1e-3,3e-3", "--steps", 4, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["mixer"], x["seq_len"], x["kv_pairs"], x["d_model"]) for x in rows] == [("attn", 32, 4, 64),
                                                                                      ("gla", 32, 4, 64)]
    for x in rows:
        assert 0 <= x["accuracy"] <= 1 and x["lr"] in (1e-3, 3e-3) and len(x["sweep"]) == 2
        assert (x["zoology_low"], x["zoology_high"]) == ((0.99, 1.0) if x["mixer"] == "attn" else (0.5, 0.95))
        assert x["verdict"] in ("below", "inside", "above")
    table = cli("bench", "recall", "--device", "cpu", "--mixers", "hgrn", "--settings", "32x4", "--widths", "64",
                "--lrs", "1e-3", "--steps", 2).stdout
    assert "zoology" in table and "hgrn" in table
    r = cli("bench", "recall", "--device", "cpu", "--mixers", "attn", "--settings", "32x4", "--widths", "64",
            "--lrs", "1e-3", "--shifts", "0,2", "--steps", 2, "--json")
    (row,) = json.loads(r.stdout)
    assert [(p["lr"], p["token_shift"]) for p in row["sweep"]] == [(1e-3, 0), (1e-3, 2)]
    assert row["token_shift"] in (0, 2)
    assert row["batch"] == 64 and row["short_conv"] is True  # the budgets' defaults
    assert row["mamba2_norm"] is False and row["hgrn2_norm"] is False


def test_bench_recall_takes_budget_knobs_and_the_batch(cli):
    args = ("bench", "recall", "--device", "cpu", "--mixers", "gla", "--settings", "32x4", "--widths", "64",
            "--lrs", "1e-3", "--steps", 2, "--json")
    plain = json.loads(cli(*args).stdout)[0]
    r = cli(*args, "--set", "short_conv=false", "--batch", 8)
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["short_conv"] is False and row["batch"] == 8
    assert row["sweep"][0]["score"] != plain["sweep"][0]["score"] or row["sweep"][0]["loss"] != plain["sweep"][0]["loss"]


def test_bench_recall_points_side_by_side_give_the_rows_of_one_at_a_time(cli):
    args = ("bench", "recall", "--device", "cpu", "--mixers", "attn,gla", "--settings", "32x4", "--widths", "64",
            "--lrs", "1e-3,3e-3", "--steps", 4, "--json")
    one = cli(*args, "--workers", 1)
    many = cli(*args, "--workers", 4)
    assert one.exit_code == many.exit_code == 0, many.output
    strip = lambda rows: [{k: v for k, v in r.items() if k != "sweep"} | {"points": [(p["lr"], p["score"])  # noqa: E731
                          for p in r["sweep"]]} for r in rows]
    assert strip(json.loads(many.stdout)) == strip(json.loads(one.stdout))
    assert many.stderr.count("attn 32x4 d64") == 1 and many.stderr.count("gla 32x4 d64") == 1  # a line per case


def test_bench_proxy_streams_trains_side_by_side_and_refuses_two_ways_at_once(cli):
    r = cli("bench", "proxy", "--device", "cpu", "--budget", "smoke", "--steps", 2, "--layouts", "attn",
            "--task", "mqar", "--engine", "eager", "--streams", 2, "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["workers"] == 2 and row["side_by_side"] == "streams" and row["ms_per_step"] > 0
    assert row["tokens_per_s"] == pytest.approx(2 * 32 * 24 / (row["ms_per_step"] / 1e3))
    r = cli("bench", "proxy", "--device", "cpu", "--workers", 2, "--streams", 2)
    assert r.exit_code == 2 and "give one of them" in r.stderr


def test_bench_proxy_stack_trains_copies_as_one_stacked_model(cli):
    r = cli("bench", "proxy", "--device", "cpu", "--budget", "smoke", "--steps", 2, "--layouts", "gla,attn",
            "--task", "mqar", "--engine", "eager", "--stack", 3, "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["workers"] == 3 and row["side_by_side"] == "stacked" and row["ms_per_step"] > 0
    assert row["tokens_per_s"] == pytest.approx(3 * 32 * 24 / (row["ms_per_step"] / 1e3))
    r = cli("bench", "proxy", "--device", "cpu", "--stack", 2, "--streams", 2)
    assert r.exit_code == 2 and "give one of them" in r.stderr
