#!/usr/bin/env bash
# Runs every test: the TypeScript type check and tests, then the worker's pytest suite.
# GPU tests are separate (bench/ and worker/tests/gpu), run on a GPU machine.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
PY="${WHET_PYTHON:-$PWD/.venv/bin/python}"
export WHET_PYTHON="$PY"

status=0
echo "== typecheck"
npx tsc --noEmit -p . || status=1
echo "== TypeScript tests"
node scripts/test-ts.mjs || status=1
echo "== browser tests (skip without Chromium)"
npm run --silent test:browser || status=1
echo "== worker tests"
"$PY" -m pytest -q worker/tests || status=1
exit $status
