#!/usr/bin/env bash
# GPU host: the issues' device runs as one background campaign, so one held machine does them back to back
# while short calls watch it (a call may last 10 minutes; the campaign lasts longer).
#   bash scripts/device_campaign.sh start [STAGES]   copy the repo to $CAMP/repo, install, start STAGES in the
#                                                   background (default: registry pair ray grid) and return
#   bash scripts/device_campaign.sh poll [SECONDS]   wait until the campaign ends or SECONDS pass, copy its
#                                                   results to $OUT, print each stage's tail
# Stages: registry (bf16 CUDA vs float64, every mixer), pair (quick evaluations of attn*12 and gla*12,
# concurrently: issue 2's recall check), ray (issue 5: scripts/device_ray.sh), grid (issue 6: scripts/device_grid.sh),
# kernels (issue 4: scripts/device_kernels.sh check + bench, from the live tree when scripts/.kernels-ready exists).
# Carry .wheelhouse and .device-cache. The copy keeps later calls' tree syncs out of a running campaign.
set -uo pipefail
CAMP=${CAMP:-/tmp/campaign}
OUT=${OUT:-/tmp/out}
MODE=${1:-poll}

stage_registry() {
  python3 -m pytest -q -p no:cacheprovider -o addopts="" -m gpu tests/proxies/test_registry_gpu.py 2>&1 | tail -25
}
stage_pair() {
  OUT=$1 SKIP_INSTALL=1 EVAL_TIMEOUT=${PAIR_TIMEOUT:-400} bash scripts/device_quick.sh 'attn*12;gla*12' --budget quick
}
stage_ray() {
  OUT=$1 SKIP_INSTALL=1 PAR_LIMIT=${PAR_LIMIT:-220} SEQ_LIMIT=${SEQ_LIMIT:-130} \
    bash scripts/device_ray.sh --budget quick --set mqar_steps=150 --set lm_steps=75
}
stage_grid() {
  OUT=$1 SKIP_INSTALL=1 bash scripts/device_grid.sh
}
stage_kernels() {  # from the live tree (the last call's sync), only when scripts/.kernels-ready is there
  cd "$(cat "$CAMP/live")" || return 1
  [[ -e scripts/.kernels-ready ]] || { echo "no scripts/.kernels-ready in the live tree: skipped"; return 0; }
  git log --oneline -1 2>/dev/null
  HYBRID_NAS_KERNEL_SYNC=1 OUT=$1 bash scripts/device_kernels.sh check
  OUT=$1 BENCH_TIMEOUT=150 bash scripts/device_kernels.sh bench
}

run_all() {
  cd "$CAMP/repo" || exit 1
  export PYTHONUNBUFFERED=1 HYBRID_NAS_CACHE=$CAMP/repo/.device-cache
  for s in "$@"; do
    mkdir -p "$CAMP/$s"
    echo "$(date +%T) start $s" >> "$CAMP/log"
    t0=$SECONDS
    "stage_$s" "$CAMP/$s" > "$CAMP/$s/stdout.txt" 2>&1
    echo "$(date +%T) end $s: exit $? in $((SECONDS - t0)) s" >> "$CAMP/log"
  done
  echo "$(date +%T) campaign done" >> "$CAMP/log"
  touch "$CAMP/DONE"
}

if [[ $MODE == start ]]; then
  shift
  STAGES=${*:-registry pair ray grid}
  rm -rf "$CAMP"; mkdir -p "$CAMP"
  cp -a . "$CAMP/repo"
  pwd > "$CAMP/live"
  ( cd "$CAMP/repo" && python3 -m pip install -q --no-index --find-links .wheelhouse 'ray[tune]' optuna sqlalchemy fvcore typer \
      && python3 -m pip install -q --no-index --no-build-isolation --no-deps -e . ) 2>&1 | grep -v WARNING | tail -3
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)'
  export -f run_all stage_registry stage_pair stage_ray stage_grid stage_kernels
  export CAMP
  setsid bash -c "run_all $STAGES" > "$CAMP/campaign.txt" 2>&1 < /dev/null &
  sleep 2
  cat "$CAMP/log"
  exit 0
fi

# poll
WAIT=${2:-0}
t0=$SECONDS
while [[ ! -e $CAMP/DONE && $((SECONDS - t0)) -lt $WAIT ]]; do sleep 5; done
mkdir -p "$OUT"
( cd "$CAMP" && tar --exclude=repo -cf - . ) | ( cd "$OUT" && tar -xf - )
cp -a "$CAMP/repo/gpu.db" "$OUT/grid/" 2>/dev/null
cat "$CAMP/log" 2>/dev/null
for d in "$CAMP"/*/; do
  s=$(basename "$d"); [[ $s == repo ]] && continue
  echo "=== $s"; tail -n ${TAIL:-25} "$d/stdout.txt" 2>/dev/null
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
