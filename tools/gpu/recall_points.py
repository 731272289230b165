"""Recall sweep points of several layouts at the `quick` budget, one JSON line per (layout, learning rate).

    python3 tools/gpu/recall_points.py 'LAYOUT;LAYOUT;...' LR[,LR...] [budget_key=value ...]

Each point is the product's own recall runner (`proxies.recall.train_recall`) on the budget's data, at the
budget's token shift (override it: token_shift=2), on CUDA; the line gives the held-out accuracy, the steps
trained (fewer after an early stop at `recall_target`) and the wall time.
"""
import json
import sys
import time

import torch

from proxies.budget import get_budget
from proxies.recall import prepare_recall, train_recall
from search_space.layout import Layout

layouts = sys.argv[1].split(";")
lrs = [float(x) for x in sys.argv[2].split(",")]
budget = get_budget("quick", dict(kv.split("=", 1) for kv in sys.argv[3:]))
data = prepare_recall(budget, 0)
for layout in layouts:
    for lr in lrs:
        t0 = time.time()
        try:
            r = train_recall(Layout.parse(layout), budget, data, torch.device("cuda"), 0, lr)
            row = {"layout": layout, "lr": lr, "acc": round(r.score, 4), "steps": r.steps, "early": r.stopped_early}
        except Exception as e:  # a diverged point is a line too
            row = {"layout": layout, "lr": lr, "error": str(e)[:200]}
        row["wall_s"] = round(time.time() - t0, 1)
        print(json.dumps(row), flush=True)
