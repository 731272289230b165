"""Judge one student: build it from the teacher, distil it (two stages), score it against its teacher.

`evaluate_student(layout, teacher_dir, budget, device=..., seed=...) -> Metrics`:
  kl             mean KL(teacher || student) per token on held-out windows of lm_seq_len (nats)
  perplexity     the student's on the same windows, per token of the teacher's tokenizer; bits_per_byte too
  recall         mean of the recall probes (proxies.teacher.probes): kv and passkey at the teacher's context
                 and at twice it (recall_kv_1x, recall_kv_2x, recall_passkey_1x, recall_passkey_2x)
  flops, state_bytes at the teacher's context (proxies.teacher.cost, analytic; fvcore's count in
                 extra.flops_fvcore), params of the student
The teacher's own scores on the same data ride along (teacher_perplexity, teacher_recall, ...) so a student reads
as a distance from its teacher. Metrics `mqar_loss` is NaN (no MQAR here); `lm_loss` is the student's validation
loss per token; the stage losses are in `extra`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch

from proxies.budget import Budget
from proxies.metrics import Metrics
from proxies.teacher.checkpoint import Teacher, load_teacher
from proxies.teacher.cost import student_flops, student_state_bytes
from proxies.teacher.distill import align_layers, distill_end_to_end, kl_to_teacher
from proxies.teacher.probes import make_probe, probe_accuracy
from proxies.teacher.student import build_student
from proxies.teacher.text import TokenText, corpus_tokens, tokenizer_of, val_windows
from proxies.train import autocast
from search_space.layout import Layout

Progress = Callable[[str, int, float], None]
PROBES = ("kv", "passkey")


def _logits(model: torch.nn.Module, device: torch.device, precision: str) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with autocast(device, precision):
            return model(input_ids=x, use_cache=False).logits.float()
    return run


@torch.no_grad()
def held_out(student_fn, teacher_fn, windows: torch.Tensor, batch: int, device: torch.device) -> dict[str, float]:
    """Summed NLL of student and teacher and summed KL over every scored position; per-token means."""
    nll_s = nll_t = kl = 0.0
    n = 0
    for s in range(0, windows.shape[0], batch):
        w = windows[s: s + batch].to(device)
        x, y = w[:, :-1], w[:, 1:]
        ls, lt = student_fn(x), teacher_fn(x) if teacher_fn is not None else None
        nll_s += float(torch.nn.functional.cross_entropy(ls.flatten(0, 1), y.flatten(), reduction="sum"))
        if lt is not None:
            nll_t += float(torch.nn.functional.cross_entropy(lt.flatten(0, 1), y.flatten(), reduction="sum"))
            kl += float(kl_to_teacher(ls, lt)) * y.numel()
        n += y.numel()
    return {"student": nll_s / n, "teacher": nll_t / n, "kl": kl / n}


def probe_scores(fn, tok, text: TokenText, context: int, budget: Budget, seed: int, device: torch.device
                 ) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in PROBES:
        for mult in (1, 2):
            probe = make_probe(name, tok, text.val, context * mult, budget.probe_examples, seed)
            if probe is not None:
                out[f"recall_{name}_{mult}x"] = probe_accuracy(fn, probe, device, budget.lm_batch)
    return out


def fvcore_flops(model: torch.nn.Module, context_len: int) -> float | None:
    """fvcore's count of the student at `context_len` (proxies.flops), for comparison: the Hugging Face attention
    passes an explicit mask, so fvcore counts its scores over all L x L pairs, not the causal half the analytic
    count (and the metric) uses. None when it cannot trace the model."""
    from proxies.flops import flops_per_token
    from proxies.teacher.make import Logits

    wrapped = Logits(model)
    wrapped.vocab_size = model.config.vocab_size
    try:
        return float(flops_per_token(wrapped, context_len))
    except Exception:  # noqa: BLE001 - a model fvcore cannot trace keeps its analytic count alone
        return None


_TEACHER_SCORES: dict[tuple, dict[str, float]] = {}


def teacher_scores(teacher: Teacher, tok, text: TokenText, windows: torch.Tensor, budget: Budget, seed: int,
                   device: torch.device) -> dict[str, float]:
    """The teacher's own perplexity and probe scores on the students' data (computed once per process)."""
    key = (teacher.hash, budget.corpus, budget.lm_seq_len, budget.lm_eval_tokens, budget.probe_examples, seed,
           tok.name)
    if key not in _TEACHER_SCORES:
        fn = _logits(teacher.model, device, budget.precision)
        loss = held_out(fn, None, windows, budget.lm_batch, device)["student"]
        probes = probe_scores(fn, tok, text, teacher.shape.context, budget, seed, device)
        _TEACHER_SCORES[key] = {"teacher_perplexity": math.exp(loss), "teacher_lm_loss": loss,
                                "teacher_recall": sum(probes.values()) / max(1, len(probes)),
                                **{f"teacher_{k}": v for k, v in probes.items()}}
    return _TEACHER_SCORES[key]


def evaluate_student(layout: Layout | str, teacher: str | Teacher, budget: Budget, *, device: str = "cpu",
                     seed: int = 0, progress: Progress | None = None) -> Metrics:
    layout = Layout.parse(layout) if isinstance(layout, str) else layout
    t = load_teacher(teacher) if isinstance(teacher, str) else teacher
    dev = torch.device(device)
    t0 = time.perf_counter()
    tok = tokenizer_of(t)
    text = corpus_tokens(budget.corpus, tok, budget.lm_seq_len)
    student = build_student(t, layout, budget, seed)
    t.model.to(dev)
    student.model.to(dev)
    align = align_layers(student, t, text.train, budget, dev, seed, progress)
    kl_steps = distill_end_to_end(student, t, text.train, budget, dev, seed, progress)
    windows = val_windows(text, budget.lm_seq_len, budget.lm_eval_tokens)
    s_fn, t_fn = _logits(student.model, dev, budget.precision), _logits(t.model, dev, budget.precision)
    ev = held_out(s_fn, t_fn, windows, budget.lm_batch, dev)
    probes = probe_scores(s_fn, tok, text, t.shape.context, budget, seed, dev)
    ref = teacher_scores(t, tok, text, windows, budget, seed, dev)
    ctx = t.shape.context
    loss = ev["student"]
    scores: dict[str, Any] = {"kl": ev["kl"], **probes, **ref}
    fv = fvcore_flops(student.model, ctx)
    wall = time.perf_counter() - t0
    student.model.to("cpu")
    return Metrics(
        recall=sum(probes.values()) / max(1, len(probes)), perplexity=math.exp(loss),
        bits_per_byte=loss / math.log(2) / text.val_bytes_per_token, flops=student_flops(student, t.shape, ctx),
        params=sum(p.numel() for p in student.model.parameters()),
        state_bytes=student_state_bytes(student, t.shape, ctx), flops_context=ctx, mqar_loss=math.nan,
        lm_loss=loss, wall_time_s=wall, device=dev.type if dev.type != "cuda" else f"cuda:{torch.cuda.get_device_name(dev)}",
        tokenizer=tok.name, corpus=budget.corpus, seed=seed, lm_lr=None,
        extra={"teacher_scores": scores, "layout": layout.canonical(), "budget": budget.name,
               "teacher": t.key(), "teacher_shape": t.shape.to_dict(), "flops_method": "analytic", "flops_fvcore": fv,
               "init_copied": {str(i): v for i, v in student.copied.items()},
               "align_loss_first": align[0] if align else None, "align_loss_last": align[-1] if align else None,
               "align_steps": len(align), "kl_train_first": kl_steps[0] if kl_steps else None,
               "kl_train_last": kl_steps[-1] if kl_steps else None, "kl_steps": len(kl_steps),
               "replaced_layers": sorted(student.mixers)},
    )
