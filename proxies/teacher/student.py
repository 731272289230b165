"""The student: a copy of the teacher whose chosen decoder layers run one of our mixers instead of attention.

The layout has the teacher's depth; layer i named `attn` keeps the teacher's own attention module (its rotary,
its cache, its kernels); any other name swaps that layer's `self_attn` for `MixerAttention`, which calls the
mixer on the normed hidden states the decoder layer hands it and returns what the layer unpacks (the output and
None for the attention weights; as many items as the teacher's attention returned). The mixer is built from the
registry at the teacher's width and heads (key and value widths = heads x head size, so its projections have
attention's shapes) and initialised from the attention it replaces, where it has the same parts:

    attn, swa            qkv <- [q; k; v], o <- o   (swa = the teacher's attention limited to `window` keys)
    gla, retnet,         q <- q, k <- k, v <- v, o <- o
    gdn, deltanet        (and their short convolutions start as the identity, so q = silu(x W_q) at first)
    hgrn2                q <- q, i <- v, o <- o      (its forget gate f is the key: left as built; with short_conv
                                                      the q and i convolutions start as the identity)
    hgrn                 i <- v, o <- o              (with short_conv the i convolution starts as the identity)
    mamba2               the x rows of in_proj <- v, out_proj <- o, the x channels of its convolution identity
Grouped-query k and v are repeated per query head. Everything else of a mixer (gates, decays, norms) keeps the
mixer's own initialisation. Embeddings, norms, MLPs and kept attention are the teacher's, frozen unless the
budget's student_train_all is set.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from proxies import registry
from proxies.budget import Budget
from proxies.build import mixer_options
from proxies.mixers.base import Mixer, MixerConfig
from proxies.model import _init as init_weights
from proxies.teacher.checkpoint import Teacher, TeacherShape, decoder_layers
from proxies.teacher.errors import TeacherError
from search_space.layout import Layout


class MixerAttention(nn.Module):
    """Stands in for a Hugging Face decoder layer's `self_attn`: `mixer(hidden_states)` and None for the rest."""

    def __init__(self, mixer: Mixer, n_outputs: int = 2) -> None:
        super().__init__()
        self.mixer = mixer
        self.n_outputs = n_outputs

    def forward(self, hidden_states: torch.Tensor | None = None, *args: Any, **kwargs: Any) -> tuple:
        if hidden_states is None:  # every transformers version passes it first or as `hidden_states=`
            raise TypeError("MixerAttention needs the hidden states")
        out = self.mixer(hidden_states)
        return (out,) + (None,) * (self.n_outputs - 1)


@dataclass
class Student:
    model: nn.Module  # the Hugging Face model, its replaced layers holding MixerAttention
    layout: Layout
    mixers: dict[int, Mixer]  # layer index -> the mixer that replaced its attention
    copied: dict[int, list[str]] = field(default_factory=dict)  # layer index -> the mixer parts copied

    def mixer_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.mixers.values() for p in m.parameters()]


def mixer_config(shape: TeacherShape, budget: Budget, layer: int) -> MixerConfig:
    width = shape.inner / shape.d_model
    return MixerConfig(d_model=shape.d_model, n_heads=shape.n_heads, head_dim=shape.head_dim, expand_k=width,
                       expand_v=width, chunk_size=budget.chunk_size, window=budget.window,
                       rope_theta=shape.rope_theta, layer_idx=layer, n_layers=shape.n_layers,
                       **mixer_options(budget))


def check_layout(layout: Layout, shape: TeacherShape) -> None:
    if layout.n_layers != shape.n_layers:
        raise TeacherError(f"layout {layout.canonical()} has {layout.n_layers} layers, the teacher has "
                           f"{shape.n_layers}; a student keeps the teacher's depth")


def attention_outputs(teacher: Teacher) -> int:
    """How many items the teacher's attention returns (the decoder layer unpacks that many)."""
    n = teacher.meta.get("_attn_outputs")
    if n:
        return n
    seen: list[int] = []
    layer0 = decoder_layers(teacher.model)[0]
    hook = layer0.self_attn.register_forward_hook(
        lambda _m, _i, out: seen.append(len(out) if isinstance(out, tuple) else 1))
    try:
        with torch.no_grad():
            dev = next(teacher.model.parameters()).device
            teacher.model(input_ids=torch.zeros(1, 2, dtype=torch.long, device=dev), use_cache=False)
    finally:
        hook.remove()
    teacher.meta["_attn_outputs"] = seen[0]
    return seen[0]


