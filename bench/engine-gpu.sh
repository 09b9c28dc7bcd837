#!/usr/bin/env bash
# On one GPU machine, after `. bench/device/unpack.sh`: the engine through the real CLI (the
# quickstart under zero3, zero3 with optimizer offload, LoRA), the worker's GPU tests, then the
# planner's calibration matrix for the 135m shape within a time budget. Results go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/whet-engine-gpu}"
# Run folders stay outside $OUT: only the events and logs below come back from a GPU machine.
RUNS=/tmp/whet-engine-runs
mkdir -p "$OUT" "$RUNS"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt"
run_case() {
  local name=$1; shift
  timeout 150 node bin/whet.js train examples/quickstart/whet.yaml "$@" max_steps=40 save_steps=20 logging_steps=5 \
    "output_dir=$RUNS/$name" --json > "$OUT/$name.events.jsonl" 2> "$OUT/$name.stderr"
  echo "$name rc=$? : node bin/whet.js train examples/quickstart/whet.yaml $* max_steps=40 save_steps=20 logging_steps=5 output_dir=$RUNS/$name --json" | tee -a "$OUT/cases.txt"
}
run_case zero3 sharding=zero3
run_case zero3-offload-optimizer sharding=zero3 offload=optimizer
run_case zero3-offload-all sharding=zero3 offload=params+optimizer
run_case lora-ddp finetuning_type=lora sharding=ddp learning_rate=1e-2
(cd worker && timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py > "$OUT/gpu-tests.txt" 2>&1; echo "gpu tests rc=$?" | tee -a "$OUT/cases.txt")
WHET_CALIB_TOKENIZER="$WHET_SHARED/tokenizers/SmolLM2-135M-Instruct" timeout "${CALIB_TIMEOUT:-240}" \
  node --import tsx bench/calibrate-memory.ts run --shapes 135m --budget-s "${CALIB_BUDGET:-180}" --out "$OUT" > "$OUT/calib.log" 2>&1
echo "calibration rc=$?" | tee -a "$OUT/cases.txt"
