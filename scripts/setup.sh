#!/usr/bin/env bash
# Install hybrid-nas and its test tools into the current Python (use a virtualenv if you prefer).
# Keeps an existing torch; on a machine without one, takes the CPU build where pip offers it (a GPU user
# installs the CUDA torch of their choice first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
  "$PY" -m pip install -q 'torch==2.13.0' || "$PY" -m pip install -q torch
fi
"$PY" -m pip install -q -e '.[test]'
