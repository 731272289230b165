"""MQAR learning curve of one layout at one recipe: held-out accuracy every N steps of one training run.

    python3 scripts/mqar_curve.py LAYOUT [--budget quick] [--set k=v ...] [--lr 1e-3] [--token-shift 0]
        [--every 250] [--device cpu] [--threads 1] [--eval-examples 256]

The run is one point of the budget's recall sweep (same data, schedule and seed as `hybrid-nas evaluate`;
--lr and --token-shift pick the point, default the budget's mqar_lr and token_shift), trained to the end (no
early stop); the curve is measured on the first --eval-examples held-out examples, the last line on all.
"""
import argparse
import time
from dataclasses import replace

import torch

from nas.cliutil import parse_sets
from proxies.budget import get_budget
from proxies.build import build_model
from proxies.feeds import TableFeed
from proxies.recall import prepare_recall
from proxies.train import TrainConfig, chunks, eval_batches, train
from search_space import Layout

ap = argparse.ArgumentParser()
ap.add_argument("layout")
ap.add_argument("--budget", default="quick")
ap.add_argument("--set", action="append", default=[])
ap.add_argument("--lr", type=float, default=None)
ap.add_argument("--token-shift", type=int, default=None)
ap.add_argument("--every", type=int, default=250)
ap.add_argument("--device", default="cpu")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--eval-examples", type=int, default=256)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
torch.set_num_threads(args.threads)
budget = replace(get_budget(args.budget, {**parse_sets(args.set), "recall_suite": "mqar"}), recall_target=0.0)
if args.token_shift is not None:
    budget = replace(budget, token_shift=args.token_shift)
lr = args.lr if args.lr is not None else budget.mqar_lr
device = torch.device(args.device)
layout = Layout.parse(args.layout)
data = prepare_recall(budget, args.seed)
task = data.tasks[0]
test_x, test_y = task.test
feed = TableFeed.shuffled(*task.train, budget.mqar_batch, data.steps, task.rows_seed, device)
model = build_model(layout, budget, data.vocab_size, args.seed).to(device)
tcfg = TrainConfig(steps=data.steps, lr=lr, weight_decay=budget.weight_decay, warmup_frac=budget.warmup_frac,
                   precision=budget.precision, graph=budget.uses_graph(args.device), task="mqar")
t0 = time.time()
print(f"{layout.canonical()} budget={budget.name} d={budget.d_model} vocab={budget.mqar_vocab} "
      f"T={budget.mqar_seq_len} pairs={budget.mqar_kv_pairs} steps={tcfg.steps} lr={lr} "
      f"token_shift={budget.token_shift} batch={budget.mqar_batch} graph={tcfg.graph}", flush=True)


def curve(done: int) -> bool:
    sub = args.eval_examples
    _, count, correct = eval_batches(model, chunks(test_x[:sub], test_y[:sub], 128), device, budget.precision)
    print(f"step {done:6d}  acc {correct / count:.3f}  {time.time() - t0:7.1f}s", flush=True)
    return False


train(model, feed, tcfg, device, check=curve, check_every=args.every)
nll, count, correct = eval_batches(model, chunks(test_x, test_y, 128), device, budget.precision)
print(f"final  acc {correct / count:.4f}  loss {nll / count:.4f}  {time.time() - t0:.1f}s", flush=True)
