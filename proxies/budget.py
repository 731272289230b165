"""Budget presets for proxy training: `smoke` (CPU, seconds), `quick` (one GPU, minutes per layout with its
sweeps), `standard`.

Every knob is overridable (`Budget.with_overrides({"d_model": 256})`, or `--set d_model=256` on the CLI).
A budget serialises to a flat dict that, with the seed, keys the evaluation cache in the database. For readers the
fields are grouped in typed sections (`SECTIONS`: model, recall, recipe sweep, language modelling, training, cost and
engine; `Budget.section(name)`, `describe_budget(b)`, `hybrid-nas budget PRESET`); the grouping is a view only and
never changes the flat form or the cache key.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from proxies.budget_error import BudgetError
from proxies.budget_rules import check_budget, describe  # every field's domain and the cross-field rules

TIMING_KNOBS = ("side_by_side", "stack_sweep")  # how the work is scheduled, not what it computes: never keyed
SUITE_KNOBS = ("recall_suite", "recall_ladder", "recall_tasks", "recall_noise", "recall_steps")
# knobs added after results were first stored, each with the value those results were trained at: a knob at that
# value stays out of the cache key, so the older results still match
LATE_KNOBS: dict[str, Any] = {"token_shift": 0, "short_conv": False, "mamba2_norm": True, "hgrn2_norm": True,
                              "retnet_decays": "paper",
                              "torch_compile": False, "recall_lrs": (), "recall_shifts": (), "lm_lrs": (),
                              "recall_target": 0.0, "recall_check_every": 0, "graph": "auto",
                              "recall_stop_sweep": False,
                              # distillation from a teacher (proxies/teacher/): every default leaves older keys as they were
                              "distill_align_steps": 0, "distill_align_lr": 0.0, "distill_kl_steps": 0,
                              "distill_kl_lr": 0.0, "student_train_all": False, "probe_examples": 16}


@dataclass(frozen=True)
class Section:
    """One group of budget fields, for readers: a title and the field names, in the order they are shown."""

    title: str
    fields: tuple[str, ...]


# Every Budget field is in exactly one section (tests/proxies/test_budget_sections.py).
SECTIONS: dict[str, Section] = {
    "model": Section("the preset's name and the network every layout is built at",
                     ("name", "n_layers", "d_model", "n_heads", "chunk_size", "window", "match_width", "token_shift",
                      "short_conv", "mamba2_norm", "hgrn2_norm", "retnet_decays")),
    "recall": Section("the MQAR task and the recall suite",
                      ("mqar_vocab", "mqar_seq_len", "mqar_kv_pairs", "mqar_train_examples", "mqar_test_examples",
                       "mqar_steps", "mqar_batch", "mqar_lr", "recall_suite", "recall_ladder", "recall_tasks",
                       "recall_noise", "recall_steps")),
    "sweep": Section("the recipe sweep: the recipes each task trains at, the best kept (docs/recipe.md)",
                     ("recall_lrs", "recall_shifts", "recall_target", "recall_check_every", "recall_stop_sweep",
                      "lm_lrs")),
    "lm": Section("language modelling: the corpus and its training",
                  ("corpus", "lm_seq_len", "lm_steps", "lm_batch", "lm_lr", "lm_eval_tokens")),
    "training": Section("what every task's optimiser shares", ("precision", "weight_decay", "warmup_frac")),
    "engine": Section("how costs are counted and how the steps run",
                      ("flops_context", "impl", "torch_compile", "graph", "side_by_side", "stack_sweep")),
    "distill": Section("distilling a pretrained teacher into a student (docs/teacher.md)",
                       ("distill_align_steps", "distill_align_lr", "distill_kl_steps", "distill_kl_lr",
                        "student_train_all", "probe_examples")),
}


@dataclass(frozen=True, kw_only=True)
class Budget:
    name: str
    n_layers: int  # default depth for a search at this budget
    d_model: int
    n_heads: int
    chunk_size: int = 64
    window: int = 64  # sliding-window attention
    # recall: MQAR
    mqar_vocab: int = 256
    mqar_seq_len: int = 64
    mqar_kv_pairs: int = 4
    mqar_train_examples: int = 10_000
    mqar_test_examples: int = 500
    mqar_steps: int = 100
    mqar_batch: int = 32
    mqar_lr: float = 3e-3
    # the recipe protocol: every layout trains at each learning rate of the sweep and keeps its best score
    recall_lrs: tuple[float, ...] = ()  # learning rates of the recall sweep (): mqar_lr alone
    recall_shifts: tuple[int, ...] = ()  # token-shift widths of the recall sweep, crossed with its rates (): token_shift
    recall_target: float = 0.0  # early stop once held-out validation accuracy reaches it (Zoology: 0.99); 0: off
    recall_check_every: int = 0  # steps between early-stop checks (0: a twentieth of the steps)
    recall_stop_sweep: bool = False  # once one point reaches recall_target, every point stops at its next check
    # recall suite (proxies/tasks/recall_suite.py): "mqar" trains the single MQAR task above (the default);
    # "ladder" trains one model on MQAR at a ladder of difficulties plus MAD's noisy recall and selective
    # copying, and reports each task's held-out accuracy and their mean as `recall`
    recall_suite: str = "mqar"
    recall_ladder: str = ""  # MQAR levels "SEQxPAIRS,..." (e.g. "64x4,128x16"); "" = base, 2x and 4x the base
    recall_tasks: str = "noisy,selcopy"  # the MAD tasks added to the ladder (noisy, selcopy; "" for none)
    recall_noise: float = 0.4  # fraction of noise slots in noisy recall
    recall_steps: int = 0  # training steps of the suite's model (0: mqar_steps)
    # language modelling
    corpus: str = "shakespeare"
    lm_seq_len: int = 128
    lm_steps: int = 100
    lm_batch: int = 16
    lm_lr: float = 3e-3
    lm_lrs: tuple[float, ...] = ()  # learning rates of the language-modelling sweep (): lm_lr alone
    lm_eval_tokens: int = 32_768
    # cost accounting
    flops_context: int = 2048
    precision: str = "bf16"  # bf16 autocast on CUDA; CPU always trains in fp32
    weight_decay: float = 0.1
    warmup_frac: float = 0.1
    impl: str = "auto"  # kernels implementation for the linear mixers
    match_width: bool = False  # size every mixer to attention's per-layer parameters (proxies.width)
    token_shift: int = 0  # width of a residual depthwise causal conv on every block's mixer input (0: none)
    # the proxies' architecture defaults, measured (docs/recipe.md, "The proxies' architecture defaults"): with
    # them every 3:1 twelve-layer hybrid at `quick` leaves the MQAR plateau; each reference's own form is one --set away
    short_conv: bool = True  # gla, retnet, hgrn2, hgrn: a short conv after their projections (fla: use_short_conv)
    mamba2_norm: bool = False  # mamba2's gated RMSNorm before its output projection (mamba_ssm: rmsnorm)
    hgrn2_norm: bool = False  # hgrn2's RMSNorm before its output projection (flash-linear-attention: g_norm)
    retnet_decays: str = "spread"  # retnet's per-head decays: "paper" (1 - 2^(-5-h)) or "spread" (the 8-head span)
    torch_compile: bool = False  # train and evaluate through torch.compile (same model; pays on long runs)
    graph: str = "auto"  # training step as one CUDA graph: auto (on CUDA unless torch_compile), on, off
    side_by_side: int = 0  # sweep points trained at once, each in a thread on its own CUDA stream (0: all on CUDA,
    # one at a time on CPU); it changes the time an evaluation takes, never its scores, so it keys nothing
    stack_sweep: bool = False  # each task's sweep as one model with stacked weights (proxies.stacked); keys nothing
    # distilling a pretrained teacher into a hybrid student (proxies/teacher/, docs/teacher.md); batches of
    # lm_batch windows of lm_seq_len tokens of the corpus in the teacher's tokenizer
    distill_align_steps: int = 0  # stage 1, each replaced layer fit to its attention's output (0: lm_steps)
    distill_align_lr: float = 0.0  # stage 1 learning rate (0: lm_lr)
    distill_kl_steps: int = 0  # stage 2, end-to-end KL to the teacher's logits (0: lm_steps)
    distill_kl_lr: float = 0.0  # stage 2 learning rate (0: lm_lr)
    student_train_all: bool = False  # stage 2 also trains the copied embeddings, MLPs, norms and kept attention
    probe_examples: int = 16  # examples of each recall probe (key-value lookup, passkey) at each context

    def __post_init__(self) -> None:
        check_budget(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def section(self, name: str) -> dict[str, Any]:
        """The fields of section `name` of `SECTIONS` and their values (a view: `to_dict` stays flat)."""
        if name not in SECTIONS:
            raise BudgetError(f"unknown budget section {name!r}; valid: {', '.join(SECTIONS)}")
        return {f: getattr(self, f) for f in SECTIONS[name].fields}

    def key_dict(self) -> dict[str, Any]:
        """The budget as it keys the evaluation cache: every field, except that knobs added after the first
        results were stored are left out while they keep their default (so older results still match), and the
        recall suite's knobs are left out while the suite is plain MQAR (they change nothing then), and the knobs
        that only schedule the work (`TIMING_KNOBS`) are always left out."""
        d = self.to_dict()
        for k in TIMING_KNOBS:
            d.pop(k)
        if d["recall_suite"] == "mqar":
            for k in SUITE_KNOBS:
                d.pop(k)
        for k, default in LATE_KNOBS.items():
            if d[k] == default:
                d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Budget":
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise BudgetError(f"unknown budget fields {unknown}; valid: {', '.join(f.name for f in fields(cls))}")
        tuples = {f.name for f in fields(cls) if f.type.startswith("tuple")}  # lists after a JSON round trip
        try:
            return cls(**{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in d.items()})
        except TypeError as e:  # a field missing
            raise BudgetError(f"budget: {e}") from None

    def sweep(self, task: str) -> tuple[float, ...]:
        """The learning rates a task trains at: "recall" (MQAR or the recall suite) or "lm"."""
        if task == "recall":
            return self.recall_lrs or (self.mqar_lr,)
        return self.lm_lrs or (self.lm_lr,)

    def recall_recipes(self) -> list[tuple[float, int]]:
        """The recall sweep's points: every (learning rate, token-shift width) pair, rates first."""
        return [(lr, w) for w in (self.recall_shifts or (self.token_shift,)) for lr in self.sweep("recall")]

    def uses_graph(self, device: str) -> bool:
        """Whether training on `device` runs as CUDA graphs."""
        on_cuda = str(device).startswith("cuda")
        if self.graph == "on":
            return on_cuda
        return self.graph == "auto" and on_cuda and not self.torch_compile

    def with_overrides(self, overrides: dict[str, Any]) -> "Budget":
        types = {f.name: f.type for f in fields(self)}
        kw: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in types:
                raise BudgetError(f"unknown budget field {key!r}; valid: {', '.join(sorted(types))}")
            kw[key] = _coerce(key, value, types[key])
        return replace(self, **kw)


