#!/usr/bin/env bash
# The Triton kernels on a CUDA machine: accuracy table, the gpu-marked kernel tests, timings.
#   bash tools/gpu/kernels.sh [check|check-gla|check-delta|test|bench|fla|all]      (default all)
# Run from the repository root after `bash scripts/setup.sh` (a CUDA build of torch, and triton); RESULTS (default
# gpu-results) receives the tables.
# BWD_WARPS=4|8 sets the backward kernels' warps (default 4). `fla` needs `pip install flash-linear-attention`.
set -uo pipefail
MODE=${1:-all}
RESULTS=${RESULTS:-gpu-results}; mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} RESULTS
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)'

check() {  # $1: gla|delta
python3 - "$1" <<'PY' 2>&1 | tee -a "$RESULTS/check.txt"
import os, sys, time, torch
from kernels.triton import Options
from tools.kernel_accuracy import check_gla, check_delta, failures
fam = sys.argv[1]
launched = {}
# poisoned outputs, the Triton backward everywhere, a synchronise after each launch (names the kernel that faults)
opts = Options(poison=True, force_backward=True, sync=True, bwd_warps=int(os.environ.get("BWD_WARPS", "4")),
               on_launch=launched.__setitem__)
cases = [((2, 1, 2, 64, 64), True), ((2, 37, 3, 64, 64), True), ((2, 1000, 2, 64, 64), False),
         ((1, 130, 1, 128, 128), True), ((4, 300, 2, 64, 128), True)]
nfail = 0
def rec(name, shape, dt, fn):
    global nfail
    t0 = time.time()
    try:
        errs = fn()
    except Exception as e:
        print(f"{name:<14} {str(shape):<22} ERROR {type(e).__name__}: {str(e)[:300]}", flush=True)
        raise
    # failures(): above TOL and above 1.5x the emulated error of the same algorithm in this precision (x@emu)
    ok = not failures(errs, dt)
    errs = {k: v for k, v in errs.items() if not k.endswith("@emu")}
    worst = max(errs.values(), key=lambda e: (e != e, e))
    nfail += not ok
    print(f"{name:<14} {str(shape):<20} {str(dt)[6:]:<8} worst={worst:.1e} {'ok' if ok else 'FAIL'} ({time.time()-t0:.0f}s) " + " ".join(f"{k}={v:.0e}" for k, v in errs.items()), flush=True)
t0 = time.time()
for shape, st in cases:
    if fam == "gla":
        for gate in ("scalar", "channel", "none"):
            rec(f"gla_{gate}", shape, torch.bfloat16, lambda: check_gla(*shape, gate=gate, h0=st, ht=st, seed=1, emulate=True, options=opts))
    else:
        for gated in (True, False):
            rec("delta_" + ("gated" if gated else "plain"), shape, torch.bfloat16,
                lambda: check_delta(*shape, gated=gated, h0=st, ht=st, seed=1, options=opts))
if fam == "gla":
    rec("gla_scalar", (2, 100, 2, 64, 64), torch.float32, lambda: check_gla(2, 100, 2, 64, 64, gate="scalar", dtype=torch.float32, seed=2, options=opts))
    rec("gla_channel", (2, 100, 2, 64, 64), torch.float32, lambda: check_gla(2, 100, 2, 64, 64, gate="channel", dtype=torch.float32, seed=2, options=opts))
    rec("gla_scalar", (2, 100, 2, 64, 64), torch.float16, lambda: check_gla(2, 100, 2, 64, 64, gate="scalar", dtype=torch.float16, seed=2, options=opts))
else:
    rec("delta_gated", (2, 100, 2, 64, 64), torch.float32, lambda: check_delta(2, 100, 2, 64, 64, gated=True, dtype=torch.float32, seed=2, options=opts))
    for i in range(2):  # same inputs twice: a moving error is a race
        rec("delta_gated", (4, 300, 2, 64, 128), torch.bfloat16, lambda: check_delta(4, 300, 2, 64, 128, gated=True, seed=7, options=opts))
print(f"{fam} checks took {time.time()-t0:.0f}s; failures: {nfail}", flush=True)
for n, k in launched.items():
    try:
        print(f"  {n}: regs={k.n_regs} spills={k.n_spills} shared={k.metadata.shared}")
    except Exception as e:
        print(" ", n, e)
PY
}
if [[ $MODE == check || $MODE == all || $MODE == check-gla ]]; then
  check gla
fi
if [[ $MODE == check || $MODE == all || $MODE == check-delta ]]; then
  check delta
fi

if [[ $MODE == test || $MODE == all ]]; then
  python3 -m pytest -q -p no:cacheprovider -o addopts="" -m gpu tests/kernels/test_triton_gla.py tests/kernels/test_triton_delta.py 2>&1 | tail -15
fi

if [[ $MODE == bench || $MODE == all ]]; then
python3 - <<'PY' 2>&1 | tee "$RESULTS/bench.txt"
import json, os
from kernels.bench import bench_kernels
impls = tuple(os.environ.get("BENCH_IMPLS", "triton,torch_chunk").split(","))
rows = bench_kernels(ops=("gla_scalar", "gla_channel", "delta_gated", "delta"), impls=impls, rep_ms=100, verbose=True)
open(os.path.join(os.environ["RESULTS"], "bench.json"), "w").write(json.dumps(rows, indent=1))
PY
fi

if [[ $MODE == fla || $MODE == all ]]; then
python3 - <<'PY' 2>&1 | tee "$RESULTS/bench_fla.txt"
from kernels.bench import bench_kernels
import os
bench_kernels(shapes=[(2, 8192, 8, 128), (16, 1024, 4, 64)], ops=tuple(os.environ.get("FLA_OPS", "delta,delta_gated,gla_scalar,gla_channel").split(",")),
              impls=("fla",), sdpa=False, rep_ms=100, verbose=True)
PY
fi
