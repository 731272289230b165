"""The teacher core on CPU: a tiny teacher trained and read back through transformers, students built from it
(initialised from the attention they replace), distilled in two stages and scored; bad checkpoints refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

pytest.importorskip("transformers")

from proxies.teacher.checkpoint import checkpoint_hash, load_teacher  # noqa: E402
from proxies.teacher.errors import TeacherError  # noqa: E402
from proxies.teacher.student import build_student  # noqa: E402
from tests.teacher_util import BERT, LLAMA, fast_budget, make_teacher, write_config  # noqa: E402


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return make_teacher(tmp_path_factory.mktemp("teacher") / "ckpt")


def test_teacher_train_saves_a_checkpoint_transformers_reads(teacher_dir):
    import transformers

    assert (teacher_dir / "config.json").is_file() and (teacher_dir / "hybrid_nas_teacher.json").is_file()
    t = load_teacher(teacher_dir)
    assert isinstance(t.model, transformers.LlamaForCausalLM)
    b = fast_budget()
    assert (t.shape.n_layers, t.shape.d_model, t.shape.n_heads, t.shape.context) == (b.n_layers, b.d_model,
                                                                                     b.n_heads, b.lm_seq_len)
    assert t.meta["tokenizer"] == "bytes-utf8" and t.hash == checkpoint_hash(teacher_dir)
    assert not any(p.requires_grad for p in t.model.parameters())


def test_swa_student_with_a_long_window_is_the_teacher(teacher_dir):
    """q, k, v, o copied, the teacher's rotary and scale: sliding-window attention over the whole sequence
    reproduces the teacher's logits exactly."""
    t = load_teacher(teacher_dir)
    s = build_student(t, "attn,swa,attn,swa", fast_budget().with_overrides({"window": 4096}))
    x = torch.randint(0, 256, (2, 40))
    with torch.no_grad():
        ref, out = t.model(input_ids=x).logits, s.model(input_ids=x).logits
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert s.copied == {1: ["qkv", "o"], 3: ["qkv", "o"]}


def test_replaced_layer_is_attention_initialised_and_differs_only_from_there(teacher_dir):
    t = load_teacher(teacher_dir)
    s = build_student(t, "attn,gla,attn*2", fast_budget())
    attn = t.model.model.layers[1].self_attn
    gla = s.mixers[1]
    for mine, theirs in ((gla.q, attn.q_proj), (gla.k, attn.k_proj), (gla.v, attn.v_proj), (gla.o, attn.o_proj)):
        assert torch.equal(mine.weight, theirs.weight)
    x = torch.randint(0, 256, (2, 32))
    with torch.no_grad():
        ref = t.model(input_ids=x, output_hidden_states=True).hidden_states
        out = s.model(input_ids=x, output_hidden_states=True).hidden_states
    assert torch.equal(ref[0], out[0]) and torch.equal(ref[1], out[1])  # embeddings and layer 0 untouched
    assert not torch.allclose(ref[2], out[2])  # layer 1 runs GLA
    assert not any(p.requires_grad for n, p in s.model.named_parameters() if "mixer" not in n)


def test_grouped_query_teacher_is_taken_by_repeating_k_and_v(tmp_path):
    import transformers

    cfg = transformers.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(cfg).save_pretrained(str(tmp_path / "gqa"))
    write_config(tmp_path / "gqa", (tmp_path / "gqa" / "config.json").read_text())
    (tmp_path / "gqa" / "hybrid_nas_teacher.json").write_text('{"tokenizer": "bytes-utf8"}')
    t = load_teacher(tmp_path / "gqa")
    assert (t.shape.n_heads, t.shape.n_kv_heads) == (4, 2)
    s = build_student(t, "swa,attn", fast_budget().with_overrides({"window": 4096}))
    x = torch.randint(0, 256, (1, 24))
    with torch.no_grad():
        torch.testing.assert_close(s.model(input_ids=x).logits, t.model(input_ids=x).logits, rtol=1e-5, atol=1e-5)


def test_two_stage_distillation_and_scores(teacher_dir):
    from proxies.teacher.distill import align_layers
    from proxies.teacher.score import evaluate_student
    from proxies.teacher.text import corpus_tokens, tokenizer_of

    t = load_teacher(teacher_dir)
    b = fast_budget().with_overrides({"distill_align_steps": 20})
    s = build_student(t, "gdn,attn,gla,attn", b)
    text = corpus_tokens(b.corpus, tokenizer_of(t), b.lm_seq_len)
    losses = align_layers(s, t, text.train, b, torch.device("cpu"), 0)
    assert len(losses) == 20 and losses[-1] < losses[0]
    m = evaluate_student("gdn,attn,gla,attn", t, b)
    ts = m.extra["teacher_scores"]
    assert ts["kl"] > 0 and m.perplexity > 1 and 0 <= m.recall <= 1
    assert {"recall_kv_1x", "recall_kv_2x", "recall_passkey_1x", "recall_passkey_2x"} <= set(ts)
    assert m.extra["kl_steps"] == b.distill_kl_steps and m.flops_context == t.shape.context
    assert m.extra["flops_fvcore"] > 0 and m.flops > 0
    full = evaluate_student("attn*4", t, b)  # nothing replaced: the teacher itself
    assert full.extra["teacher_scores"]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert full.perplexity == pytest.approx(full.extra["teacher_scores"]["teacher_perplexity"], rel=1e-6)
    assert m.state_bytes < full.state_bytes  # two KV caches replaced by fixed-size states


