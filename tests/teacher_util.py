"""A tiny teacher for the teacher tests: trained by proxies.teacher.make at the smoke budget in about a second."""

from __future__ import annotations

import json
from pathlib import Path

FAST = {"lm_steps": 12, "lm_eval_tokens": 512, "probe_examples": 4, "distill_align_steps": 12,
        "distill_kl_steps": 6}
FAST_SETS = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]


def fast_budget():
    from proxies.budget import get_budget

    return get_budget("smoke", FAST)


def make_teacher(directory: Path) -> Path:
    from proxies.teacher.make import train_teacher

    train_teacher(directory, fast_budget(), seed=0)
    return directory


def write_config(directory: Path, config: dict | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = config if isinstance(config, str) else json.dumps(config)
    (directory / "config.json").write_text(text)
    return directory


LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
         "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 256,
         "max_position_embeddings": 64}
BERT = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 256}
