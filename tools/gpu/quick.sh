#!/usr/bin/env bash
# Quick-budget evaluations of several layouts at once, each in its own process, sharing the GPU.
#   bash tools/gpu/quick.sh "LAYOUT1;LAYOUT2;..." [extra evaluate args]      (e.g. 'attn*12;gla*12' --budget quick)
# Run after `bash scripts/setup.sh`; RESULTS (default gpu-results) receives one JSON per evaluation.
set -uo pipefail
RESULTS=${RESULTS:-gpu-results}; mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader
IFS=';' read -ra LAYOUTS <<< "$1"; shift
i=0
for L in "${LAYOUTS[@]}"; do
  ( hybrid-nas evaluate "$L" --device cuda --no-store --format json "$@" \
      > "$RESULTS/eval_${TAG:-q}_$i.json" 2> "$RESULTS/eval_${TAG:-q}_$i.err"; echo "done $L" ) &
  i=$((i+1))
done
wait
python3 - "$RESULTS" <<'PY'
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
