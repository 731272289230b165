import json

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
