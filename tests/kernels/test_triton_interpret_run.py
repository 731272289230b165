"""Runs the interpreter suite (test_triton_interpret.py) in a child process with TRITON_INTERPRET=1, so the plain
`python3 -m pytest -q` of the README and CI holds the Triton kernels against their references on a CPU too
(the variable must be set before Triton is imported, hence the child)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="the interpreter suite runs directly")
def test_triton_kernels_on_the_cpu_interpreter():
    pytest.importorskip("triton")
    here = Path(__file__).parent
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                        str(here / "test_triton_interpret.py")], env=env, capture_output=True, text=True,
                       cwd=here.parent.parent, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout[-500:]
