#!/usr/bin/env bash
# The engine measurements of docs/engine.md in one run: the GPU tests of the new paths, then one-by-one vs
# compiled cores vs streams vs a stacked sweep, then one full quick evaluation: plain, compiled cores, stack_sweep.
#   bash tools/gpu/engine.sh [tests|bench|evaluate|whole|all]    (default all = tests, bench, evaluate; each stage
#                                                                 prints as it goes; whole: the whole model compiled
#                                                                 and captured, tens of seconds of compiling a layout)
# Run after `bash scripts/setup.sh` on a CUDA machine; RESULTS (default gpu-results) receives each stage's output.
set -uo pipefail
RESULTS=${RESULTS:-gpu-results}; mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1
STAGE=${1:-all}
LAYOUTS=${LAYOUTS:-"attn*12;(gdn*3,attn)*3;(gla*3,attn)*3;(mamba2*3,attn)*3;(hgrn2*3,attn)*3"}
EVAL_LAYOUT=${EVAL_LAYOUT:-"(gdn*3,attn)*3"}
nvidia-smi --query-gpu=name --format=csv,noheader
bench() {  # one bench proxy run: NAME then its extra flags
  local name=$1; shift
  echo "== bench $name"
  hybrid-nas bench proxy --device cuda --task mqar --engine graph --steps 50 --layouts "$LAYOUTS" "$@" \
    | tee "$RESULTS/bench_$name.txt"
}
if [[ $STAGE == tests || $STAGE == all ]]; then
  echo "== gpu tests: every mixer against its reference (default and compiled cores), graph engine, stacked engine,"
  echo "   trainings side by side"
  python3 -m pytest -o addopts="" -m gpu -q tests/proxies/test_registry_gpu.py tests/proxies/test_graph_gpu.py \
    tests/proxies/test_stacked_gpu.py tests/proxies/test_side_by_side_gpu.py 2>&1 | tee "$RESULTS/tests.txt" | tail -15
fi
if [[ $STAGE == bench || $STAGE == all ]]; then
  bench one
  bench stack4 --stack 4
  bench compile --set impl=compile
  bench streams4 --streams 4
fi
if [[ $STAGE == evaluate || $STAGE == all ]]; then
  for mode in side_by_side compile stack_sweep; do
    echo "== evaluate $EVAL_LAYOUT --budget quick, $mode"
    extra=(); [[ $mode == stack_sweep ]] && extra=(--set stack_sweep=true)
    [[ $mode == compile ]] && extra=(--set impl=compile)
    t0=$SECONDS
    hybrid-nas evaluate "$EVAL_LAYOUT" --budget quick --device cuda --no-store --format json --traceback "${extra[@]}" \
      > "$RESULTS/evaluate_$mode.json" 2> "$RESULTS/evaluate_$mode.err" || tail -3 "$RESULTS/evaluate_$mode.err"
    echo "wall $((SECONDS - t0)) s"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print({k: d[k] for k in ('recall', 'perplexity',
      'recall_lr', 'recall_token_shift', 'lm_lr', 'recall_steps', 'wall_time_s')})" "$RESULTS/evaluate_$mode.json"
  done
fi
if [[ $STAGE == whole ]]; then
  bench whole_compile --set torch_compile=true --set graph=on
fi
