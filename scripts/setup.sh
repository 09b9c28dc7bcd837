#!/usr/bin/env bash
# Installs whatever is missing, and nothing twice: npm dependencies, then a Python for the worker.
# An existing Python with torch can be named instead of the .venv: WHET_PYTHON=/path/to/python.
# WHET_TORCH overrides the torch requirement (default torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -d web/dist ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
  npm run build:web --silent
fi

check_python() {
  "$1" - <<'PY' 2>/dev/null
import importlib, sys
for m in ("torch", "transformers", "peft", "safetensors", "numpy"):
    importlib.import_module(m)
PY
}

if [ -n "${WHET_PYTHON:-}" ]; then
  if ! check_python "$WHET_PYTHON"; then
    echo "setup: WHET_PYTHON=$WHET_PYTHON lacks torch, transformers, peft, safetensors or numpy." >&2
    echo "       Install them there (pip install -r worker/requirements.txt), or unset WHET_PYTHON to use ./.venv." >&2
    exit 1
  fi
  exit 0
fi

if [ -x .venv/bin/python ] && check_python .venv/bin/python; then exit 0; fi
echo "setup: creating .venv with the worker's packages (torch first)" >&2
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "${WHET_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -r worker/requirements.txt pytest jsonschema
check_python .venv/bin/python || { echo "setup: the .venv is incomplete; delete it and run again." >&2; exit 1; }
