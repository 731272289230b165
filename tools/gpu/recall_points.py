"""Recall sweep points of several layouts, all trained side by side on one GPU, one JSON line per point.

    python3 tools/gpu/recall_points.py 'LAYOUT;LAYOUT;...' LR[,LR...] SHIFT[,SHIFT...] [budget_key=value ...]

The budget is `quick` with the overrides given (e.g. mqar_steps=5000, budget=standard picks another preset).
Each point is the product's own recall runner (`proxies.recall.train_recall`) at one (learning rate, token
shift), on the budget's data, every point at once (`proxies.side_by_side`, one CUDA stream each; cap them with
side_by_side=N); a line gives the held-out accuracy, the steps trained (fewer after an early stop at
`recall_target`), the held-out loss per scored position and the wall time of the point (overlapping the
others'). Add impl=recurrent to train every linear mixer through its step-by-step reference instead of its
chunked form (slower; it tells a kernel problem from a learning one).
"""
import json
import sys
import time
from dataclasses import replace

import torch

from proxies.budget import get_budget
from proxies.recall import prepare_recall, train_recall
from proxies.side_by_side import side_by_side
from search_space.layout import Layout

layouts = [t for t in sys.argv[1].split(";") if t.strip()]
lrs = [float(x) for x in sys.argv[2].split(",")]
shifts = [int(x) for x in sys.argv[3].split(",")]
over = dict(kv.split("=", 1) for kv in sys.argv[4:])
budget = get_budget(over.pop("budget", "quick"), over)
data = prepare_recall(budget, 0)
dev = torch.device("cuda")
points = [(layout, lr, w) for layout in layouts for w in shifts for lr in lrs]


def job(layout, lr, w):
    return lambda: train_recall(Layout.parse(layout), replace(budget, token_shift=w), data, dev, 0, lr)


t0 = time.time()
outcomes = side_by_side(dev, budget.side_by_side)([job(*p) for p in points])
for (layout, lr, w), o in zip(points, outcomes):
    row = {"layout": layout, "lr": lr, "shift": w}
    if o.error is None:
        row.update(acc=round(o.value.score, 4), loss=round(o.value.loss, 4), steps=o.value.steps,
                   early=o.value.stopped_early)
    else:
        row["error"] = str(o.error)[:200]
    row["wall_s"] = round(o.wall_time_s, 1)
    print(json.dumps(row), flush=True)
print(json.dumps({"points": len(points), "total_wall_s": round(time.time() - t0, 1)}), flush=True)
