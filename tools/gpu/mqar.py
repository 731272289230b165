"""MQAR only, on the GPU, at the quick budget: each argument 'LAYOUT|k=v,k=v' trains in its own process (sharing
the GPU) and prints held-out accuracy, loss and seconds.

    python3 tools/gpu/mqar.py 'attn*12|mqar_vocab=256,mqar_seq_len=128' ...      (from the repository root)
"""
import json
import subprocess
import sys
import time


def one(spec: str) -> dict:
    import torch

    from proxies.budget import get_budget
    from proxies.evaluate import run_mqar
    from search_space import Layout

    layout, _, sets = spec.partition("|")
    overrides = dict(kv.split("=") for kv in sets.split(",") if kv)
    b = get_budget("quick", overrides)
    t = time.perf_counter()
    acc, loss = run_mqar(Layout.parse(layout), b, torch.device("cuda"), 0)
    return {"spec": spec, "recall": acc, "loss": loss, "wall_s": time.perf_counter() - t}


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])), flush=True)
        sys.exit(0)
    procs = [subprocess.Popen([sys.executable, __file__, "--one", s], stdout=subprocess.PIPE, text=True) for s in sys.argv[1:]]
    print(f"{'spec':70s} {'recall':>7s} {'loss':>7s} {'wall s':>7s}")
    for p in procs:
        out, _ = p.communicate()
        try:
            d = json.loads(out.strip().splitlines()[-1])
            print(f"{d['spec']:70s} {d['recall']:7.3f} {d['loss']:7.3f} {d['wall_s']:7.1f}", flush=True)
        except Exception:
            print("FAILED", p.args[-1], out[-300:])
