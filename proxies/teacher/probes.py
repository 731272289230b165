"""Recall probes in the teacher's tokenizer, placed in real text: key-value lookups and passkey retrieval.

Each example is exactly `length` tokens of held-out corpus text with facts written into it:
  kv       at the start, P facts "key=value; " (keys three random lowercase letters, values two digits,
           P = max(2, length // 32), fewer if they do not fit); then text; at the end every key asked again
           in a shuffled order, "key=value; ", the value's tokens being the answer.
  passkey  at a random depth, "the pass key is NNNNN. remember it. "; at the end "the pass key is NNNNN",
           the five digits' tokens being the answer.
Score: the fraction of answer tokens the model predicts (greedy, teacher-forced) at their positions. The
pieces are tokenized separately and joined, so a sub-word tokenizer sees the answer as its own tokens. Examples
depend on the seed, the probe and the length only, so every student of a teacher sees the same ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import torch

from proxies.teacher.text import Tokenizer

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Probe:
    name: str
    length: int
    tokens: torch.Tensor  # (N, length) long
    answer: torch.Tensor  # (N, length) bool: positions of answer tokens


def _filler(filler: torch.Tensor, n: int, rng: random.Random) -> list[int]:
    if n <= 0:
        return []
    if filler.numel() < n:
        raise ValueError(f"probes need {n} tokens of held-out text, the corpus has {filler.numel()}")
    s = rng.randrange(0, filler.numel() - n + 1)
    return filler[s: s + n].tolist()


def _example(pieces: list[tuple[list[int], bool]], length: int) -> tuple[list[int], list[bool]] | None:
    ids = [t for p, _ in pieces for t in p]
    mask = [a for p, a in pieces for _ in p]
    return (ids, mask) if len(ids) == length else None


def kv_example(tok: Tokenizer, filler: torch.Tensor, length: int, rng: random.Random):
    pairs = max(2, length // 32)
    while pairs >= 1:
        keys = rng.sample([a + b + c for a in LETTERS for b in LETTERS for c in LETTERS], pairs)
        vals = [f"{rng.randrange(10, 100)}" for _ in keys]
        facts = [(tok.encode(f"{k}={v}; "), False) for k, v in zip(keys, vals)]
        order = list(range(pairs))
        rng.shuffle(order)
        asks: list[tuple[list[int], bool]] = []
        for j in order:
            asks += [(tok.encode(f"{keys[j]}="), False), (tok.encode(vals[j]), True), (tok.encode("; "), False)]
        used = sum(len(p) for p, _ in facts + asks)
        if used <= length * 3 // 4:
            gap = _filler(filler, length - used, rng)
            return _example(facts + [(gap, False)] + asks, length)
        pairs -= 1
    return None


def passkey_example(tok: Tokenizer, filler: torch.Tensor, length: int, rng: random.Random):
    key = f"{rng.randrange(10_000, 100_000)}"
    plant = tok.encode(f"the pass key is {key}. remember it. ")
    ask = [(tok.encode(" the pass key is "), False), (tok.encode(key), True)]
    used = len(plant) + sum(len(p) for p, _ in ask)
    room = length - used
    if room < 0:
        return None
    before = rng.randrange(0, room + 1)
    pieces = [(_filler(filler, before, rng), False), (plant, False), (_filler(filler, room - before, rng), False)]
    return _example(pieces + ask, length)


BUILDERS = {"kv": kv_example, "passkey": passkey_example}


def make_probe(name: str, tok: Tokenizer, filler: torch.Tensor, length: int, n: int, seed: int) -> Probe | None:
    """`n` examples of probe `name` at `length` tokens; None when the probe does not fit that length."""
    rng = random.Random(f"{seed}/{name}/{length}")
    rows, masks = [], []
    for _ in range(n):
        ex = BUILDERS[name](tok, filler, length, rng)
        if ex is None:
            return None
        rows.append(ex[0])
        masks.append(ex[1])
    return Probe(name, length, torch.tensor(rows, dtype=torch.long), torch.tensor(masks, dtype=torch.bool))


@torch.no_grad()
def probe_accuracy(logits_of: Callable[[torch.Tensor], torch.Tensor], probe: Probe, device: torch.device,
                   batch: int = 16) -> float:
    """Fraction of answer tokens predicted by the argmax at the position before each."""
    right = total = 0
    for s in range(0, probe.tokens.shape[0], batch):
        x = probe.tokens[s: s + batch].to(device)
        m = probe.answer[s: s + batch, 1:].to(device)
        pred = logits_of(x[:, :-1]).argmax(-1)  # (B, L-1): the prediction of token p+1
        right += int(((pred == x[:, 1:]) & m).sum())
        total += int(m.sum())
    return right / max(1, total)
