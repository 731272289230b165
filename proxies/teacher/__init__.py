"""Distilling a pretrained Transformer into hybrid students (docs/teacher.md).

    errors.py     TeacherError: a checkpoint the student cannot be built from (the CLI exits 2)
    checkpoint.py load a local Hugging Face causal-LM directory (transformers, imported lazily), check it, hash it
    text.py       the teacher's tokenizer and the corpus in it: training and held-out token streams
    make.py       `teacher train`: a small Llama-style teacher trained on the corpus, saved with save_pretrained
    student.py    the student: the teacher with chosen attention layers swapped for our mixers, init from q/k/v/o
    distill.py    the two stages: per-layer output matching, then end-to-end KL to the teacher's logits
    probes.py     recall probes in the teacher's tokenizer: key-value lookups and passkey retrieval
    cost.py       analytic FLOPs per token and decode-state bytes of a student at a context length
    score.py      evaluate_student(layout, teacher, budget) -> Metrics
"""
