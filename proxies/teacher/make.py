"""`hybrid-nas teacher train DIR`: a small Llama-style Transformer teacher, trained on the corpus, saved offline.

Sizes from the budget: d_model, n_layers, n_heads, the MLP of the LM proxy (SwiGLU, ~8/3 d), context lm_seq_len,
lm_steps steps of lm_batch windows at lm_lr, through proxies.train.train (the CUDA-graph engine on CUDA). The
tokenizer is the LM proxy's byte tokenizer (vocabulary 256), named in hybrid_nas_teacher.json next to the
weights, so the checkpoint reads text back without any download.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from proxies.budget import Budget
from proxies.teacher.checkpoint import META_FILE, require_transformers
from proxies.teacher.errors import TeacherError


class Logits(nn.Module):
    """A Hugging Face causal LM as `tokens -> logits` (what proxies.train.train and eval_batches call)."""

    def __init__(self, hf: nn.Module) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.hf(input_ids=tokens, use_cache=False).logits


def llama_config(budget: Budget, vocab_size: int = 256) -> Any:
    from proxies.model import mlp_hidden

    transformers = require_transformers()
    return transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=budget.d_model, intermediate_size=mlp_hidden(budget.d_model),
        num_hidden_layers=budget.n_layers, num_attention_heads=budget.n_heads, num_key_value_heads=budget.n_heads,
        max_position_embeddings=budget.lm_seq_len, rms_norm_eps=1e-6, tie_word_embeddings=True,
        rope_theta=10000.0, attention_bias=False, bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def train_teacher(out_dir: str | Path, budget: Budget, *, device: str = "cpu", seed: int = 0,
                  on_step: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train and save a teacher; returns what hybrid_nas_teacher.json records (validation loss included)."""
    from proxies.feeds import WindowFeed
    from proxies.lm_data import lm_eval_batches, lm_split, prepare_lm
    from proxies.tasks.lm import bits_per_byte, perplexity_from_loss
    from proxies.train import TrainConfig, eval_batches, train

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TeacherError(f"teacher train: {out} exists and is not a directory")
    transformers = require_transformers()
    corpus = prepare_lm(budget.corpus)
    dev = torch.device(device)
    torch.manual_seed(seed)
    hf = transformers.LlamaForCausalLM(llama_config(budget, corpus.vocab_size)).float()
    model = Logits(hf).to(dev)
    split = lm_split(corpus, budget.lm_seq_len)
    feed = WindowFeed.random(split.train, budget.lm_batch, budget.lm_seq_len, budget.lm_steps, seed, dev)
    cfg = TrainConfig(steps=budget.lm_steps, lr=budget.lm_lr, weight_decay=budget.weight_decay,
                      warmup_frac=budget.warmup_frac, precision=budget.precision,
                      graph=budget.uses_graph(device), task="teacher")
    t0 = time.perf_counter()
    result = train(model, feed, cfg, dev, on_step)
    wall = time.perf_counter() - t0
    nll, count, _ = eval_batches(model, lm_eval_batches(corpus, budget.lm_batch, budget.lm_seq_len,
                                                        budget.lm_eval_tokens), dev, budget.precision)
    loss = nll / count
    out.mkdir(parents=True, exist_ok=True)
    hf.to("cpu").save_pretrained(str(out))
    meta = {
        "tokenizer": "bytes-utf8", "corpus": budget.corpus, "context": budget.lm_seq_len, "seed": seed,
        "budget": budget.name, "steps": result.steps, "lr": budget.lm_lr, "batch": budget.lm_batch,
        "train_loss": result.losses[-1] if result.losses else None, "val_loss": loss,
        "val_perplexity": perplexity_from_loss(loss), "val_bits_per_byte": bits_per_byte(loss),
        "wall_time_s": wall, "device": device, "params": sum(p.numel() for p in hf.parameters()),
        "transformers": transformers.__version__,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta
