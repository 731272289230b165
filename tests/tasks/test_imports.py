"""proxies.tasks stays import-light: no nas/storage, no datasets at import time."""
from __future__ import annotations

import ast
from pathlib import Path

import proxies.tasks

FORBIDDEN = ("nas", "storage", "datasets")


def test_tasks_do_not_import_nas_storage_or_datasets_at_module_level():
    folder = Path(proxies.tasks.__file__).parent
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: lazy imports inside functions are allowed
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        for node in ast.walk(tree):  # and never nas/storage anywhere
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert (node.module or "").split(".")[0] not in ("nas", "storage"), path.name
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in ("nas", "storage") for a in node.names), path.name


def test_public_names_are_exported():
    for name in proxies.tasks.__all__:
        assert hasattr(proxies.tasks, name), name
