"""The per-layer sensitivity baseline of a teacher study (PostNAS / HALO rank layers this way).

Each layer in turn is replaced by the chosen mixer, every other layer keeps attention, and the student is distilled
at the study's own budget; the layer whose replacement raises the KL to the teacher most is the most sensitive.
These students are stored as evaluations of the study (no trial number), so they are cached, appear in `pareto`
like any student and the ranking can be read again from the database. The baseline for k attention layers keeps
the k most sensitive layers as attention and replaces the others; `compare` says, for every k the search tried,
whether its best student (lowest KL) beat that baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from nas.errors import UsageError
from search_space.layout import Layout

METRIC = "kl"  # what "loss increase" means here: KL to the teacher on held-out text (lower is better)


def single_replacement(n_layers: int, layer: int, mixer: str) -> Layout:
    return Layout.of(mixer if i == layer else "attn" for i in range(n_layers))


def keep_attention(n_layers: int, keep: list[int], mixer: str) -> Layout:
    return Layout.of("attn" if i in keep else mixer for i in range(n_layers))


@dataclass
class LayerScore:
    layer: int
    layout: str
    value: float | None  # the student's KL; None when its evaluation failed


def rank(scores: list[LayerScore]) -> list[int]:
    """Layers, most sensitive (largest KL when replaced) first; failed ones count as most sensitive."""
    return [s.layer for s in sorted(scores, key=lambda s: (-(s.value if s.value is not None else float("inf")),
                                                           s.layer))]


def run_sensitivity(evaluate: Callable[[Layout], tuple[str, dict[str, Any], str | None, float]], n_layers: int,
                    mixer: str) -> list[LayerScore]:
    out = []
    for i in range(n_layers):
        lay = single_replacement(n_layers, i, mixer)
        status, metrics, _, _ = evaluate(lay)
        v = metrics.get(METRIC) if status != "failed" else None
        out.append(LayerScore(i, lay.canonical(), float(v) if isinstance(v, (int, float)) else None))
    return out


@dataclass
class Comparison:
    k: int
    search_layout: str
    search_value: float
    baseline_layout: str
    baseline_value: float | None

    @property
    def beat(self) -> bool | None:
        if self.baseline_value is None:
            return None
        return self.search_value < self.baseline_value

    def line(self) -> str:
        base = "failed" if self.baseline_value is None else f"{self.baseline_value:.4g}"
        verdict = {True: "search beat the baseline", False: "search did not beat the baseline",
                   None: "no baseline"}[self.beat]
        if self.search_layout == self.baseline_layout:
            verdict = "search found the baseline itself"
        return (f"k={self.k} attention: search best {self.search_layout} {METRIC} {self.search_value:.4g} vs "
                f"keep-{self.k}-most-sensitive {self.baseline_layout} {METRIC} {base}: {verdict}")


def best_by_attention(evaluations: list[Any]) -> dict[int, tuple[str, float]]:
    """For each number of attention layers, the lowest-KL student of the study's search (its trials; the
    sensitivity and baseline students, stored without a trial number, are left out)."""
    best: dict[int, tuple[str, float]] = {}
    for e in evaluations:
        v = e.value(METRIC)
        if v is None or e.trial_number is None:
            continue
        k = e.n_attention
        if k not in best or v < best[k][1]:
            best[k] = (e.layout, v)
    return best


def compare(evaluate, evaluations: list[Any], ranking: list[int], n_layers: int, mixer: str) -> list[Comparison]:
    best = best_by_attention(evaluations)
    if not best:
        raise UsageError("the study has no complete student of its own search to compare with the baseline; "
                         "run `hybrid-nas search --teacher ...` first")
    out = []
    for k in sorted(best):
        lay = keep_attention(n_layers, ranking[:k], mixer)
        status, metrics, _, _ = evaluate(lay)
        v = metrics.get(METRIC) if status != "failed" else None
        out.append(Comparison(k, best[k][0], best[k][1], lay.canonical(), float(v) if v is not None else None))
    return out
