"""Two CPU probes of proxy models at a budget's MQAR shapes (docs/recipe.md, session 6).

    python3 -m tools.model_probes resid 'LAYOUT' ... [--budget quick]
        the RMS of every mixer's output and of the residual stream after each layer, at init (seed 0, 32 examples)
    python3 -m tools.model_probes impl 'LAYOUT' ... [--budget quick]
        loss and every parameter's gradient through impl=chunk against impl=recurrent (weights perturbed off
        init, 16 examples), in fp32 and under bf16 autocast: the lowest cosine among parameters whose gradient
        holds more than 0.1% of the norm
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import torch
import torch.nn.functional as F

from proxies.budget import get_budget
from proxies.build import build_model
from proxies.recall import prepare_recall
from search_space.layout import Layout


def _rms(t: torch.Tensor) -> float:
    return t.float().pow(2).mean().sqrt().item()


def resid(layout: str, budget, data) -> str:
    x = torch.as_tensor(data.tasks[0].train[0][:32])
    m = build_model(Layout.parse(layout), budget, data.vocab_size, 0)
    with torch.no_grad():
        h = m.embed(x)
        cells = [f"embed {_rms(h):.3f}"]
        for blk in m.blocks:
            out = blk.mixer(blk.norm1(h))
            h = h + out
            h = h + blk.mlp(blk.norm2(h))
            cells.append(f"{blk.mixer.name} {_rms(out):.3f}/{_rms(h):.3f}")
    return f"{layout}  (mixer output / residual)\n  " + " | ".join(cells)


def _grads(layout, budget, data, impl, bf16):
    x, y = (torch.as_tensor(a[:16]) for a in data.tasks[0].train)
    m = build_model(Layout.parse(layout), replace(budget, impl=impl), data.vocab_size, 0)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.02 * torch.randn_like(p))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = m(x)
    loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=-100)
    loss.backward()
    return loss.item(), {n: p.grad for n, p in m.named_parameters() if p.grad is not None}


def impl(layout: str, budget, data) -> str:
    lines = [layout]
    for bf16 in (False, True):
        (l_ref, g_ref), (l_chunk, g_chunk) = (_grads(layout, budget, data, i, bf16) for i in ("recurrent", "chunk"))
        total = sum(g.pow(2).sum() for g in g_ref.values()).sqrt()
        cos = [(F.cosine_similarity(g_ref[n].flatten().double(), g_chunk[n].flatten().double(), 0).item(), n)
               for n in g_ref if g_ref[n].norm() > 1e-3 * total]
        worst = min(cos)
        lines.append(f"  {'bf16' if bf16 else 'fp32'}: loss {l_ref:.5f} (recurrent) {l_chunk:.5f} (chunk); "
                     f"lowest gradient cosine {worst[0]:.5f} ({worst[1]})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("probe", choices=("resid", "impl"))
    ap.add_argument("layouts", nargs="+")
    ap.add_argument("--budget", default="quick")
    args = ap.parse_args()
    budget = get_budget(args.budget)
    data = prepare_recall(budget, 0)
    for layout in args.layouts:
        print({"resid": resid, "impl": impl}[args.probe](layout, budget, data), flush=True)


if __name__ == "__main__":
    main()
