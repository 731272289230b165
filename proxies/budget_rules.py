"""What every `Budget` knob may hold, and the rules between knobs: checked whenever a budget is built.

A budget arrives from a preset, `--set key=value`, a `--level` definition, a stored study or a Ray worker's
dict; each way builds a `Budget`, whose `__post_init__` calls `check_budget`. A bad knob is a `BudgetError`
(the CLI prints it as one line and exits 2) that names the field, the bad value and what is valid:

    budget field lm_batch = 0: must be a positive integer (1 to 65536)
    budget: mqar_kv_pairs 40 do not fit mqar_seq_len 64: MQAR needs 4 x pairs = 160 positions ...

`DOMAINS` maps each field name to its domain (`proxies.budget_domains`: a small object with
`check(value) -> error text or None` and a `text` saying what is valid); `RULES` lists the cross-field rules, each `rule(budget) -> error text or None`.
A new `Budget` field must be declared here (tests/proxies/test_budget_rules.py fails otherwise):

    DOMAINS["my_lrs"] = FloatList(LearningRate(), min_len=0)
    DOMAINS["my_steps"] = PositiveInt(max=MAX_STEPS)
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from proxies.budget_domains import (  # noqa: F401 - the vocabulary, re-exported for the table's readers
    MAX_BATCH, MAX_EXAMPLES, MAX_LAYERS, MAX_SEQ, MAX_STEPS, MAX_WIDTH, Choice, ConvWidth, Domain, Flag, FloatList,
    Fraction, IntRange, LadderSpec, LearningRate, NameList, NonNegativeInt, PositiveInt, PowerOfTwo, Probability,
    RealRange, Text,
)
from proxies.budget_error import BudgetError


# -- the table: every field's domain ---------------------------------------------------------------------
DOMAINS: dict[str, Domain] = {
    "name": Text(max_len=64),
    "n_layers": PositiveInt(max=MAX_LAYERS),
    "d_model": PositiveInt(max=MAX_WIDTH),
    "n_heads": PositiveInt(max=1024),
    "chunk_size": PowerOfTwo(max=4096),
    "window": PositiveInt(max=MAX_SEQ),
    "mqar_vocab": PositiveInt(max=1 << 20),
    "mqar_seq_len": PositiveInt(max=MAX_SEQ),
    "mqar_kv_pairs": PositiveInt(max=1 << 18),
    "mqar_train_examples": PositiveInt(max=MAX_EXAMPLES),
    "mqar_test_examples": PositiveInt(max=MAX_EXAMPLES),
    "mqar_steps": PositiveInt(),
    "mqar_batch": PositiveInt(max=MAX_BATCH),
    "mqar_lr": LearningRate(),
    "recall_suite": Choice(("mqar", "ladder")),
    "recall_ladder": LadderSpec(),
    "recall_tasks": NameList(("noisy", "selcopy")),
    "recall_noise": Probability(open_hi=True),
    "recall_steps": NonNegativeInt(zero="mqar_steps"),
    "corpus": Text(),
    "lm_seq_len": PositiveInt(max=MAX_SEQ),
    "lm_steps": PositiveInt(),
    "lm_batch": PositiveInt(max=MAX_BATCH),
    "lm_lr": LearningRate(),
    "lm_eval_tokens": PositiveInt(max=1 << 34),
    "flops_context": PositiveInt(max=1 << 24),
    "precision": Choice(("bf16", "fp32")),
    "weight_decay": RealRange(0.0, 10.0, False, "a weight decay"),
    "warmup_frac": Fraction(),
    "impl": Choice(("auto", "chunk", "compile", "recurrent", "triton")),
    "match_width": Flag(),
    "token_shift": ConvWidth(),
    "short_conv": Flag(),
    "mamba2_norm": Flag(),
    "hgrn2_norm": Flag(),
    "retnet_decays": Choice(("paper", "spread")),
    "stack_sweep": Flag(),
    "torch_compile": Flag(),
    "recall_lrs": FloatList(LearningRate(), min_len=0, max_len=16),
    "recall_shifts": FloatList(ConvWidth(), min_len=0, max_len=8),
    "recall_target": Probability(),
    "recall_check_every": NonNegativeInt(zero="a twentieth of the steps"),
    "recall_stop_sweep": Flag(),
    "lm_lrs": FloatList(LearningRate(), min_len=0, max_len=16),
    "graph": Choice(("auto", "on", "off")),
    "side_by_side": NonNegativeInt(max=32, zero="every point at once on CUDA, one at a time on CPU"),
    "distill_align_steps": NonNegativeInt(zero="lm_steps"),
    "distill_align_lr": RealRange(0.0, 1.0, False, "a learning rate (0 = lm_lr)"),
    "distill_kl_steps": NonNegativeInt(zero="lm_steps"),
    "distill_kl_lr": RealRange(0.0, 1.0, False, "a learning rate (0 = lm_lr)"),
    "student_train_all": Flag(),
    "probe_examples": PositiveInt(max=1 << 16),
}


# -- cross-field rules ---------------------------------------------------------------------------------
Rule = Callable[[Any], "str | None"]


def _heads_divide_width(b: Any) -> str | None:
    if b.d_model % b.n_heads:
        return (f"d_model {b.d_model} is not divisible by n_heads {b.n_heads} "
                f"(valid n_heads divide d_model, e.g. {', '.join(map(str, _divisors(b.d_model)[:6]))})")
    return None


def _even_head_width(b: Any) -> str | None:
    dh = b.d_model // b.n_heads
    if dh % 2:
        return (f"head width d_model / n_heads = {b.d_model} / {b.n_heads} = {dh} must be even "
                "(rotary positions turn pairs of channels)")
    return None


def _kv_pairs_fit_sequence(b: Any) -> str | None:
    need = 4 * b.mqar_kv_pairs
    if need > b.mqar_seq_len:
        return (f"mqar_kv_pairs {b.mqar_kv_pairs} do not fit mqar_seq_len {b.mqar_seq_len}: MQAR needs "
                f"4 x pairs = {need} positions (2 per pair, 2 per query); valid: mqar_kv_pairs <= "
                f"{b.mqar_seq_len // 4} or mqar_seq_len >= {need}")
    return None


def _vocab_holds_pairs(b: Any) -> str | None:
    need = 2 * b.mqar_kv_pairs + 2
    if b.mqar_vocab < need:
        return (f"mqar_vocab {b.mqar_vocab} is too small for mqar_kv_pairs {b.mqar_kv_pairs}: distinct keys "
                f"and values need mqar_vocab >= 2 x pairs + 2 = {need}")
    return None


def _chunk_within_sequence(b: Any) -> str | None:
    longest = max(b.mqar_seq_len, b.lm_seq_len)
    if b.chunk_size > longest:
        return (f"chunk_size {b.chunk_size} is longer than every training sequence (mqar_seq_len "
                f"{b.mqar_seq_len}, lm_seq_len {b.lm_seq_len}); valid: a power of two <= {longest}")
    return None


def _examples_fill_a_batch(b: Any) -> str | None:
    if b.mqar_train_examples < b.mqar_batch:
        return (f"mqar_train_examples {b.mqar_train_examples} is fewer than one batch (mqar_batch "
                f"{b.mqar_batch}); valid: mqar_train_examples >= mqar_batch")
    return None


def _eval_tokens_fill_a_window(b: Any) -> str | None:
    if b.lm_eval_tokens < b.lm_seq_len:
        return (f"lm_eval_tokens {b.lm_eval_tokens} is less than one validation window (lm_seq_len "
                f"{b.lm_seq_len}); valid: lm_eval_tokens >= lm_seq_len")
    return None


def _recall_suite_builds(b: Any) -> str | None:
    if b.recall_suite != "ladder":
        return None
    from proxies.tasks.recall_suite import RecallSuiteError, build_suite

    try:
        build_suite(b)
    except (RecallSuiteError, ValueError) as e:
        return f"recall suite: {' '.join(str(e).split())}"
    return None


def _sweeps_repeat_nothing(b: Any) -> str | None:
    for name in ("recall_lrs", "recall_shifts", "lm_lrs"):
        values = list(getattr(b, name))
        if len(set(values)) != len(values):
            return f"{name} lists a value twice: {','.join(f'{v:g}' for v in values)}"
    return None


def _stacked_sweeps_run_the_chunk_forms(b: Any) -> str | None:
    if b.stack_sweep and (b.torch_compile or b.impl in ("compile", "triton")):
        what = "torch_compile=true" if b.torch_compile else f"impl={b.impl}"
        return (f"stack_sweep=true trains a sweep's points as one model under torch.func.vmap, which {what} does "
                "not run under; valid with it: impl auto, chunk or recurrent, torch_compile false")
    return None


RULES: list[Rule] = [
    _heads_divide_width, _even_head_width, _kv_pairs_fit_sequence, _vocab_holds_pairs, _chunk_within_sequence,
    _examples_fill_a_batch, _eval_tokens_fill_a_window, _recall_suite_builds, _sweeps_repeat_nothing,
    _stacked_sweeps_run_the_chunk_forms,
]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 4096) + 1) if n % d == 0]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def field_error(name: str, value: Any) -> str | None:
    """One line saying why `value` is not valid for field `name` (None when it is, or undeclared)."""
    domain = DOMAINS.get(name)
    problem = domain.check(value) if domain is not None else None
    return None if problem is None else f"budget field {name} = {_show(value)}: {problem}"


def check_budget(budget: Any) -> None:
    """Raise `BudgetError` (one line: field, bad value, what is valid) on the first bad field or rule."""
    for f in fields(budget):
        problem = field_error(f.name, getattr(budget, f.name))
        if problem:
            raise BudgetError(problem)
    for rule in RULES:
        problem = rule(budget)
        if problem:
            raise BudgetError(f"budget: {problem}")


def describe() -> dict[str, str]:
    """Each field's valid values, for help texts and error messages."""
    return {name: d.text for name, d in DOMAINS.items()}
