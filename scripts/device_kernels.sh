#!/usr/bin/env bash
# Device run for the Triton kernels: correctness table, pytest (gpu marker), timings. Run from the repo root:
#   bash scripts/device_kernels.sh [check|test|bench|all]    (default all)
# Installs carried wheels (.whl: flash-linear-attention, fla-core, einops) into /tmp/site when present.
set -uo pipefail
MODE=${1:-all}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.
fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)'

if [[ $MODE == check || $MODE == all ]]; then
python3 - <<'PY' 2>&1 | tee "$OUT/check.txt"
import time, torch
from kernels.triton._check import check_gla, check_delta, TOL
from kernels.triton import _common as C
cases = [(2, 1, 2, 64, 64), (2, 37, 3, 64, 64), (1, 100, 2, 32, 128), (2, 1000, 2, 64, 64), (1, 130, 1, 128, 128), (1, 70, 2, 16, 32), (4, 300, 2, 64, 128)]
rows = []
def rec(name, shape, dt, errs):
    worst = max(errs.values(), key=lambda e: (e != e, e))
    ok = all(e < TOL[dt] for e in errs.values())
    rows.append((name, shape, str(dt)[6:], worst, ok, errs))
    print(f"{name:<14} {str(shape):<22} {str(dt)[6:]:<9} worst={worst:.2e} {'ok' if ok else 'FAIL'}  " + " ".join(f"{k}={v:.1e}" for k, v in errs.items()), flush=True)
t0 = time.time()
for shape in cases:
    for gate in ("scalar", "channel", "none"):
        rec(f"gla_{gate}", shape, torch.bfloat16, check_gla(*shape, gate=gate, seed=1))
    for gated in (True, False):
        rec("delta_" + ("gated" if gated else "plain"), shape, torch.bfloat16, check_delta(*shape, gated=gated, seed=1))
for dt in (torch.float32, torch.float16):
    for gate in ("scalar", "channel"):
        rec(f"gla_{gate}", (2, 100, 2, 64, 64), dt, check_gla(2, 100, 2, 64, 64, gate=gate, dtype=dt, seed=2))
    rec("delta_gated", (2, 100, 2, 64, 64), dt, check_delta(2, 100, 2, 64, 64, gated=True, dtype=dt, seed=2))
# repeat one case: a moving error is a race
for i in range(2):
    rec("delta_gated", (4, 300, 2, 64, 128), torch.bfloat16, check_delta(4, 300, 2, 64, 128, gated=True, seed=7))
print(f"checks took {time.time()-t0:.1f}s; failures: {sum(not r[4] for r in rows)} of {len(rows)}")
for n, k in C.LAUNCHED.items():
    try:
        print(f"{n}: regs={k.n_regs} spills={k.n_spills} shared={k.metadata.shared}")
    except Exception as e:
        print(n, e)
PY
fi

if [[ $MODE == test || $MODE == all ]]; then
  python3 -m pytest -q -p no:cacheprovider -o addopts="" -m gpu tests/kernels/test_triton_gla.py tests/kernels/test_triton_delta.py 2>&1 | tail -15
fi

if [[ $MODE == bench || $MODE == all ]]; then
python3 - <<'PY' 2>&1 | tee "$OUT/bench.txt"
import json, os, torch
from kernels.bench import bench_kernels, format_table
rows = bench_kernels()
open(os.environ.get("OUT", "/tmp") + "/bench.json", "w").write(json.dumps(rows, indent=1))
print(format_table(rows))
PY
fi
