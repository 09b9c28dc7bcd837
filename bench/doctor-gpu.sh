#!/usr/bin/env bash
# whet doctor on a GPU machine: the full report as JSON (plus the quick subset as a table), then a
# plain torch.distributed all-reduce loop in the same run under the same NCCL variables, and the
# two all-reduce busbw figures side by side in compare.json.
# Usage on the GPU machine, from the repository root, after `. bench/device/unpack.sh`:
#   bash bench/doctor-gpu.sh [OUT_DIR]     (default: $OUT, else bench/results/doctor-<time>)
set -uo pipefail
out=${1:-${OUT:-bench/results/doctor-$(date +%Y%m%d-%H%M%S)}}
mkdir -p "$out"
PY=${WHET_PYTHON:-python3}
export WHET_PYTHON=$PY

doctor() { # args...: through bin/whet.js once the command is registered, else the module itself
  if node bin/whet.js doctor --help >/dev/null 2>&1; then
    node bin/whet.js doctor "$@"
  else
    node --import tsx --input-type=module \
      -e 'import { doctorCommand } from "./src/cli/commands/doctor.ts"; process.exitCode = await doctorCommand.run(process.argv.slice(1));' -- "$@"
  fi
}

{ nvidia-smi; nvidia-smi topo -m; "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } > "$out/machine.txt" 2>&1
t0=$(date +%s)
doctor --json > "$out/doctor.json" 2> "$out/doctor.stderr"
echo "doctor --json exit=$? seconds=$(( $(date +%s) - t0 ))" | tee "$out/commands.txt"
t0=$(date +%s)
doctor --quick --verbose > "$out/doctor-quick.txt" 2>&1
echo "doctor --quick exit=$? seconds=$(( $(date +%s) - t0 ))" | tee -a "$out/commands.txt"

n=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
# The NCCL variables whet would set here, so both measurements run the same transport.
eval "$("$PY" - "$out/doctor.json" <<'PY'
import json, shlex, sys
try:
    env = json.load(open(sys.argv[1]))["summary"]["env"]
except Exception:
    env = {}
print(" ".join(f"export {k}={shlex.quote(v)};" for k, v in env.items()))
PY
)"
if [ "$n" -ge 2 ]; then
  "$PY" -m torch.distributed.run --standalone --nproc-per-node "$n" bench/allreduce_plain.py --out "$out/allreduce_plain.json" \
    > "$out/allreduce_plain.log" 2>&1
  echo "allreduce_plain exit=$?" | tee -a "$out/commands.txt"
  "$PY" - "$out" <<'PY' | tee "$out/compare.txt"
import json, sys
out = sys.argv[1]
doc = json.load(open(f"{out}/doctor.json"))
plain = json.load(open(f"{out}/allreduce_plain.json"))
ar = next((c for c in doc["checks"] if c["id"] == "comm.all_reduce"), None)
mine = {r["bytes"]: r for r in (ar or {}).get("data", {}).get("rows", [])}
rows = []
for p in plain["rows"]:
    d = mine.get(p["bytes"])
    rows.append({"bytes": p["bytes"], "doctor_busbw": d and d["busbw"], "plain_busbw": p["busbw"],
                 "ratio": d and d["busbw"] / p["busbw"]})
    print(f'{p["bytes"] >> 20:>6} MiB  doctor {d["busbw"] if d else float("nan"):8.1f}  plain {p["busbw"]:8.1f} GB/s')
json.dump({"world_size": plain["world_size"], "expected_gbps": (ar or {}).get("data", {}).get("expected_gbps"),
           "verdict": ar and ar["verdict"], "rows": rows}, open(f"{out}/compare.json", "w"), indent=1)
PY
else
  echo "fewer than 2 GPUs: no all-reduce to compare" | tee -a "$out/commands.txt"
fi
echo "results in $out"
