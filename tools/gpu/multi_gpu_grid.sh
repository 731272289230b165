#!/usr/bin/env bash
# The 21-layout grid (gdn, gla, hgrn2, deltanet x 24:1 .. 3:1 and pure, + attention; 24 layers, 2 seeds) on
# 1, 2, 4, ... of a host's GPUs: wall time and evaluations per minute at each count, nvidia-smi samples while it
# runs, then one grid worker killed mid-trial and the grid run again (nothing lost, nothing counted twice).
#
#   bash tools/gpu/multi_gpu_grid.sh [--budget quick] [--set k=v ...]     (writes to $RESULTS, default gpu-results/)
#
# Each count uses a fresh SQLite database (one host); set DB_URL=postgresql://... to use PostgreSQL instead
# (each count then gets its own study). Workers per GPU: WORKERS_PER_GPU (default 1).
set -euo pipefail
RESULTS=${RESULTS:-gpu-results}/multi_gpu
mkdir -p "$RESULTS"
n_gpus=$(nvidia-smi --list-gpus | wc -l)
per=${WORKERS_PER_GPU:-1}
grid_args=(--variants gdn,gla,hgrn2,deltanet --ratios 24:1,12:1,6:1,3:1,pure --layers 24 --seeds 2 --device cuda "$@")
counts=(); for c in 1 2 4 8; do (( c <= n_gpus )) && counts+=("$c"); done
for c in "${counts[@]}"; do
  visible=$(seq -s, 0 $((c - 1)))
  url=${DB_URL:-sqlite:///$PWD/$RESULTS/grid_$c.db}
  nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader -l 5 > "$RESULTS/smi_$c.csv" &
  smi=$!
  t0=$(date +%s.%N)
  CUDA_VISIBLE_DEVICES=$visible hybrid-nas grid --study "gpus$c" --db "$url" --workers $((c * per)) "${grid_args[@]}" \
    > "$RESULTS/grid_$c.txt" 2>&1
  t1=$(date +%s.%N)
  kill $smi
  n=$(python3 -c "from storage import open_store; print(len(open_store('$url').evaluations('gpus$c', status='complete')))")
  python3 -c "w=$t1-$t0; print(f'gpus $c: {$n} evaluations in {w:.1f} s, {60*$n/w:.2f} per minute')" | tee -a "$RESULTS/summary.txt"
done
# a worker killed mid-trial: start the grid on every GPU, kill one worker after 60 s, run the same command again
url=${DB_URL:-sqlite:///$PWD/$RESULTS/kill.db}
hybrid-nas grid --study kill --db "$url" --workers $((n_gpus * per)) "${grid_args[@]}" > "$RESULTS/kill_1.txt" 2>&1 &
sleep 60
victim=$(pgrep -f 'multiprocessing.spawn' | head -1) && kill -9 "$victim" && echo "killed worker $victim" >> "$RESULTS/summary.txt"
wait || true
hybrid-nas grid --study kill --db "$url" --workers $((n_gpus * per)) "${grid_args[@]}" > "$RESULTS/kill_2.txt" 2>&1
python3 - "$url" <<'PY' | tee -a "$RESULTS/summary.txt"
import collections, sys
from storage import open_store
rows = open_store(sys.argv[1]).evaluations("kill")
done = collections.Counter((r.layout, r.seed, r.fidelity) for r in rows if r.status == "complete")
print(f"kill: {len(rows)} rows, {sum(done.values())} complete, {len(done)} distinct runs, "
      f"{sum(1 for v in done.values() if v > 1)} counted twice, failed: {sum(r.status == 'failed' for r in rows)}")
PY
