#!/usr/bin/env bash
# A calibration grid on the GPU (25 layouts x 2 fidelity levels x 2 seeds), then `calibrate` on it.
#   bash tools/gpu/grid.sh       (about 6 minutes on one H200; RESULTS, default gpu-results, receives the outputs)
# 8 mixers x (7:1, 3:1, pure) + attention = 25 layouts of 8 layers; VARIANTS, RATIOS and MAX_TIME override.
set -o pipefail
export PYTHONUNBUFFERED=1
RESULTS=${RESULTS:-gpu-results}; mkdir -p "$RESULTS"
DB=sqlite:///$RESULTS/grid.db
C=d_model=128,n_heads=2,mqar_vocab=64,mqar_seq_len=32,mqar_kv_pairs=4,recall_suite=ladder,mqar_lr=3e-3,mqar_batch=64
C=$C,mqar_train_examples=20000,mqar_test_examples=256,lm_seq_len=128,lm_batch=32,lm_lr=3e-3,lm_eval_tokens=16384
C=$C,flops_context=2048,impl=chunk
hybrid-nas grid --study gpu --db "$DB" --variants ${VARIANTS:-gdn,gla,hgrn2,deltanet,retnet,hgrn,mamba2,swa} \
  --ratios ${RATIOS:-7:1,3:1,pure} --layers 8 --levels lo,hi --level "lo=quick:$C,mqar_steps=80,lm_steps=30" \
  --level "hi=quick:$C,mqar_steps=240,lm_steps=90" --seeds 2 --workers 8 --device cuda --max-time ${MAX_TIME:-300} \
  > "$RESULTS/grid.txt" 2> "$RESULTS/grid.log"
hybrid-nas calibrate --study gpu --db "$DB" | tee "$RESULTS/calibrate.txt"
hybrid-nas calibrate --study gpu --db "$DB" --format json > "$RESULTS/calibrate.json"
