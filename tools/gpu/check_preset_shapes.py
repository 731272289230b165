"""The Triton kernels at exactly the shapes the presets' proxies call them with, then inside real models.

    python3 tools/gpu/check_preset_shapes.py [smoke quick standard] [--emulate]

1. Every distinct call that "auto" would send to Triton (`proxies.kernel_calls`: each linear mixer, each
   training and evaluation loop of the budget) is checked against the float64 recurrent reference: outputs and
   every input gradient, bf16, poisoned outputs, a synchronise after each launch (so a fault names its kernel).
   Judged by `tools.kernel_accuracy.failures` (with --emulate: against the emulated bf16 floor too).
2. Each such mixer as `X,attn` at the budget's width, one training step at the budget's MQAR and LM training
   shapes with `impl=triton` against `impl=chunk` from the same weights: the loss and every parameter gradient.
Prints one line per case and exits 1 if any case fails.
"""
import sys
import time

import torch

from kernels.triton import Options
from proxies.budget import get_budget
from proxies.build import build_model
from proxies.kernel_calls import kernel_calls, lm_validation_windows
from proxies.train import autocast, token_loss
from search_space.layout import Layout
from tools.kernel_accuracy import check_delta, check_gla, failures

names = [a for a in sys.argv[1:] if not a.startswith("--")] or ["smoke", "quick", "standard"]
emulate = "--emulate" in sys.argv
options = Options(poison=True, force_backward=True, sync=True)
bad = 0


def case(label: str, fn) -> None:
    global bad
    t0 = time.time()
    try:
        errs = fn()
    except Exception as e:  # a fault is a failed case; the next cases still run
        bad += 1
        print(f"{label:<58} ERROR {type(e).__name__}: {str(e)[:200]}", flush=True)
        return
    fails = failures(errs, torch.bfloat16)
    bad += bool(fails)
    shown = {k: v for k, v in errs.items() if not k.endswith("@emu")}
    worst = max(shown.values(), key=lambda e: (e != e, e))
    print(f"{label:<58} worst {worst:.1e} {'FAIL ' + ','.join(fails) if fails else 'ok'} ({time.time() - t0:.0f}s)",
          flush=True)


def model_step(layout: str, budget, B: int, T: int) -> dict:
    grads = {}
    for impl in ("chunk", "triton"):
        b = get_budget(budget.name, {"impl": impl, "n_layers": 2})
        model = build_model(Layout.parse(layout), b, 256, seed=0).cuda()
        x = torch.randint(0, 256, (B, T + 1), generator=torch.Generator().manual_seed(0)).cuda()
        with autocast(torch.device("cuda"), "bf16"):
            loss = token_loss(model(x[:, :-1]), x[:, 1:])
        loss.backward()
        grads[impl] = {"loss": loss.detach().float().reshape(1),
                       **{n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}}
    return {k: float((grads["triton"][k] - v).norm() / v.norm().clamp_min(1e-12)) for k, v in grads["chunk"].items()}


for name in names:
    budget = get_budget(name)
    calls = [c for c in kernel_calls(budget, lm_windows=lm_validation_windows(budget)) if c["triton"]]
    print(f"== {name}: {len(calls)} Triton calls", flush=True)
    for c in calls:
        B, T, H, K, V = c["B"], c["T"], c["H"], c["K"], c["V"]
        label = f"{c['op']} {c['gate']} {(B, T, H, K, V)} {','.join(c['mixers'])}"
        if c["op"] == "gla":
            gate = {"head": "scalar", "channel": "channel", "none": "none"}[c["gate"]]
            case(label, lambda: check_gla(B, T, H, K, V, gate=gate, h0=False, ht=False, seed=0, emulate=emulate,
                                          options=options))
        else:
            case(label, lambda: check_delta(B, T, H, K, V, gated=c["gate"] != "none", h0=False, ht=False, seed=0,
                                            options=options))
    mixers = sorted({m for c in calls for m in c["mixers"]})
    for m in mixers:
        for B, T in ((budget.mqar_batch, budget.mqar_seq_len), (budget.lm_batch, budget.lm_seq_len)):
            case(f"model {m},attn {name} B{B} T{T} triton vs chunk", lambda: model_step(f"{m},attn", budget, B, T))
sys.exit(1 if bad else 0)
