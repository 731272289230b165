"""A teacher on the command line: open it (checked, hashed) and check a search's depth against it."""

from __future__ import annotations

from typing import Any

from nas.errors import UsageError


def open_teacher(path: str) -> tuple[Any, dict[str, Any]]:
    """The loaded teacher and its cache-key part {"path", "hash"}; a bad checkpoint is a TeacherError (exit 2)."""
    from proxies.teacher.checkpoint import load_teacher
    from proxies.teacher.text import tokenizer_of

    teacher = load_teacher(path)
    tokenizer_of(teacher)  # no tokenizer: the user's mistake, before anything is trained or stored
    return teacher, teacher.key()


def teacher_depth(teacher: Any, layers: int | None) -> int:
    depth = teacher.shape.n_layers
    if layers is not None and layers != depth:
        raise UsageError(f"--layers {layers} disagrees with the teacher's depth {depth}; a student keeps the "
                         "teacher's depth (leave --layers out)")
    return depth


def check_student_layout(teacher: Any, n_layers: int, canonical: str) -> None:
    if n_layers != teacher.shape.n_layers:
        raise UsageError(f"layout {canonical} has {n_layers} layers, the teacher has {teacher.shape.n_layers}; "
                         "a student keeps the teacher's depth")
