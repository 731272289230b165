"""A student's cost at a context length, counted analytically with the project's convention (proxies.mixers.base:
2 FLOPs per multiply-add of matrix products, convolutions and the token-mixing core; norms, activations and
gates not counted), so students and their teacher compare on one scale:

    kept attention   2 d (2 H Dh + 2 Hkv Dh) (q, o and the grouped k, v projections) + 4 H Dh keys(L) / L
    replaced layer   the mixer's own flops_per_token(L)
    MLP              3 x 2 d F (gate, up, down)          head   2 d V
Decode state at L: a kept layer's KV cache 2 L Hkv Dh; a mixer's state_bytes(L); bf16 (2 bytes) by default.
fvcore also traces a student (score.fvcore_flops, kept for comparison), but counts the Hugging Face attention over
all L x L score pairs (it gets an explicit mask), not the causal half counted here.
"""

from __future__ import annotations

from proxies.mixers.base import causal_keys, linear_flops
from proxies.teacher.checkpoint import TeacherShape
from proxies.teacher.student import Student


def attention_flops(shape: TeacherShape, context_len: int) -> float:
    d, inner, kv = shape.d_model, shape.inner, shape.n_kv_heads * shape.head_dim
    proj = 2 * linear_flops(d, inner) + 2 * linear_flops(d, kv)
    return proj + 4 * inner * causal_keys(context_len) / context_len


def mlp_flops(shape: TeacherShape) -> float:
    return 3 * linear_flops(shape.d_model, shape.mlp_hidden)


def student_flops(student: Student, shape: TeacherShape, context_len: int) -> float:
    total = linear_flops(shape.d_model, shape.vocab_size)
    for i in range(shape.n_layers):
        mixer = student.mixers.get(i)
        total += mixer.flops_per_token(context_len) if mixer is not None else attention_flops(shape, context_len)
        total += mlp_flops(shape)
    return total


def student_state_bytes(student: Student, shape: TeacherShape, context_len: int, dtype_bytes: int = 2) -> int:
    kv_cache = 2 * context_len * shape.n_kv_heads * shape.head_dim * dtype_bytes
    return sum(student.mixers[i].state_bytes(context_len, dtype_bytes) if i in student.mixers else kv_cache
               for i in range(shape.n_layers))
