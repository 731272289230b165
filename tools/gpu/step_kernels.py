"""Where a training step's GPU time goes: the CUDA kernels of one layout's step, by total device time.

    python3 tools/gpu/step_kernels.py 'LAYOUT;LAYOUT;...' [--task mqar|lm] [--steps N] [--top K] [--stack K]
                                      [key=value ...]

Each layout is built at the `quick` budget (or `budget=NAME`, with any budget overrides) and trained for a few
warm-up steps, then N steps (default 5) under the profiler with the eager engine, so every kernel keeps its own
name (a replayed CUDA graph hides them). One JSON line per layout: the GPU-busy ms per step, the number of
kernels per step, and the top K kernels (name, calls per step, ms per step, share of the busy time), and on any
device the top-level ATen ops dispatched per step (what a GPU launches kernels for, roughly; on a CPU the only
number). `--stack K` profiles K copies trained as one stacked model (`proxies.stacked`, `stack_sweep`) instead of
one. The product's `hybrid-nas bench proxy` gives the wall-against-busy picture; this says which kernels make up
the busy part.
"""
import json
import os
import sys
from collections import defaultdict
from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from proxies.bench import _Run, _StackedRun  # noqa: E402
from proxies.budget import get_budget  # noqa: E402
from search_space.layout import Layout  # noqa: E402


def main(argv: list[str]) -> None:
    opts = {"--task": "mqar", "--steps": "5", "--top": "15", "--stack": "1"}
    over: dict[str, str] = {}
    layouts = argv[0]
    rest = argv[1:]
    while rest:
        a = rest.pop(0)
        if a in opts:
            opts[a] = rest.pop(0)
        else:
            k, v = a.split("=", 1)
            over[k] = v
    budget = get_budget(over.pop("budget", "quick"), over)
    budget = replace(budget, graph="off")
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps, top, stack = int(opts["--steps"]), int(opts["--top"]), int(opts["--stack"])
    for text in (t.strip() for t in layouts.split(";")):
        if not text:
            continue
        if stack > 1:
            run = _StackedRun(Layout.parse(text), budget, dev, 3 + steps + 2, opts["--task"], stack)
        else:
            run = _Run(Layout.parse(text), budget, dev, 3 + steps + 2, opts["--task"])
        run.run(3)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            run.run(steps)
        per_name: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        intervals = []
        aten = 0
        for e in prof.events():
            if e.name.startswith("aten::") and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")):
                aten += 1
            if e.device_type == torch.autograd.DeviceType.CUDA:
                intervals.append((e.time_range.start, e.time_range.end))
                entry = per_name[e.name]
                entry[0] += 1
                entry[1] += e.time_range.end - e.time_range.start
        busy, end = 0.0, float("-inf")
        for a, b in sorted(intervals):
            if b > end:
                busy += b - max(a, end)
                end = b
        ranked = sorted(per_name.items(), key=lambda kv: -kv[1][1])[:top]
        print(json.dumps({
            "layout": text, "task": opts["--task"], "device": str(dev), "stack": stack,
            "aten_ops_per_step": round(aten / steps, 1),
            "gpu_busy_ms": round(busy / 1e3 / steps, 3), "kernels_per_step": round(len(intervals) / steps, 1),
            "top": [{"kernel": name[:120], "calls": round(n / steps, 1), "ms": round(us / 1e3 / steps, 3),
                     "share": round(us / max(busy, 1e-9), 3)} for name, (n, us) in ranked],
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
