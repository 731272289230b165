#!/usr/bin/env bash
# Device run for the Triton kernels: correctness table, pytest (gpu marker), timings. Run from the repo root:
#   bash scripts/device_kernels.sh [check|check-gla|check-delta|check-delta-terms|test|bench|fla|all]  (default all)
# HYBRID_NAS_BWD_WARPS=4|8 sets the backward kernels' warps (default 4).
# check-delta-terms (not in all): the delta-rule dk debugging run, kernels/NOTES.md "What is left".
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

check() {  # $1: gla|delta
timeout ${CHECK_TIMEOUT:-150} python3 - "$1" <<'PY' 2>&1 | tee -a "$OUT/check.txt"
import sys, time, torch
from kernels.triton._check import check_gla, check_delta, TOL, failures
from kernels.triton import _common as C
fam = sys.argv[1]
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
            rec(f"gla_{gate}", shape, torch.bfloat16, lambda: check_gla(*shape, gate=gate, h0=st, ht=st, seed=1, emulate=True))
    else:
        for gated in (True, False):
            rec("delta_" + ("gated" if gated else "plain"), shape, torch.bfloat16,
                lambda: check_delta(*shape, gated=gated, h0=st, ht=st, seed=1, **kw))
if fam == "gla":
    rec("gla_scalar", (2, 100, 2, 64, 64), torch.float32, lambda: check_gla(2, 100, 2, 64, 64, gate="scalar", dtype=torch.float32, seed=2))
    rec("gla_channel", (2, 100, 2, 64, 64), torch.float32, lambda: check_gla(2, 100, 2, 64, 64, gate="channel", dtype=torch.float32, seed=2))
    rec("gla_scalar", (2, 100, 2, 64, 64), torch.float16, lambda: check_gla(2, 100, 2, 64, 64, gate="scalar", dtype=torch.float16, seed=2))
else:
    rec("delta_gated", (2, 100, 2, 64, 64), torch.float32, lambda: check_delta(2, 100, 2, 64, 64, gated=True, dtype=torch.float32, seed=2))
    for i in range(2):  # same inputs twice: a moving error is a race
        rec("delta_gated", (4, 300, 2, 64, 128), torch.bfloat16, lambda: check_delta(4, 300, 2, 64, 128, gated=True, seed=7))
print(f"{fam} checks took {time.time()-t0:.0f}s; failures: {nfail}", flush=True)
for n, k in C.LAUNCHED.items():
    try:
        print(f"  {n}: regs={k.n_regs} spills={k.n_spills} shared={k.metadata.shared}")
    except Exception as e:
        print(" ", n, e)
PY
}
if [[ $MODE == check || $MODE == all || $MODE == check-gla ]]; then
  HYBRID_NAS_KERNEL_SYNC=1 check gla
fi
if [[ $MODE == check || $MODE == all || $MODE == check-delta ]]; then
  HYBRID_NAS_KERNEL_SYNC=1 check delta
fi

