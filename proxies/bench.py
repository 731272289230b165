"""Proxy training throughput: tokens per second and model FLOPs utilisation of the training step.

MFU = 3 x (analytic forward FLOPs per token at the training length) x tokens/s / peak FLOP/s (forward plus a
backward of twice its cost, the usual accounting; no recomputation counted).
"""

from __future__ import annotations

import time

import torch

from proxies.budget import Budget
from proxies.evaluate import build_model, runnable
from proxies.train import TrainConfig, autocast, make_optimizer, token_loss
from search_space.layout import Layout

# Dense bf16 peaks from the vendors' datasheets (FLOP/s), used only for MFU.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_proxy(layouts: list[str], budget: Budget, device: str, steps: int = 20, warmup: int = 3,
                peak: float | None = None) -> list[dict]:
    """Time `steps` language-model training steps (after `warmup`) of each layout at the budget's LM shapes."""
    dev = torch.device(device)
    peak = peak if peak is not None else peak_flops(dev)
    return [_bench_one(Layout.parse(text), budget, dev, steps, warmup, peak) for text in layouts]


def _bench_one(layout: Layout, budget: Budget, dev: torch.device, steps: int, warmup: int,
               peak: float | None) -> dict:
    model = build_model(layout, budget, 256, seed=0).to(dev)
    run = runnable(model, budget)
    opt = make_optimizer(model, TrainConfig(steps=1, lr=1e-4), dev)
    x = torch.randint(0, 256, (budget.lm_batch, budget.lm_seq_len + 1), device=dev)
    inputs, targets = x[:, :-1], x[:, 1:]

    def step() -> None:
        with autocast(dev, budget.precision):
            loss = token_loss(run(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(dev)
    sec = (time.perf_counter() - t0) / steps
    tps = budget.lm_batch * budget.lm_seq_len / sec
    fwd = model.flops_per_token(budget.lm_seq_len)
    return {
        "layout": layout.canonical(), "device": str(dev), "batch": budget.lm_batch, "seq_len": budget.lm_seq_len,
        "d_model": budget.d_model, "params": model.num_params(), "ms_per_step": sec * 1e3,
        "tokens_per_s": tps, "train_flops_per_token": 3 * fwd,
        "mfu": (3 * fwd * tps / peak) if peak else None, "impl": budget.impl, "precision": budget.precision,
        "torch_compile": budget.torch_compile,
    }


def format_rows(rows: list[dict]) -> str:
    head = f"{'layout':24s} {'device':8s} {'B':>3s} {'T':>5s} {'ms/step':>8s} {'tokens/s':>10s} {'MFU':>6s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        mfu = f"{100 * r['mfu']:5.1f}%" if r["mfu"] is not None else "     -"
        lines.append(f"{r['layout']:24s} {r['device']:8s} {r['batch']:3d} {r['seq_len']:5d} {r['ms_per_step']:8.1f} "
                     f"{r['tokens_per_s']:10.0f} {mfu}")
    return "\n".join(lines)
