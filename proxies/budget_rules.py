"""What every `Budget` knob may hold, and the rules between knobs: checked whenever a budget is built.

A budget arrives from a preset, `--set key=value`, a `--level` definition, a stored study or a Ray worker's
dict; each way builds a `Budget`, whose `__post_init__` calls `check_budget`. A bad knob is a `BudgetError`
(the CLI prints it as one line and exits 2) that names the field, the bad value and what is valid:

    budget field lm_batch = 0: must be a positive integer (1 to 65536)
    budget: mqar_kv_pairs 40 do not fit mqar_seq_len 64: MQAR needs 4 x pairs = 160 positions ...

`DOMAINS` maps each field name to its domain (a small object with `check(value) -> error text or None` and a
`text` saying what is valid); `RULES` lists the cross-field rules, each `rule(budget) -> error text or None`.
A new `Budget` field must be declared here (tests/proxies/test_budget_rules.py fails otherwise):

    DOMAINS["my_lrs"] = FloatList(LearningRate(), min_len=0)
    DOMAINS["my_steps"] = PositiveInt(max=MAX_STEPS)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, Callable

from proxies.budget_error import BudgetError

MAX_WIDTH = 1 << 16
MAX_SEQ = 1 << 20
MAX_STEPS = 10_000_000
MAX_EXAMPLES = 100_000_000
MAX_BATCH = 1 << 16
MAX_LAYERS = 4096  # the layout parser's cap (search_space/layout.py)


# -- domains -------------------------------------------------------------------------------------------
class Domain:
    """What one field may hold. `check(value)` returns None when valid, else what is wrong (short)."""

    text = "any value"

    def check(self, value: Any) -> str | None:  # pragma: no cover - overridden
        return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class IntRange(Domain):
    min: int = 0
    max: int = MAX_STEPS
    what: str = "an integer"

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.what} ({self.min} to {self.max})"

    def check(self, value: Any) -> str | None:
        if not _is_int(value) or not self.min <= value <= self.max:
            return f"must be {self.text}"
        return None


def PositiveInt(max: int = MAX_STEPS) -> IntRange:
    return IntRange(1, max, "a positive integer")


def NonNegativeInt(max: int = MAX_STEPS, zero: str = "") -> IntRange:
    return IntRange(0, max, "a non-negative integer" + (f", 0 = {zero}" if zero else ""))


@dataclass(frozen=True)
class PowerOfTwo(Domain):
    min: int = 1
    max: int = MAX_SEQ

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a power of two ({self.min} to {self.max})"

    def check(self, value: Any) -> str | None:
        if not _is_int(value) or not self.min <= value <= self.max or value & (value - 1):
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class ConvWidth(Domain):
    """0 (off) or a convolution width of at least 2."""

    max: int = 1024

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a convolution width: 0 (none) or 2 to {self.max}"

    def check(self, value: Any) -> str | None:
        if not _is_int(value) or not (value == 0 or 2 <= value <= self.max):
            return f"is {self.text}"
        return None


@dataclass(frozen=True)
class RealRange(Domain):
    """A finite real number in [lo, hi] (or [lo, hi) with `open_hi`)."""

    lo: float = 0.0
    hi: float = 1.0
    open_hi: bool = False
    what: str = "a number"

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.what} in [{self.lo:g}, {self.hi:g}{')' if self.open_hi else ']'}"

    def check(self, value: Any) -> str | None:
        if not _is_real(value) or value < self.lo or value > self.hi or (self.open_hi and value >= self.hi):
            return f"must be {self.text}"
        return None


def Probability(open_hi: bool = False) -> RealRange:
    return RealRange(0.0, 1.0, open_hi, "a probability")


def Fraction() -> RealRange:
    return RealRange(0.0, 1.0, False, "a fraction")


@dataclass(frozen=True)
class LearningRate(Domain):
    """A learning rate: a finite number in [lo, hi] (AdamW; above 1 every proxy diverges)."""

    lo: float = 1e-7
    hi: float = 1.0

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a learning rate in [{self.lo:g}, {self.hi:g}]"

    def check(self, value: Any) -> str | None:
        if not _is_real(value) or not self.lo <= value <= self.hi:
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class FloatList(Domain):
    """A tuple (or list, after a JSON round trip) of numbers, each in `item`'s domain."""

    item: Domain = LearningRate()
    min_len: int = 0
    max_len: int = 64

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.min_len} to {self.max_len} values, each {self.item.text}"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, (tuple, list)) or not self.min_len <= len(value) <= self.max_len:
            return f"must be {self.text}"
        for v in value:
            if self.item.check(v):
                return f"must be {self.text} (bad item {v!r})"
        return None


@dataclass(frozen=True)
class Choice(Domain):
    names: tuple[str, ...] = ()

    @property
    def text(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.names)

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or value not in self.names:
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class NameList(Domain):
    """A comma-separated subset of `names` ("" for none), each at most once."""

    names: tuple[str, ...] = ()

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"comma-separated names from {', '.join(self.names)} (each once; '' for none)"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.text}"
        items = [t.strip() for t in value.split(",") if t.strip()]
        if any(t not in self.names for t in items) or len(set(items)) != len(items):
            return f"must be {self.text}"
        return None


_LEVEL = re.compile(r"^\s*\d+\s*x\s*\d+\s*$")


@dataclass(frozen=True)
class LadderSpec(Domain):
    text = "'' (the default ladder) or comma-separated SEQxPAIRS levels, e.g. '64x4,128x16'"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > 1000:
            return f"must be {self.text}"
        if any(not _LEVEL.match(t) for t in value.split(",") if t.strip()):
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class Text(Domain):
    """A non-empty single-line string of at most `max_len` characters."""

    max_len: int = 4096

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"a non-empty one-line text of at most {self.max_len} characters"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip() or len(value) > self.max_len or "\n" in value \
                or "\x00" in value:
            return f"must be {self.text}"
        return None


@dataclass(frozen=True)
class Flag(Domain):
    text = "true or false"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"must be {self.text}"


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
    "impl": Choice(("auto", "chunk", "recurrent", "triton")),
    "match_width": Flag(),
    "token_shift": ConvWidth(),
    "torch_compile": Flag(),
    "recall_lrs": FloatList(LearningRate(), min_len=0, max_len=16),
    "recall_shifts": FloatList(ConvWidth(), min_len=0, max_len=8),
    "recall_target": Probability(),
    "recall_check_every": NonNegativeInt(zero="a twentieth of the steps"),
    "lm_lrs": FloatList(LearningRate(), min_len=0, max_len=16),
    "graph": Choice(("auto", "on", "off")),
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


RULES: list[Rule] = [
    _heads_divide_width, _even_head_width, _kv_pairs_fit_sequence, _vocab_holds_pairs, _chunk_within_sequence,
    _examples_fill_a_batch, _eval_tokens_fill_a_window, _recall_suite_builds, _sweeps_repeat_nothing,
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
