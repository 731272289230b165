#!/usr/bin/env bash
# The distillation search on a GPU host (docs/teacher.md): a 12-layer, d_model 512 teacher trained on the built-in
# corpus, a search of 24 students keeping 2 to 6 of its 12 attention layers (1:1 to 5:1), the per-layer
# sensitivity baseline, and the front.
#   bash tools/gpu/teacher.sh [TEACHER_STEPS] [TRIALS]        (defaults 20000 and 24)
#   bash tools/gpu/teacher.sh time [TEACHER_STEPS]             (default 200: a short teacher and one 3:1 student,
#                                                               timed; prints the whole run's projected length)
# RESULTS (default gpu-results/teacher) receives the checkpoint, the database and the printed tables. Time the
# run first (`time`) to size TEACHER_STEPS for the ten minutes the run asks for. DEVICE (default cuda), LAYERS,
# D_MODEL, HEADS and SEQ (defaults 12, 512, 8, 512) change the run's device and shapes (a CPU check of the flags).
set -euo pipefail
RESULTS=${RESULTS:-gpu-results/teacher}; mkdir -p "$RESULTS"
DEVICE=${DEVICE:-cuda}; LAYERS=${LAYERS:-12}; D_MODEL=${D_MODEL:-512}; HEADS=${HEADS:-8}; SEQ=${SEQ:-512}
MODE=run
if [[ ${1:-} == time ]]; then MODE=time; shift; fi
STEPS=${1:-$([[ $MODE == time ]] && echo 200 || echo 20000)}
TRIALS=${2:-24}
TEACHER="$RESULTS/teacher-${LAYERS}x${D_MODEL}"
DB="sqlite:///$RESULTS/teacher.db"
START=$SECONDS
hybrid-nas teacher train "$TEACHER" --budget quick --device "$DEVICE" --set n_layers="$LAYERS" \
  --set d_model="$D_MODEL" --set n_heads="$HEADS" --set lm_seq_len="$SEQ" --set lm_batch=32 --set lm_lr=1e-3 \
  --set lm_steps="$STEPS" 2>&1 | tee "$RESULTS/teacher_train.txt"
TEACHER_S=$((SECONDS - START))
echo "teacher trained in $TEACHER_S s" | tee -a "$RESULTS/teacher_train.txt"
# students: the quick budget's LM shapes at the teacher's context; 200 alignment + 300 end-to-end steps each
STUDENT=(--budget quick --set lm_seq_len="$SEQ" --set lm_batch=16 --set distill_align_steps=200
         --set distill_kl_steps=300 --set lm_eval_tokens=65536)
if [[ $MODE == time ]]; then
  # one 3:1 student (a quarter of the layers keep attention, the last of every four)
  LAYOUT="(gdn*3,attn)*$((LAYERS / 4))"
  T0=$SECONDS
  hybrid-nas evaluate "$LAYOUT" --teacher "$TEACHER" --device "$DEVICE" --no-store "${STUDENT[@]}" \
    2>&1 | tail -3 | tee "$RESULTS/student_time.txt"
  STUDENT_S=$((SECONDS - T0))
  # the run: a ten-minute teacher, TRIALS students, one per layer for the sensitivity, up to 5 baselines
  N=$((TRIALS + LAYERS + 5))
  TRAIN_S=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['wall_time_s'])" \
            "$TEACHER/hybrid_nas_teacher.json")
  echo "one student in $STUDENT_S s; teacher: $STEPS steps trained in $TRAIN_S s" \
       "($(python3 -c "print(int(600 * $STEPS / $TRAIN_S))") steps in ten minutes), $TEACHER_S s with loading" \
       "and evaluation; projected run: 600 s of teacher + $N students = $((600 + N * STUDENT_S)) s" \
       | tee -a "$RESULTS/student_time.txt"
  exit 0
fi
hybrid-nas search --teacher "$TEACHER" --study teacher12 --db "$DB" --device "$DEVICE" "${STUDENT[@]}" \
  --placement free --min-attention 2 --max-attention 6 --mixers gdn,gla --trials "$TRIALS" \
  2>&1 | tee "$RESULTS/search.txt"
hybrid-nas teacher sensitivity --study teacher12 --db "$DB" --device "$DEVICE" 2>&1 | tee "$RESULTS/sensitivity.txt"
hybrid-nas pareto --study teacher12 --db "$DB" --all --format csv > "$RESULTS/all.csv"
hybrid-nas pareto --study teacher12 --db "$DB" 2>&1 | tee "$RESULTS/front.txt"
echo "total $((SECONDS - START)) s"
