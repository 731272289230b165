#!/usr/bin/env bash
# `search --ray` on one GPU: 8 quick-budget trials at 0.25 GPU, 4 at a time; then 3 of them alone, one at a time.
#   bash tools/gpu/ray.sh [extra search args]    (e.g. --budget quick --set mqar_steps=150 --set lm_steps=75)
# DEVICE=cpu for a dry run without a GPU; RESULTS (default gpu-results) receives the logs and the database.
set -uo pipefail
export PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
RESULTS=${RESULTS:-gpu-results}; mkdir -p "$RESULTS"
export HYBRID_NAS_TUNE_DIR=$PWD/$RESULTS/tune
DEVICE=${DEVICE:-cuda}
if [[ $DEVICE == cuda ]]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  export HYBRID_NAS_RAY_NUM_GPUS=$(python3 -c 'import torch; print(torch.cuda.device_count())')
  RES=(--device cuda --gpus-per-trial 0.25); RES1=(--device cuda --gpus-per-trial 0.25)
else
  RES=(--device cpu); RES1=(--device cpu)
fi
DB=sqlite:///$PWD/$RESULTS/ray.db
COMMON=(--sampler tune-grid --ratios pure,11:1,5:1,3:1 --mixers gdn,gla --db "$DB" "$@")
t0=$SECONDS
python3 -m nas.cli search --ray --study par "${COMMON[@]}" "${RES[@]}" --trials 8 \
  --max-concurrent 4 > "$RESULTS/par.log" 2>&1; echo "parallel run: exit $? in $((SECONDS - t0)) s"
tail -12 "$RESULTS/par.log"
t1=$SECONDS
python3 -m nas.cli search --ray --study seq --seed 1 "${COMMON[@]}" "${RES1[@]}" --trials 3 \
  --max-concurrent 1 > "$RESULTS/seq.log" 2>&1; echo "sequential run: exit $? in $((SECONDS - t1)) s"
tail -6 "$RESULTS/seq.log"
python3 - "$DB" <<'PY'
import sys
from nas.raytune.timeline import timeline
from storage import open_store
store = open_store(sys.argv[1])
for study in ("par", "seq"):
    try:
        rows = store.evaluations(study)
    except Exception as exc:
        print(study, "no study:", exc); continue
    t0 = min((e.started_at for e in rows), default=None)
    for e in rows:
        end = f"{(e.finished_at - t0).total_seconds():7.1f}" if e.finished_at else "      -"
        print(f"{study} trial {e.trial_number} {e.layout:14s} {e.status:8s} start {(e.started_at - t0).total_seconds():6.1f} "
              f"end {end} wall {e.wall_time_s or 0:6.1f} {e.device} {e.error or ''}")
    print(study, timeline(rows))
PY
if grep -q Traceback "$RESULTS/par.log" "$RESULTS/seq.log"; then
  ls "$HYBRID_NAS_TUNE_DIR"/*/*/error.txt 2>/dev/null | head -2 | xargs -r tail -20
fi
