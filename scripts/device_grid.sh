#!/usr/bin/env bash
# GPU host: the issue-6 calibration grid (>= 20 layouts x 2 fidelity levels x 2 seeds), then `calibrate`.
#   bash scripts/device_grid.sh      (carry .wheelhouse and .device-cache; about 6 device minutes)
# 8 mixers x (7:1, 3:1, pure) + attention = 25 layouts of 8 layers; each mixer pure and in a 3:1 hybrid on the GPU.
set -o pipefail
if [[ -z "${SKIP_INSTALL:-}" ]]; then
  python3 -m pip install -q --no-index --find-links .wheelhouse 'ray[tune]' optuna sqlalchemy fvcore \
    && python3 -m pip install -q --no-index --no-build-isolation --no-deps -e . || exit 1
fi
export HYBRID_NAS_CACHE=$PWD/.device-cache PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
C=d_model=128,n_heads=2,mqar_vocab=64,mqar_seq_len=32,mqar_kv_pairs=4,recall_suite=ladder,mqar_lr=3e-3,mqar_batch=64
C=$C,mqar_train_examples=20000,mqar_test_examples=256,lm_seq_len=128,lm_batch=32,lm_lr=3e-3,lm_eval_tokens=16384
C=$C,flops_context=2048,impl=chunk
hybrid-nas grid --study gpu --db sqlite:///gpu.db --variants ${VARIANTS:-gdn,gla,hgrn2,deltanet,retnet,hgrn,mamba2,swa} \
  --ratios ${RATIOS:-7:1,3:1,pure} --layers 8 --levels lo,hi --level "lo=quick:$C,mqar_steps=80,lm_steps=30" \
  --level "hi=quick:$C,mqar_steps=240,lm_steps=90" --seeds 2 --workers 8 --device cuda --max-time ${MAX_TIME:-300} \
  > "$OUT/grid.txt" 2> "$OUT/grid.log"
hybrid-nas calibrate --study gpu --db sqlite:///gpu.db | tee "$OUT/calibrate.txt"
hybrid-nas calibrate --study gpu --db sqlite:///gpu.db --format json > "$OUT/calibrate.json"
python3 -c "import sqlite3; s = sqlite3.connect('gpu.db'); d = sqlite3.connect('$OUT/gpu.db'); s.backup(d)"
