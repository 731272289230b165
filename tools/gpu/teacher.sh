#!/usr/bin/env bash
# The distillation search on a GPU host (docs/teacher.md): a 12-layer, d_model 512 teacher trained on the built-in
# corpus, a search of 24 students keeping 2 to 6 of its 12 attention layers (1:1 to 5:1), the per-layer
# sensitivity baseline, and the front.
#   bash tools/gpu/teacher.sh [TEACHER_STEPS] [TRIALS]        (defaults 20000 and 24)
# RESULTS (default gpu-results/teacher) receives the checkpoint, the database and the printed tables. Time a
# short teacher first (TEACHER_STEPS=200) to size TEACHER_STEPS for the ten minutes the run asks for.
set -euo pipefail
RESULTS=${RESULTS:-gpu-results/teacher}; mkdir -p "$RESULTS"
STEPS=${1:-20000}
TRIALS=${2:-24}
TEACHER="$RESULTS/teacher-12x512"
DB="sqlite:///$RESULTS/teacher.db"
START=$SECONDS
hybrid-nas teacher train "$TEACHER" --budget quick --device cuda --set n_layers=12 --set d_model=512 \
  --set n_heads=8 --set lm_seq_len=512 --set lm_batch=32 --set lm_lr=1e-3 --set lm_steps="$STEPS" \
  2>&1 | tee "$RESULTS/teacher_train.txt"
echo "teacher trained in $((SECONDS - START)) s" | tee -a "$RESULTS/teacher_train.txt"
# students: the quick budget's LM shapes at the teacher's context; 200 alignment + 300 end-to-end steps each
STUDENT=(--budget quick --set lm_seq_len=512 --set lm_batch=16 --set distill_align_steps=200
         --set distill_kl_steps=300 --set lm_eval_tokens=65536)
hybrid-nas search --teacher "$TEACHER" --study teacher12 --db "$DB" --device cuda "${STUDENT[@]}" \
  --placement free --min-attention 2 --max-attention 6 --mixers gdn,gla --trials "$TRIALS" \
  2>&1 | tee "$RESULTS/search.txt"
hybrid-nas teacher sensitivity --study teacher12 --db "$DB" --device cuda 2>&1 | tee "$RESULTS/sensitivity.txt"
hybrid-nas pareto --study teacher12 --db "$DB" --all --format csv > "$RESULTS/all.csv"
hybrid-nas pareto --study teacher12 --db "$DB" 2>&1 | tee "$RESULTS/front.txt"
echo "total $((SECONDS - START)) s"
