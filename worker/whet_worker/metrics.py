"""Versions and memory numbers reported in events."""

import platform
import resource
import sys

import torch

GIB = float(1 << 30)


def versions() -> dict:
    import numpy
    import transformers

    from . import __version__

    v = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "whet_worker": __version__,
    }
    try:
        import peft

        v["peft"] = peft.__version__
    except ImportError:
        pass
    if torch.version.cuda:
        v["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        try:
            v["nccl"] = ".".join(str(x) for x in torch.cuda.nccl.version())
        except Exception:
            pass
    return v


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {
            "mem_allocated_gib": torch.cuda.memory_allocated(device) / GIB,
            "mem_reserved_gib": torch.cuda.memory_reserved(device) / GIB,
            "mem_peak_gib": torch.cuda.max_memory_allocated(device) / GIB,
            "mem_peak_reserved_gib": torch.cuda.max_memory_reserved(device) / GIB,
        }
    # On CPU the peak resident set of the process is the only meaningful number.
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = rss_kib if sys.platform != "darwin" else rss_kib / 1024
    return {"mem_allocated_gib": 0.0, "mem_reserved_gib": 0.0, "mem_peak_gib": rss * 1024 / GIB}


def memory_detail(device: torch.device) -> dict:
    m = memory(device)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        m.update(mem_free_gib=free / GIB, mem_total_gib=total / GIB)
    return m