def test_probes_fill_the_length_and_mark_the_answers():
    from proxies.teacher.probes import make_probe
    from proxies.teacher.text import Bytes, corpus_tokens

    tok = Bytes()
    val = corpus_tokens("shakespeare", tok, 64).val
    kv = make_probe("kv", tok, val, 128, 3, 0)
    pk = make_probe("passkey", tok, val, 64, 3, 0)
    assert kv.tokens.shape == (3, 128) and pk.tokens.shape == (3, 64)
    assert (kv.answer.sum(1) == 8).all() and (pk.answer.sum(1) == 5).all()  # 4 two-digit values; 5 digits
    assert torch.equal(make_probe("kv", tok, val, 128, 3, 0).tokens, kv.tokens)  # the seed fixes them


@pytest.mark.parametrize("config, words", [
    (None, "no such directory"),
    ("{not json", "not a readable model config"),
    (BERT, "not a causal language model"),
    ({**LLAMA, "hidden_size": 36, "num_attention_heads": 4}, "head size 9|head_dim`=9"),  # ours, or transformers' own check
    ({**LLAMA, "hidden_size": 30, "num_attention_heads": 4}, "not divisible"),
    ({**LLAMA, "num_attention_heads": 4, "num_key_value_heads": 3}, "do not divide"),
])
def test_bad_checkpoints_are_refused(tmp_path, config, words):
    d = tmp_path / "ckpt"
    if config is not None:
        write_config(d, config)
    with pytest.raises(TeacherError, match=words):
        load_teacher(d)


def test_distillation_knobs_leave_existing_cache_keys_alone():
    from proxies.budget import PRESETS

    for b in PRESETS.values():
        assert not any(k.startswith(("distill_", "student_", "probe_")) for k in b.key_dict())
    assert "distill_kl_steps" in fast_budget().key_dict()


def test_analytic_cost_matches_our_own_model_at_the_same_shape(teacher_dir):
    """A student of our Llama teacher costs what HybridLM of the same layout, width and heads costs."""
    from proxies.build import build_model
    from proxies.teacher.cost import student_flops, student_state_bytes
    from search_space.layout import Layout

    t = load_teacher(teacher_dir)
    b = fast_budget()
    for layout in ("attn*4", "gdn,attn,gdn,attn"):
        s = build_student(t, layout, b)
        ours = build_model(Layout.parse(layout), b, 256, 0)  # gdn's default widths are the teacher's (expand 1)
        assert student_flops(s, t.shape, 64) == ours.flops_per_token(64)
        assert student_state_bytes(s, t.shape, 64) == ours.state_bytes(64)


def test_stage_two_trains_only_the_mixers_unless_asked(teacher_dir):
    from proxies.teacher.distill import distill_end_to_end
    from proxies.teacher.text import corpus_tokens, tokenizer_of

    t = load_teacher(teacher_dir)
    before = t.model.model.layers[0].mlp.up_proj.weight.clone()
    for train_all in (False, True):
        b = fast_budget().with_overrides({"distill_kl_steps": 3, "student_train_all": train_all})
        s = build_student(t, "gla,attn*3", b)
        gla_before = s.mixers[0].q.weight.clone()
        text = corpus_tokens(b.corpus, tokenizer_of(t), b.lm_seq_len)
        assert len(distill_end_to_end(s, t, text.train, b, torch.device("cpu"), 0)) == 3
        assert not torch.equal(s.mixers[0].q.weight, gla_before)
        mlp = s.model.model.layers[0].mlp.up_proj.weight
        assert torch.equal(mlp, before) is (not train_all)
    assert torch.equal(t.model.model.layers[0].mlp.up_proj.weight, before)  # the teacher never moves


def test_the_short_convolutions_of_copied_parts_start_as_the_identity(teacher_dir):
    """With the budgets' default short_conv, a copied projection's convolution passes it through at first (the
    forget gates', whose projections are not copied, keep their own start); with short_conv off there are none."""
    t = load_teacher(teacher_dir)
    s = build_student(t, "gla,hgrn2,hgrn,attn", fast_budget())
    assert {c for c in s.copied[0] if "conv" in c} == {"conv_q=identity", "conv_k=identity", "conv_v=identity"}
    assert {c for c in s.copied[1] if "conv" in c} == {"conv_q=identity", "conv_i=identity"}
    assert {c for c in s.copied[2] if "conv" in c} == {"conv_i=identity"}
    for mixer, name in ((s.mixers[1], "conv_i"), (s.mixers[2], "conv_i")):
        w = getattr(mixer, name).weight
        assert torch.equal(w[:, -1], torch.ones_like(w[:, -1])) and not w[:, :-1].any()
    assert not torch.equal(s.mixers[1].conv_f.weight[:, :-1], torch.zeros_like(s.mixers[1].conv_f.weight[:, :-1]))
    plain = build_student(t, "gla,hgrn2,hgrn,attn", replace(fast_budget(), short_conv=False))
    assert not any("conv" in c for layer in plain.copied.values() for c in layer)
