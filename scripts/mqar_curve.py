"""MQAR learning curve of one layout at a budget: held-out accuracy every N steps of one training run.

    python3 scripts/mqar_curve.py LAYOUT [--budget quick] [--set k=v ...] [--every 250] [--device cpu]
        [--threads 1] [--eval-examples 256]

The run is exactly the budget's MQAR training (same data, schedule and seed as `hybrid-nas evaluate`);
the curve is measured on the first --eval-examples held-out examples along the way, the last line on all.
"""
import argparse
import time

import torch

from nas.cliutil import parse_sets
from proxies.budget import get_budget
from proxies.evaluate import _chunks, _epochs, build_model, mqar_config
from proxies.tasks.mqar import make_mqar, make_mqar_heldout
from proxies.train import TrainConfig, eval_batches, train
from search_space import Layout

ap = argparse.ArgumentParser()
ap.add_argument("layout")
ap.add_argument("--budget", default="quick")
ap.add_argument("--set", action="append", default=[])
ap.add_argument("--every", type=int, default=250)
ap.add_argument("--device", default="cpu")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--eval-examples", type=int, default=256)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
torch.set_num_threads(args.threads)
budget = get_budget(args.budget, parse_sets(args.set))
device = torch.device(args.device)
layout = Layout.parse(args.layout)
cfg = mqar_config(budget)
train_x, train_y = make_mqar(cfg, budget.mqar_train_examples, args.seed)
test_x, test_y = make_mqar_heldout(cfg, budget.mqar_test_examples, args.seed)
model = build_model(layout, budget, cfg.vocab_size, args.seed).to(device)
tcfg = TrainConfig(steps=budget.mqar_steps, lr=budget.mqar_lr, weight_decay=budget.weight_decay,
                   warmup_frac=budget.warmup_frac, precision=budget.precision)
t0 = time.time()
print(f"{layout.canonical()} budget={budget.name} d={budget.d_model} vocab={cfg.vocab_size} T={cfg.seq_len} "
      f"pairs={cfg.num_kv_pairs} steps={tcfg.steps} lr={tcfg.lr} batch={budget.mqar_batch}", flush=True)


def on_step(step: int, loss: float) -> None:
    if (step + 1) % args.every:
        return
    sub = args.eval_examples
    _, count, correct = eval_batches(model, _chunks(test_x[:sub], test_y[:sub], 128), device, budget.precision)
    print(f"step {step + 1:6d}  loss {loss:.4f}  acc {correct / count:.3f}  {time.time() - t0:7.1f}s", flush=True)


train(model, _epochs(train_x, train_y, budget.mqar_batch, args.seed), tcfg, device, on_step)
nll, count, correct = eval_batches(model, _chunks(test_x, test_y, 128), device, budget.precision)
print(f"final  acc {correct / count:.4f}  loss {nll / count:.4f}  {time.time() - t0:.1f}s", flush=True)
