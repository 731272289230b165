"""GPU tests, each in a process of its own, so that one kernel's fault cannot fail the tests after it.

    python3 tools/gpu/isolated_tests.py [PYTEST_PATHS ...] [--jobs N] [--marker EXPR]

A CUDA fault (an illegal memory access) is sticky: every later CUDA call in that process fails, so in one
`pytest -m gpu tests/kernels` run a single faulting Triton case turns every test after it red (H200, Triton 3.6:
56 red, most of them collateral). This collects the tests (default `tests/kernels`, marker `gpu`), runs each
node in its own `pytest` process, N at a time (default 8; they share the GPU), and prints one line per test
(passed, failed with the first error line, xfailed, skipped) and the totals. Exits 1 if any test failed.
"""
import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

parser = argparse.ArgumentParser()
parser.add_argument("paths", nargs="*", default=["tests/kernels"])
parser.add_argument("--jobs", type=int, default=8)
parser.add_argument("--marker", default="gpu")
args = parser.parse_args()
base = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-m", args.marker]
listing = subprocess.run([*base, "--collect-only", "-q", *args.paths], capture_output=True, text=True)
nodes = [line for line in listing.stdout.splitlines() if "::" in line]
if not nodes:
    print(listing.stdout[-2000:] + listing.stderr[-2000:])
    sys.exit(2)


def run(node: str) -> tuple[str, str, str]:
    p = subprocess.run([*base, "-q", "-rfEsx", "--tb=line", node], capture_output=True, text=True,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    out = p.stdout + p.stderr
    for status in ("failed", "error", "xfailed", "xpassed", "passed", "skipped"):
        if re.search(rf"\b1 {status}\b", out):
            break
    else:
        status = f"exit {p.returncode}"
    first = next((line.strip() for line in out.splitlines()
                  if line.startswith(("E ", "FAILED", "ERROR")) or "Error:" in line), "")
    return node, status, first[:200] if status in ("failed", "error") or status.startswith("exit") else ""


counts: dict[str, int] = {}
with ThreadPoolExecutor(max_workers=args.jobs) as pool:
    for node, status, first in pool.map(run, nodes):
        counts[status] = counts.get(status, 0) + 1
        print(f"{status:8s} {node}" + (f"  | {first}" if first else ""), flush=True)
print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
sys.exit(1 if any(k not in ("passed", "xfailed", "skipped") for k in counts) else 0)
