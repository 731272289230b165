"""Recall sweep points of several layouts, all trained side by side on one GPU, one JSON line per point.

    python3 tools/gpu/recall_points.py 'LAYOUT;LAYOUT;...' LR[,LR...] SHIFT[,SHIFT...] [budget_key=value ...]
    python3 tools/gpu/recall_points.py --points FILE [budget_key=value ...]

The budget is `quick` with the overrides given (e.g. mqar_steps=5000, budget=standard picks another preset).
Each point is the product's own recall runner (`proxies.recall.train_recall`) at one (learning rate, token
shift), on the budget's data, every point at once (`proxies.side_by_side`, one CUDA stream each; cap them with
side_by_side=N); a line gives the held-out accuracy, the steps trained (fewer after an early stop at
`recall_target`), the held-out loss per scored position, the training loss at every tenth of the steps
(`curve`) and the wall time of the point (overlapping the others'). Add impl=recurrent to train every linear
mixer through its step-by-step reference instead of its chunked form (slower; it tells a kernel problem from a
learning one).

With --points, FILE has one point per line, `LAYOUT LR SHIFT [key=value ...]`, its own budget overrides on top
of the command line's, and `patch=NAME[+NAME]` for a model change from `tools/gpu/recall_patches.py` (a
diagnostic: one knob at a time, e.g. a short convolution in every gla layer); `#` starts a comment.
"""
import json
import os
import sys
import threading
import time
from dataclasses import replace

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxies.recall as recall  # noqa: E402
import recall_patches  # noqa: E402
from proxies.budget import get_budget  # noqa: E402
from proxies.side_by_side import side_by_side  # noqa: E402
from search_space.layout import Layout  # noqa: E402

_DATA_KNOBS = ("recall_suite", "recall_ladder", "recall_tasks", "recall_noise", "recall_target", "mqar_vocab",
               "mqar_seq_len", "mqar_kv_pairs", "mqar_train_examples", "mqar_test_examples", "mqar_batch",
               "mqar_steps", "recall_steps")


def parse(argv):
    """[(layout, lr, shift, overrides)] (a point's overrides on top of the command line's) and the command
    line's overrides."""
    pairs = lambda words: dict(kv.split("=", 1) for kv in words)  # noqa: E731
    if argv[0] == "--points":
        common = pairs(argv[2:])
        points = []
        for line in open(argv[1]):
            words = line.split("#", 1)[0].split()
            if words:
                points.append((words[0], float(words[1]), int(words[2]), {**common, **pairs(words[3:])}))
        return points, common
    common = pairs(argv[3:])
    return [(layout, float(lr), int(w), dict(common)) for layout in argv[0].split(";") if layout.strip()
            for w in argv[2].split(",") for lr in argv[1].split(",")], common


points, common = parse(sys.argv[1:])
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
_patch = threading.local()
_build = recall.build_model


def _patched_build(*args, **kwargs):
    return recall_patches.apply(_build(*args, **kwargs), getattr(_patch, "spec", ""))


recall.build_model = _patched_build
data_cache: dict = {}
jobs, rows = [], []
for layout, lr, w, over in points:
    over = dict(over)
    patch = over.pop("patch", "")
    budget = get_budget(over.pop("budget", "quick"), over)
    key = tuple(getattr(budget, k) for k in _DATA_KNOBS)
    if key not in data_cache:
        data_cache[key] = recall.prepare_recall(budget, 0)
    data = data_cache[key]
    curve: dict[int, float] = {}
    row = {"layout": layout, "lr": lr, "shift": w, **over, **({"patch": patch} if patch else {})}
    rows.append((row, curve, data.steps))

    def job(layout=layout, budget=replace(budget, token_shift=w), data=data, lr=lr, patch=patch, curve=curve):
        _patch.spec = patch
        return recall.train_recall(Layout.parse(layout), budget, data, dev, 0, lr,
                                   progress=lambda phase, step, loss: curve.__setitem__(step, loss))

    jobs.append(job)

t0 = time.time()
common = {k: v for k, v in common.items() if k != "patch"}
outcomes = side_by_side(dev, get_budget(common.pop("budget", "quick"), common).side_by_side)(jobs)
for (row, curve, steps), o in zip(rows, outcomes):
    if o.error is None:
        row.update(acc=round(o.value.score, 4), loss=round(o.value.loss, 4), steps=o.value.steps,
                   early=o.value.stopped_early)
    else:
        row["error"] = str(o.error)[:200]
    marks = sorted(curve)
    tenth = [min(marks, key=lambda s: abs(s - steps * i / 10)) for i in range(1, 11)] if marks else []
    row["curve"] = [round(curve[s], 2) for s in dict.fromkeys(tenth)]
    row["wall_s"] = round(o.wall_time_s, 1)
    print(json.dumps(row), flush=True)
print(json.dumps({"points": len(points), "total_wall_s": round(time.time() - t0, 1)}), flush=True)
