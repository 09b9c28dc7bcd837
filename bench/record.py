"""What every bench result file records beside its measurements: the machine, the versions, and
JSON written whole (a temporary name, then a rename), so a reader never sees half a file."""

import json
import os
import platform
import subprocess
import sys

GIB = float(1 << 30)
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def hardware() -> dict:
    hw = {"cpus": os.cpu_count(), "host_mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB,
          "machine": platform.machine()}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip().splitlines()
        if out:
            hw["gpus"] = len(out)
            hw["gpu"], hw["driver"], hw["gpu_memory"] = [x.strip() for x in out[0].split(",")]
    except (OSError, subprocess.TimeoutExpired) as e:
        hw["nvidia_smi_error"] = str(e)
    return hw


def versions() -> dict:
    """The worker's own version report (python, torch, CUDA, NCCL, transformers, peft) and the rest."""
    sys.path.insert(0, os.path.join(REPO, "worker"))
    from whet_worker import metrics

    v = metrics.versions()
    for name in ("accelerate", "peft", "tokenizers"):
        try:
            v[name] = __import__(name).__version__
        except ImportError:
            v[name] = None
    return v
