"""Text in the teacher's tokenizer: the tokenizer itself and the corpus as training and held-out token streams.

A teacher made by `teacher train` names its tokenizer in hybrid_nas_teacher.json ("bytes-utf8", the LM proxy's
byte tokenizer: token = byte, vocabulary 256). Any other checkpoint brings its own tokenizer files, read with
`AutoTokenizer.from_pretrained(dir, local_files_only=True)`. The corpus splits as the LM proxy's does for bytes
(proxies.tasks.lm.LMData: the held-out tail of the text); for another tokenizer the last 5% of the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from proxies.teacher.checkpoint import Teacher, require_transformers
from proxies.teacher.errors import TeacherError


class Tokenizer:
    """encode(text) -> list of ids; decode(ids) -> text; `name` for the metrics."""

    name = ""

    def encode(self, text: str) -> list[int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class Bytes(Tokenizer):
    name = "bytes-utf8"

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


class HFTokenizer(Tokenizer):
    def __init__(self, tok) -> None:
        self.tok = tok
        self.name = f"hf:{getattr(tok, 'name_or_path', '') or type(tok).__name__}"

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(list(ids))


def tokenizer_of(teacher: Teacher) -> Tokenizer:
    if teacher.meta.get("tokenizer") == Bytes.name:
        return Bytes()
    transformers = require_transformers()
    try:
        tok = transformers.AutoTokenizer.from_pretrained(teacher.path, local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise TeacherError(f"teacher {teacher.path}: no tokenizer found ({type(e).__name__}); save one with the "
                           "checkpoint (tokenizer.save_pretrained) ") from None
    return HFTokenizer(tok)


@dataclass(frozen=True)
class TokenText:
    train: torch.Tensor  # (n,) long ids
    val: torch.Tensor  # (m,) long ids, held out
    val_bytes_per_token: float  # UTF-8 bytes of the held-out text per token (1 for bytes): bits per byte
    tokenizer: str


_TEXTS: dict[tuple[str, str, int], TokenText] = {}


def corpus_tokens(corpus: str, tok: Tokenizer, seq_len: int) -> TokenText:
    """The corpus in `tok`, split (cached per process by corpus, tokenizer name and window length)."""
    key = (corpus, tok.name, seq_len)
    if key not in _TEXTS:
        _TEXTS[key] = _corpus_tokens(corpus, tok, seq_len)
    return _TEXTS[key]


def _corpus_tokens(corpus: str, tok: Tokenizer, seq_len: int) -> TokenText:
    from proxies.lm_data import prepare_lm
    from proxies.tasks.corpus import load_corpus

    if isinstance(tok, Bytes):
        from proxies.lm_data import lm_split

        split = lm_split(prepare_lm(corpus), seq_len)
        return TokenText(split.train.long(), split.val.long(), 1.0, tok.name)
    text = load_corpus(corpus)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    cut = int(ids.numel() * 0.95)
    val = ids[cut:]
    per = len(tok.decode(val.tolist()).encode("utf-8")) / max(1, val.numel())
    return TokenText(ids[:cut], val, per, tok.name)


def val_windows(text: TokenText, seq_len: int, max_tokens: int) -> torch.Tensor:
    """(N, seq_len + 1) held-out windows at stride seq_len, at most max_tokens // seq_len of them, evenly spaced."""
    v = text.val
    n = (v.numel() - 1) // seq_len
    if n < 1:
        raise TeacherError(f"the held-out text ({v.numel()} tokens) is shorter than one window of {seq_len + 1}")
    starts = torch.arange(n) * seq_len
    keep = max(1, min(n, max_tokens // seq_len))
    starts = starts[torch.linspace(0, n - 1, keep).round().long()]
    return torch.stack([v[s: s + seq_len + 1] for s in starts.tolist()])
