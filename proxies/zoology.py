"""`bench recall`: every mixer at Zoology's MQAR settings, beside Zoology's published accuracy for its family.

Zoology (Arora et al., arXiv 2312.04927) trains two-layer models on MQAR with vocabulary 8192 at (sequence
length, key-value pairs) from (64, 4) to (512, 64) and widths 64 to 512, sweeps four learning rates
log-spaced from 1e-4 to 1e-2 and reports the best, stopping early at 0.99 accuracy. Each run here is
`X*2` (two blocks of the mixer, each with its MLP) trained the same way through the product's own recall
proxy (`proxies.recall`, `proxies.sweep`), with head size 64.

The reference ranges are read off Zoology's figures and the later papers that rerun its grid, per family:
attention about 1.0 everywhere; the delta rule (DeltaNet, Gated DeltaNet) about 0.99-1.0 near 1e5 state;
gated linear attention and state-space mixers (GLA, Mamba-2, HGRN2) between about 0.5 and 0.95 at 5e3-1e5
state. The gap opens with sequence length and closes with width. No published range is given for the others.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from proxies.budget import Budget, get_budget
from proxies.recall import prepare_recall, train_recall
from proxies.side_by_side import side_by_side
from proxies.sweep import SweepFailed, run_sweep
from search_space.layout import Layout

ZOOLOGY_LRS = (1e-4, 4.6e-4, 2.2e-3, 1e-2)  # four points log-spaced 1e-4 .. 1e-2
SETTINGS = ((256, 16), (512, 64))
WIDTHS = (128, 256)
HEAD_SIZE = 64
REFERENCE = {  # mixer -> (low, high) accuracy Zoology's protocol reaches for its family
    "attn": (0.99, 1.0),
    "deltanet": (0.99, 1.0),
    "gdn": (0.99, 1.0),
    "gla": (0.5, 0.95),
    "mamba2": (0.5, 0.95),
    "hgrn2": (0.5, 0.95),
}


@dataclass(frozen=True)
class RecallCase:
    mixer: str
    seq_len: int
    kv_pairs: int
    d_model: int


def case_budget(case: RecallCase, *, steps: int, lrs: tuple[float, ...], batch: int = 64,
                base: Budget | None = None) -> Budget:
    """The budget of one case: two layers, Zoology's vocabulary, the case's sequence, pairs and width."""
    b = base or get_budget("quick")
    return replace(
        b, name="zoology", n_layers=2, d_model=case.d_model, n_heads=max(1, case.d_model // HEAD_SIZE),
        mqar_vocab=8192, mqar_seq_len=case.seq_len, mqar_kv_pairs=case.kv_pairs, mqar_steps=steps,
        mqar_batch=batch, mqar_train_examples=min(100_000, steps * batch), mqar_test_examples=1_000,
        recall_suite="mqar", recall_lrs=lrs, recall_target=0.99, token_shift=0,
    )


def run_case(case: RecallCase, *, device: str, steps: int, lrs: tuple[float, ...], seed: int = 0,
             base: Budget | None = None, shifts: tuple[int, ...] = (0,)) -> dict:
    """Train the case at every (learning rate, token-shift width); the best accuracy, its recipe, every point."""
    budget = case_budget(case, steps=steps, lrs=lrs, base=base)
    layout = Layout.parse(f"{case.mixer}*2")
    dev = torch.device(device)
    data = prepare_recall(budget, seed)
    row = {"mixer": case.mixer, "seq_len": case.seq_len, "kv_pairs": case.kv_pairs, "d_model": case.d_model}
    try:
        sweep = run_sweep("recall", [(lr, w) for w in shifts for lr in lrs],
                          lambda lr, w: train_recall(layout, replace(budget, token_shift=w), data, dev, seed, lr),
                          lambda r: (r.score, r.loss, r.steps), maximize=True, runner=side_by_side(dev))
    except SweepFailed as exc:
        return {**row, "accuracy": None, "lr": None, "token_shift": None, "steps": None, "error": str(exc),
                "sweep": [p.to_dict() for p in exc.points], **_verdict(case.mixer, None)}
    return {**row, "accuracy": sweep.best.score, "lr": sweep.best_lr, "token_shift": sweep.best_shift,
            "steps": sweep.best.steps, "error": None,
            "sweep": [p.to_dict() for p in sweep.points], **_verdict(case.mixer, sweep.best.score)}


def _verdict(mixer: str, accuracy: float | None) -> dict:
    ref = REFERENCE.get(mixer)
    if ref is None or accuracy is None:
        verdict = "-" if accuracy is not None else "failed"
    else:
        verdict = "below" if accuracy < ref[0] else ("above" if accuracy > ref[1] else "inside")
    return {"zoology_low": ref[0] if ref else None, "zoology_high": ref[1] if ref else None, "verdict": verdict}


def bench_recall(mixers: list[str], *, device: str, steps: int, lrs: tuple[float, ...] = ZOOLOGY_LRS,
                 settings: tuple[tuple[int, int], ...] = SETTINGS, widths: tuple[int, ...] = WIDTHS,
                 workers: int = 1, seed: int = 0, shifts: tuple[int, ...] = (0,), progress=None) -> list[dict]:
    """Every (mixer, setting, width) case, `workers` cases at once (threads of this process; on CUDA each case's
    points also train side by side, `proxies.side_by_side`). Rows in case order."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    cases = [RecallCase(m, s, k, w) for m in mixers for (s, k) in settings for w in widths]

    def run(case: RecallCase) -> dict:
        return run_case(case, device=device, steps=steps, lrs=lrs, seed=seed, shifts=shifts)

    rows: dict[int, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="hnas-case") as pool:
        futures = {pool.submit(run, c): i for i, c in enumerate(cases)}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            if progress:
                progress(rows[futures[future]])
    return [rows[i] for i in range(len(cases))]


def format_recall(rows: list[dict]) -> str:
    head = (f"{'mixer':9s} {'seq':>4s} {'pairs':>5s} {'d':>4s} {'accuracy':>8s} {'lr':>8s} {'shift':>5s} {'steps':>6s} "
            f"{'zoology':>10s}  verdict")
    lines = [head, "-" * len(head)]
    for r in rows:
        acc = f"{r['accuracy']:8.3f}" if r["accuracy"] is not None else "       -"
        lr = f"{r['lr']:8.2g}" if r["lr"] is not None else "       -"
        steps = f"{r['steps']:6d}" if r["steps"] is not None else "     -"
        ref = f"{r['zoology_low']:.2f}-{r['zoology_high']:.2f}" if r["zoology_low"] is not None else "-"
        shift = f"{r['token_shift']:5d}" if r.get("token_shift") is not None else "    -"
        lines.append(f"{r['mixer']:9s} {r['seq_len']:4d} {r['kv_pairs']:5d} {r['d_model']:4d} {acc} {lr} {shift} {steps} "
                     f"{ref:>10s}  {r['verdict']}")
    return "\n".join(lines)