# One python process per job (a CUDA fault poisons only its own context); all jobs run at once (compiles are
# CPU-bound, 16 cores) and their outputs are printed in order when all are done.
delta_job() {  # $1: terms B,T,H,K,V | alt  (alt: HYBRID_NAS_DELTA_ALT names the formulation)
timeout ${JOB_TIMEOUT:-100} python3 - "$@" <<'PY' 2>&1
import os, sys, time, torch
from kernels.triton._check import check_delta_terms, check_delta, TOL
from kernels.triton import _common as C
mode, t00 = sys.argv[1], time.time()
# CHECK_DEVICE=cpu (with TRITON_INTERPRET=1): a local dry run of this mode in float32 on the interpreter
dev = os.environ.get("CHECK_DEVICE", "cuda")
kw = dict(device=dev, dtype=torch.bfloat16 if dev == "cuda" else torch.float32)
dead = None  # after a CUDA error the context is unusable: later cases only say so
def case(label, fn, fmt):
    global dead
    if dead:
        print(f"{label:<34} ERROR skipped (CUDA context poisoned by: {dead})", flush=True)
        return
    t0 = time.time()
    try:
        errs = fn()
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {str(e)[:250]}".replace("\n", " ")
        print(f"{label:<34} ERROR {msg}", flush=True)
        if "CUDA" in msg or "cuda" in msg or "illegal" in msg:
            dead = msg[:80]
        return
    print(f"{label:<34} " + fmt(errs) + f" ({time.time() - t0:.0f}s)", flush=True)
if mode == "terms":
    shape = tuple(int(x) for x in sys.argv[2].split(","))
    def fmt(e):
        bad = [k for k, v in e.items() if not v < 5e-2]
        return " ".join(f"{v:8.1e}" for v in e.values()) + "  bad=" + (",".join(bad) or "-")
    for gated in (True, False):
        case(f"terms {'gated' if gated else 'plain'} {shape}",
             lambda: check_delta_terms(*shape, gated=gated, h0=True, ht=True, seed=1, **kw), fmt)
else:
    alt = os.environ.get("HYBRID_NAS_DELTA_ALT", "")
    def fmt(e):
        ok = all(v < TOL[kw["dtype"]] for v in e.values())
        return f"worst={max(e.values(), key=lambda v: (v != v, v)):.1e} {'ok' if ok else 'FAIL'} " + \
            " ".join(f"{k}={v:.0e}" for k, v in e.items())
    for shape, st in (((2, 37, 3, 64, 64), True), ((2, 1000, 2, 64, 64), False)):
        for gated in (True, False):
            case(f"{alt:<12} {'gated' if gated else 'plain'} {shape}",
                 lambda: check_delta(*shape, gated=gated, h0=st, ht=st, seed=1, **kw), fmt)
k = C.LAUNCHED.get("_delta_bwd_chunk_kernel")
try:
    print(f"  [{mode} {' '.join(sys.argv[2:])}{os.environ.get('HYBRID_NAS_DELTA_ALT', '')}] {time.time() - t00:.0f}s; "
          f"chunk kernel regs={k.n_regs} spills={k.n_spills} shared={k.metadata.shared}", flush=True)
except Exception as e:  # noqa: BLE001
    print(f"  [{mode}] {time.time() - t00:.0f}s; ({type(e).__name__})", flush=True)
PY
echo "  [exit $?]"
}
if [[ $MODE == check-delta-terms ]]; then
  export HYBRID_NAS_KERNEL_SYNC=${HYBRID_NAS_KERNEL_SYNC:-1}  # (0 for the CPU dry run)
  D=$(mktemp -d); t0=$SECONDS
  echo "delta dk terms, BWD_WARPS=${HYBRID_NAS_BWD_WARPS:-4}: rel errors vs float64 torch on the kernel's own saved buffers"
  n=0
  for shape in 2,1,2,64,64 2,37,3,64,64 2,200,2,64,64; do
    n=$((n+1)); HYBRID_NAS_DELTA_ALT= delta_job terms $shape > "$D/a$n.txt" &
  done
  for alt in dbt_scratch dat_scratch vnt_scratch all; do
    n=$((n+1)); HYBRID_NAS_DELTA_ALT=$alt delta_job alt > "$D/b$n.txt" &
  done
  wait
  printf '%-34s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n' case t1 t2 t3 t4 t5 dk_sum dk Vn dAt dB dBt dBt_vs_dB \
    | tee -a "$OUT/delta_terms.txt"
  cat "$D"/a*.txt | tee -a "$OUT/delta_terms.txt"
  echo "check_delta with HYBRID_NAS_DELTA_ALT (ok: every error < 1e-2 in bf16):" | tee -a "$OUT/delta_terms.txt"
  cat "$D"/b*.txt | tee -a "$OUT/delta_terms.txt"
  echo "check-delta-terms took $((SECONDS - t0))s" | tee -a "$OUT/delta_terms.txt"
  rm -rf "$D"
fi

if [[ $MODE == test || $MODE == all ]] && [[ -z "${SKIP_PYTEST:-}" ]]; then
  python3 -m pytest -q -p no:cacheprovider -o addopts="" -m gpu tests/kernels/test_triton_gla.py tests/kernels/test_triton_delta.py 2>&1 | tail -15
fi

if [[ $MODE == bench || $MODE == all ]]; then
timeout ${BENCH_TIMEOUT:-200} python3 - <<'PY' 2>&1 | tee "$OUT/bench.txt"
import json, os
from kernels.bench import bench_kernels, format_table
impls = tuple(os.environ.get("BENCH_IMPLS", "triton,torch_chunk").split(","))
rows = bench_kernels(ops=("gla_scalar", "gla_channel", "delta_gated", "delta"), impls=impls, rep_ms=100, verbose=True)
open(os.environ.get("OUT", "/tmp") + "/bench.json", "w").write(json.dumps(rows, indent=1))
PY
fi

if [[ $MODE == fla || $MODE == all ]]; then
timeout ${FLA_TIMEOUT:-150} python3 - <<'PY' 2>&1 | tee "$OUT/bench_fla.txt"
from kernels.bench import bench_kernels
import os
bench_kernels(shapes=[(2, 8192, 8, 128), (16, 1024, 4, 64)], ops=tuple(os.environ.get("FLA_OPS", "delta,delta_gated,gla_scalar,gla_channel").split(",")),
              impls=("fla",), sdpa=False, rep_ms=100, verbose=True)
PY
fi