def _coerce(key: str, value: Any, typ: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if typ.startswith("tuple"):  # "1e-3,3e-3" (or 1e-3/3e-3 inside a --level, whose items are comma-separated)
            item = int if typ == "tuple[int, ...]" else float
            return tuple(item(v) for v in re.split(r"[,;/\s]+", value) if v.strip())
        if typ == "int":
            return int(float(value)) if "e" in value.lower() else int(value)
        if typ == "float":
            return float(value)
        if typ == "bool":
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[value.lower()]
    except (ValueError, KeyError, OverflowError):
        what = {"int": "an integer", "float": "a number", "bool": "true or false",
                "tuple[float, ...]": "comma-separated numbers (e.g. 1e-3,3e-3)",
                "tuple[int, ...]": "comma-separated integers (e.g. 0,2)"}.get(typ, typ)
        raise BudgetError(f"budget field {key} needs {what}, got {value!r}") from None
    return value


PRESETS: dict[str, Budget] = {
    # CPU, seconds per layout: enough steps to move the metrics, for tests and the README's first command.
    # One learning rate per task (no sweep) and no early stop.
    "smoke": Budget(
        name="smoke", n_layers=4, d_model=32, n_heads=2, chunk_size=16, window=16,
        mqar_vocab=32, mqar_seq_len=24, mqar_kv_pairs=4, mqar_train_examples=2_000, mqar_test_examples=200,
        mqar_steps=60, mqar_batch=32, mqar_lr=5e-3,
        lm_seq_len=64, lm_steps=30, lm_batch=16, lm_lr=1e-2, lm_eval_tokens=8_192,
        flops_context=2048, precision="fp32",
    ),
    # One GPU, 12 layers. Each layout trains at every recipe of the sweeps and keeps its best (docs/recipe.md):
    # recall at 2 learning rates x token shift off/on, stopping early at 0.99 validation accuracy (Zoology's
    # rule); language modelling at 3 learning rates.
    "quick": Budget(
        name="quick", n_layers=12, d_model=128, n_heads=2, chunk_size=64, window=64,
        mqar_vocab=256, mqar_seq_len=128, mqar_kv_pairs=16, mqar_train_examples=100_000,
        mqar_test_examples=1_000, mqar_steps=3_000, mqar_batch=64, mqar_lr=1e-3,
        recall_lrs=(1e-3, 3e-3), recall_shifts=(0, 2), recall_target=0.99, recall_stop_sweep=True,
        lm_seq_len=512, lm_steps=500, lm_batch=32, lm_lr=2e-3, lm_lrs=(1e-3, 2e-3, 4e-3), lm_eval_tokens=131_072,
        flops_context=4096,
    ),
    # One GPU, several minutes per layout: closer to the published grids.
    "standard": Budget(
        name="standard", n_layers=24, d_model=256, n_heads=4, chunk_size=64, window=256,
        mqar_vocab=8192, mqar_seq_len=512, mqar_kv_pairs=64, mqar_train_examples=250_000,
        mqar_test_examples=3_000, mqar_steps=6_000, mqar_batch=64, mqar_lr=1e-3,
        recall_lrs=(3e-4, 1e-3, 3e-3), recall_shifts=(0, 2), recall_target=0.99, recall_stop_sweep=True,
        lm_seq_len=1024, lm_steps=4_000, lm_batch=32, lm_lr=1e-3, lm_lrs=(3e-4, 1e-3, 3e-3), lm_eval_tokens=1_048_576,
        flops_context=8192,
    ),
}


def describe_budget(b: Budget) -> list[dict[str, Any]]:
    """The budget by section, for help texts: one dict per section (name, title, and per field its value and what
    is valid), in `SECTIONS` order."""
    valid = describe()
    return [{"section": key, "title": sec.title,
             "fields": [{"field": f, "value": getattr(b, f), "valid": valid.get(f, "")} for f in sec.fields]}
            for key, sec in SECTIONS.items()]


def get_budget(name: str, overrides: dict[str, Any] | None = None) -> Budget:
    if name not in PRESETS:
        raise BudgetError(f"unknown budget {name!r}; valid: {', '.join(PRESETS)}")
    b = PRESETS[name]
    return b.with_overrides(overrides) if overrides else b