def build_student(teacher: Teacher, layout: Layout | str, budget: Budget, seed: int = 0) -> Student:
    if isinstance(layout, str):
        layout = Layout.parse(layout)
    check_layout(layout, teacher.shape)
    n_out = attention_outputs(teacher)
    torch.manual_seed(seed)
    model = copy.deepcopy(teacher.model)
    for p in model.parameters():
        p.requires_grad_(False)
    layers = decoder_layers(model)
    mixers: dict[int, Mixer] = {}
    copied: dict[int, list[str]] = {}
    for i, name in enumerate(layout.layers):
        if name == "attn":
            continue
        try:
            mixer = registry.get(name).cls(mixer_config(teacher.shape, budget, i))
        except ValueError as e:
            raise TeacherError(f"mixer {name} cannot take the teacher's shape: {e}") from None
        mixer.apply(init_weights)  # as HybridLM starts its mixers: N(0, 0.02), then each mixer's own values
        mixer.post_init()
        copied[i] = init_from_attention(mixer, layers[i].self_attn, teacher.shape)
        mixer.float()
        for p in mixer.parameters():
            p.requires_grad_(True)
        mixer.to(next(layers[i].parameters()).device)
        layers[i].self_attn = MixerAttention(mixer, n_out)
        mixers[i] = mixer
    model.eval()
    return Student(model=model, layout=layout, mixers=mixers, copied=copied)


# -- initialisation from attention -----------------------------------------------------------------------
def attention_weights(attn: nn.Module, shape: TeacherShape) -> dict[str, torch.Tensor]:
    """q, k, v as (heads x head size, d) with grouped k/v repeated per query head; o as (d, heads x head size)."""
    rep = shape.n_heads // shape.n_kv_heads

    def per_query_head(w: torch.Tensor) -> torch.Tensor:
        if rep == 1:
            return w
        D, d = shape.head_dim, w.shape[1]
        return w.view(shape.n_kv_heads, D, d).repeat_interleave(rep, dim=0).reshape(shape.inner, d)

    return {"q": attn.q_proj.weight, "k": per_query_head(attn.k_proj.weight),
            "v": per_query_head(attn.v_proj.weight), "o": attn.o_proj.weight}


def _identity_conv(conv: nn.Module | None, rows: slice | None = None) -> bool:
    w = getattr(conv, "weight", None)
    if not isinstance(w, torch.Tensor):
        return False
    rows = rows or slice(None)
    w[rows].zero_()
    w[rows, -1] = 1.0
    return True


@torch.no_grad()
def init_from_attention(mixer: Mixer, attn: nn.Module, shape: TeacherShape) -> list[str]:
    """Copy the attention's projections into the mixer's parts of the same role and shape; names copied."""
    w = attention_weights(attn, shape)
    done: list[str] = []

    def put(dst: str, tensor: torch.Tensor, rows: slice | None = None) -> None:
        lin = getattr(mixer, dst, None)
        if not isinstance(lin, nn.Linear):
            return
        target = lin.weight if rows is None else lin.weight[rows]
        if target.shape == tensor.shape:
            target.copy_(tensor)
            done.append(dst if rows is None else f"{dst}[{rows.start}:{rows.stop}]")

    name = mixer.name
    if name in ("attn", "swa"):
        put("qkv", torch.cat([w["q"], w["k"], w["v"]]))
        put("o", w["o"])
    elif name in ("gla", "retnet", "gdn", "deltanet"):
        for part in ("q", "k", "v", "o"):
            put(part, w[part])
        for conv in ("conv_q", "conv_k", "conv_v"):
            if _identity_conv(getattr(mixer, conv, None)):
                done.append(f"{conv}=identity")
    elif name == "hgrn2":
        put("q", w["q"])
        put("i", w["v"])
        put("o", w["o"])
        for conv in ("conv_q", "conv_i"):  # with short_conv: the copied parts' convolutions pass them through
            if _identity_conv(getattr(mixer, conv, None)):
                done.append(f"{conv}=identity")
    elif name == "hgrn":
        put("i", w["v"])
        put("o", w["o"])
        if _identity_conv(getattr(mixer, "conv_i", None)):
            done.append("conv_i=identity")
    elif name == "mamba2":
        dv = mixer.dv
        put("in_proj", w["v"], slice(dv, 2 * dv))
        put("out_proj", w["o"])
        if _identity_conv(getattr(mixer, "conv", None), slice(0, dv)):
            done.append(f"conv[0:{dv}]=identity")
    return done
