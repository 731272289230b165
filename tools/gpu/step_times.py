"""Training-step times of 12-layer quick-budget layouts per kernels impl, and auto (Triton) against chunk on the
same weights, on a CUDA machine.

    HYBRID_NAS_TRITON=1 python3 tools/gpu/step_times.py      (from the repository root)
"""
import time

import torch

from proxies.budget import get_budget
from proxies.evaluate import build_model
from proxies.train import TrainConfig, make_optimizer, token_loss, autocast
from search_space import Layout

dev = torch.device("cuda")
rows = []
for impl in ("chunk", "auto"):
    b = get_budget("quick", {"impl": impl})
    for layout in ("attn*12", "gla*12", "gdn*12", "(gdn*3,attn)*3"):
        L = Layout.parse(layout)
        for task, vocab, T, B in (("mqar", b.mqar_vocab, b.mqar_seq_len, b.mqar_batch), ("lm", 256, b.lm_seq_len, b.lm_batch)):
            model = build_model(L, b, vocab, 0).to(dev)
            opt = make_optimizer(model, TrainConfig(steps=1, lr=1e-3), dev)
            x = torch.randint(0, vocab, (B, T), device=dev)
            def step():
                with autocast(dev, "bf16"):
                    loss = token_loss(model(x), x)
                opt.zero_grad(); loss.backward(); opt.step()
                return loss
            for _ in range(3):
                step()
            torch.cuda.synchronize(); t = time.perf_counter()
            for _ in range(10):
                loss = step()
            torch.cuda.synchronize(); ms = (time.perf_counter() - t) / 10 * 1e3
            rows.append((impl, layout, task, B, T, ms, B * T / ms * 1e3, float(loss)))
            print(rows[-1], flush=True)
# auto (triton) vs chunk on the same model in fp32 and bf16
for layout in ("gla*2", "gdn*2"):
    L = Layout.parse(layout)
    m1 = build_model(L, get_budget("quick", {"impl": "chunk"}), 256, 0).to(dev)
    m2 = build_model(L, get_budget("quick", {"impl": "auto"}), 256, 0).to(dev)
    m2.load_state_dict(m1.state_dict())
    x = torch.randint(0, 256, (4, 301), device=dev)
    y1, y2 = m1(x), m2(x)
    y1.float().square().mean().backward(); y2.float().square().mean().backward()
    gerr = max(((p1.grad - p2.grad).norm() / (p1.grad.norm() + 1e-12)).item() for p1, p2 in zip(m1.parameters(), m2.parameters()))
    print(f"auto-vs-chunk {layout}: out rel err {((y1 - y2).norm() / y1.norm()).item():.2e}, worst grad rel err {gerr:.2e}")
print(f"{'impl':6s} {'layout':16s} {'task':5s} {'B':>3s} {'T':>5s} {'ms/step':>8s} {'tok/s':>10s}")
for impl, layout, task, B, T, ms, tps, _ in rows:
    print(f"{impl:6s} {layout:16s} {task:5s} {B:3d} {T:5d} {ms:8.1f} {tps:10.0f}")
