"""Before the first step every rank compares its environment with the others.

A node with another torch, another transformers or another GPU model trains, at best, slowly and,
at worst, into a hang in the first collective whose layout differs between versions. One
all_gather_object of a small dict settles it and the error names the node that differs.
"""

import os
import platform

import torch
import torch.distributed as dist

from .errors import WorkerError, EXIT_SPEC

# What must agree across ranks. The hostname and the rank only locate a mismatch.
COMPARED = ("python", "torch", "cuda", "nccl", "transformers", "peft", "device_name", "world_size")


def _version(module: str):
    try:
        return __import__(module).__version__
    except Exception:
        return None


def local_facts(world_size: int, device: torch.device) -> dict:
    nccl = None
    if torch.cuda.is_available() and hasattr(torch.cuda, "nccl"):
        try:
            nccl = ".".join(str(x) for x in torch.cuda.nccl.version())
        except Exception:
            nccl = None
    return {
        "host": os.uname().nodename,
        "node_rank": os.environ.get("GROUP_RANK", os.environ.get("NODE_RANK", "0")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nccl": nccl,
        "transformers": _version("transformers"),
        "peft": _version("peft"),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": world_size,
    }


def mismatches(facts: list[dict]) -> list[str]:
    """Each differing key, naming what rank 0 has and which ranks/nodes have something else."""
    out = []
    ref = facts[0]
    for key in COMPARED:
        odd = [(r, f) for r, f in enumerate(facts) if f.get(key) != ref.get(key)]
        if odd:
            where = ", ".join(f"rank {r} on {f['host']} (node {f['node_rank']}): {f.get(key)}" for r, f in odd[:4])
            more = f" and {len(odd) - 4} more" if len(odd) > 4 else ""
            out.append(f"{key}: rank 0 on {ref['host']} has {ref.get(key)}; {where}{more}")
    return out


def check_same_environment(world_size: int, device: torch.device) -> None:
    """Collective: every rank calls it after init_process_group. Raises on any difference."""
    if not (dist.is_available() and dist.is_initialized()) or world_size == 1:
        return
    facts: list = [None] * world_size
    dist.all_gather_object(facts, local_facts(world_size, device))
    problems = mismatches(facts)
    if problems:
        raise WorkerError(
            "ENV_MISMATCH",
            "the ranks do not run the same environment: " + "; ".join(problems)
            + ". Install the same versions (and use the same GPU model) on every node",
            EXIT_SPEC,
            phase="setup",
        )
