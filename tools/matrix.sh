#!/usr/bin/env bash
# Every chapter under nbval (and the widget-state test) in other environments than .venv's:
#   colab   constraints/colab.txt   Colab's published pure-Python versions (ipywidgets 7.7.1, ...)
#   oldest  constraints/oldest.txt  the lower bounds of pyproject.toml
# usage: bash tools/matrix.sh [colab] [oldest]        (default: both; exit status: the first failure)
# Each venv lives in $FMTUTOR_MATRIX_DIR/<name> (default /tmp/fmtutor-matrix, outside the work tree) and is
# rebuilt when its constraints file or pyproject.toml changes; fmtutor itself is re-pointed at this checkout
# every run. torch is this machine's CPU build, the
# version .venv has, installed by exact version (pip takes the file on disk; never a CUDA download):
# set FMTUTOR_TORCH to another pip requirement to choose it. Chapters reuse the model cache in .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${FMTUTOR_MATRIX_DIR:-/tmp/fmtutor-matrix}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYDEVD_DISABLE_FILE_VALIDATION=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3}
TORCH=${FMTUTOR_TORCH:-}
if [ -z "$TORCH" ]; then
  v=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])")
  TORCH="torch==$v"
fi
# what the chapters and the widget test import, without JupyterLab (never started here)
DEPS=(ipywidgets ipykernel ipython matplotlib "pytest>=8" "nbval>=0.11" nbformat)
envs=("$@"); [ ${#envs[@]} -eq 0 ] && envs=(colab oldest)
status=0
for name in "${envs[@]}"; do
  cons="constraints/$name.txt"
  [ -f "$cons" ] || { echo "no $cons"; exit 2; }
  venv="$DIR/$name"
  stamp="$(sha256sum "$cons" pyproject.toml | sha256sum | cut -c1-16)"
  t0=$(date +%s)
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install -q "$TORCH"
    "$venv/bin/pip" install -q -c "$cons" -e . "${DEPS[@]}"
    echo "$stamp" > "$venv/.stamp"
  fi
  # the venv outlives the checkout that built it: point its editable fmtutor at this checkout (no deps,
  # a few seconds), or a venv built from another clone would import that clone, or nothing
  "$venv/bin/pip" install -q --no-deps -e .
  got=$("$venv/bin/python" -c "import fmtutor, os; print(os.path.dirname(os.path.dirname(os.path.abspath(fmtutor.__file__))))")
  [ "$got" = "$ROOT" ] || { echo "matrix $name: fmtutor imports from $got, expected $ROOT"; exit 2; }
  t1=$(date +%s)
  echo "== matrix $name: venv ready in $((t1 - t0)) s"
  "$venv/bin/python" -m pip list 2>/dev/null | grep -iE "^(torch|numpy|scipy|scikit-learn|matplotlib|ipywidgets|ipykernel|ipython|traitlets) " | tr -s ' ' | paste -sd ';'
  if ! "$venv/bin/python" -m pytest notebooks/[0-9][0-9]_*.ipynb tests/course/test_widgets_compat.py \
      -q -p no:cacheprovider -p no:randomly; then
    status=1
  fi
  echo "== matrix $name: chapters and widget test in $(( $(date +%s) - t1 )) s"
done
exit "$status"
