#!/usr/bin/env bash
# GPU host: quick-budget evaluations of 12-layer layouts, several processes sharing the GPU.
#   bash scripts/device_quick.sh "LAYOUT1;LAYOUT2;..." [extra evaluate args]
# Needs the wheelhouse (.wheelhouse) and corpus cache (.device-cache) carried along.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HYBRID_NAS_CACHE=$PWD/.device-cache
if [[ -z "${SKIP_INSTALL:-}" ]]; then
  python3 -m pip install -q --no-index --find-links .wheelhouse optuna sqlalchemy fvcore typer 2>&1 | grep -v WARNING
  python3 -m pip install -q --no-index --no-build-isolation --no-deps -e . 2>&1 | grep -v WARNING
fi
nvidia-smi --query-gpu=name --format=csv,noheader
IFS=';' read -ra LAYOUTS <<< "$1"; shift
i=0
for L in "${LAYOUTS[@]}"; do
  ( timeout ${EVAL_TIMEOUT:-0} hybrid-nas evaluate "$L" --device cuda --no-store --format json "$@" \
      > "$OUT/eval_${TAG:-q}_$i.json" 2> "$OUT/eval_${TAG:-q}_$i.err"; echo "done $L" ) &
  i=$((i+1))
done
wait
python3 - "$OUT" <<'PY'
import json, sys, glob, os
print(f"{'run':14s} {'layout':22s} {'recall':>7s} {'ppl':>7s} {'bpb':>6s} {'GFLOP/tok':>9s} {'params':>9s} {'wall s':>7s}")
for f in sorted(glob.glob(os.path.join(sys.argv[1], "eval_*.json"))):
    tag = os.path.basename(f)
    try:
        d = json.load(open(f))
    except Exception:
        print(f, "FAILED:", open(f.replace(".json", ".err")).read()[-600:]); continue
    print(f"{tag:14s} {d['layout']:22s} {d['recall']:7.3f} {d['perplexity']:7.3f} {d['bits_per_byte']:6.3f} {d['flops']/1e9:9.4f} {d['params']:9d} {d['wall_time_s']:7.1f}")
PY
