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

import threading
from dataclasses import dataclass, replace
from functools import partial

import torch

from proxies.budget import Budget, get_budget
from proxies.recall import prepare_recall, train_recall
from proxies.side_by_side import Outcome, side_by_side
from proxies.sweep import Sweep, SweepFailed, raise_unexpected, settle
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


# the knobs every case sets itself (case_budget), and the bench option that sets each where there is one
CASE_KNOBS = {"name": None, "n_layers": None, "d_model": "--widths", "n_heads": "--widths (head size 64)",
              "mqar_vocab": None, "mqar_seq_len": "--settings", "mqar_kv_pairs": "--settings", "mqar_steps": "--steps",
              "mqar_batch": "--batch", "mqar_train_examples": "--steps and --batch", "mqar_test_examples": None,
              "recall_suite": None, "recall_lrs": "--lrs", "mqar_lr": "--lrs", "recall_shifts": "--shifts",
              "token_shift": "--shifts", "recall_target": None}


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


class _Case:
    """One case's sweep, its points jobs of one shared runner: its data drawn on first use and dropped once its
    last point is done, when its row is made (and reported)."""

    def __init__(self, case: RecallCase, budget: Budget, recipes: list[tuple[float, int]], dev: torch.device,
                 seed: int, report) -> None:
        self.case, self.budget, self.recipes, self.dev, self.seed, self.report = case, budget, recipes, dev, seed, report
        self.layout = Layout.parse(f"{case.mixer}*2")
        self.sweep = Sweep("recall", recipes, self.fit, lambda r: (r.score, r.loss, r.steps), maximize=True)
        self.lock = threading.Lock()
        self._data = None
        self.outcomes: dict[int, Outcome] = {}
        self.row: dict | None = None

    def data(self):
        with self.lock:
            if self._data is None:
                self._data = prepare_recall(self.budget, self.seed)
            return self._data

    def fit(self, lr: float, shift: int):
        return train_recall(self.layout, replace(self.budget, token_shift=shift), self.data(), self.dev, self.seed, lr)

    def done(self, i: int, outcome: Outcome) -> None:
        """Point i has finished; after the last one, the row."""
        with self.lock:
            self.outcomes[i] = outcome
            last = len(self.outcomes) == len(self.recipes)
            if last:
                self._data = None
        if last:
            self.row = self._row()
            self.report(self.row)

    def _row(self) -> dict:
        c = self.case
        row = {"mixer": c.mixer, "seq_len": c.seq_len, "kv_pairs": c.kv_pairs, "d_model": c.d_model,
               "batch": self.budget.mqar_batch, "short_conv": self.budget.short_conv,
               "mamba2_norm": self.budget.mamba2_norm, "hgrn2_norm": self.budget.hgrn2_norm,
               "retnet_decays": self.budget.retnet_decays}
        try:
            sweep = settle(self.sweep, [self.outcomes[i] for i in range(len(self.recipes))])
        except SweepFailed as exc:
            return {**row, "accuracy": None, "lr": None, "token_shift": None, "steps": None, "error": str(exc),
                    "sweep": [p.to_dict() for p in exc.points], **_verdict(c.mixer, None)}
        return {**row, "accuracy": sweep.best.score, "lr": sweep.best_lr, "token_shift": sweep.best_shift,
                "steps": sweep.best.steps, "error": None,
                "sweep": [p.to_dict() for p in sweep.points], **_verdict(c.mixer, sweep.best.score)}


def run_case(case: RecallCase, *, device: str, steps: int, lrs: tuple[float, ...], seed: int = 0,
             base: Budget | None = None, shifts: tuple[int, ...] = (0,)) -> dict:
    """Train the case at every (learning rate, token-shift width); the best accuracy, its recipe, every point."""
    return _run_cases([case], device=device, steps=steps, lrs=lrs, seed=seed, base=base, shifts=shifts)[0]


def _verdict(mixer: str, accuracy: float | None) -> dict:
    ref = REFERENCE.get(mixer)
    if ref is None or accuracy is None:
        verdict = "-" if accuracy is not None else "failed"
    else:
        verdict = "below" if accuracy < ref[0] else ("above" if accuracy > ref[1] else "inside")
    return {"zoology_low": ref[0] if ref else None, "zoology_high": ref[1] if ref else None, "verdict": verdict}


def bench_recall(mixers: list[str], *, device: str, steps: int, lrs: tuple[float, ...] = ZOOLOGY_LRS,
                 settings: tuple[tuple[int, int], ...] = SETTINGS, widths: tuple[int, ...] = WIDTHS,
                 workers: int = 0, seed: int = 0, shifts: tuple[int, ...] = (0,), batch: int = 64,
                 base: Budget | None = None, progress=None) -> list[dict]:
    """Every (mixer, setting, width) case; every point of every case is one job of one runner, `workers` at once
    (`proxies.side_by_side`: 0 = as many as it runs on CUDA, one at a time on CPU). Rows in case order;
    `progress(row)` as each case finishes. `base` (default `quick`) gives every knob the cases do not set
    (e.g. `short_conv`, `weight_decay`, `impl`)."""
    cases = [RecallCase(m, s, k, w) for m in mixers for (s, k) in settings for w in widths]
    return _run_cases(cases, device=device, steps=steps, lrs=lrs, seed=seed, shifts=shifts, workers=workers,
                      batch=batch, base=base, progress=progress)


def _run_cases(cases: list[RecallCase], *, device: str, steps: int, lrs: tuple[float, ...], seed: int,
               shifts: tuple[int, ...], workers: int = 0, batch: int = 64, base: Budget | None = None,
               progress=None) -> list[dict]:
    dev = torch.device(device)
    recipes = [(lr, w) for w in shifts for lr in lrs]
    lock = threading.Lock()

    def report(row: dict) -> None:
        if progress is not None:
            with lock:
                progress(row)

    plans = [_Case(c, case_budget(c, steps=steps, lrs=lrs, batch=batch, base=base), recipes, dev, seed, report)
             for c in cases]
    owners = [(p, i) for p in plans for i in range(len(recipes))]  # job j is point owners[j][1] of its case
    outcomes = side_by_side(dev, workers, on_done=lambda j, o: owners[j][0].done(owners[j][1], o))(
        [partial(p.fit, *p.recipes[i]) for p, i in owners])
    raise_unexpected(outcomes)  # a bug, not a diverged point: raised once every job has finished
    return [p.row for p in plans]


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
