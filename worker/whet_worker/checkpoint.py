"""Atomic, exact-resume checkpoints: runs/<id>/checkpoints/step-N/.

Model and optimizer go through torch.distributed.checkpoint (DCP) via get/set_state_dict, which
gives world-size-independent keys today (DDP) and sharded saves later (FSDP2). A checkpoint is
written to .tmp-step-N and renamed by rank 0 after every rank finished, so step-N is complete.
"""

import json
import os
import pickle
import random
import re
import shutil
import time

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from .errors import WorkerError, EXIT_SPEC
from .spec import to_dict

STEP_DIR = re.compile(r"^step-(\d+)$")
TRAINER_STATE = "trainer_state.json"


def _rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def complete_checkpoints(root: str) -> list[tuple[int, str]]:
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = STEP_DIR.match(name)
        if m and os.path.isfile(os.path.join(root, name, TRAINER_STATE)):
            found.append((int(m.group(1)), os.path.join(root, name)))
    return sorted(found)


def save(d, model, optimizer, schedule, step: int, spec) -> dict:
    """Collective: every rank calls it. Returns the checkpoint event fields (on every rank)."""
    t0 = time.time()
    root = spec.checkpoint.dir
    tmp = os.path.join(root, f".tmp-step-{step}")
    final = os.path.join(root, f"step-{step}")
    if d.is_main:
        # A leftover from a run killed mid-save is incomplete by definition.
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    d.barrier()
    msd, osd = get_state_dict(model, optimizer)
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=tmp, no_dist=not d.grouped)
    with open(os.path.join(tmp, f"rng-rank-{d.rank}.pkl"), "wb") as f:
        pickle.dump(_rng_state(), f)
    d.barrier()
    if d.is_main:
        state = {
            "step": step,
            "schedule": schedule.state_dict(),
            "world_size": d.world_size,
            "global_batch_rows": spec.train.global_batch_rows,
            "seed": spec.train.seed,
            "finetuning_type": spec.method.finetuning_type,
        }
        with open(os.path.join(tmp, "spec.json"), "w", encoding="utf-8") as f:
            json.dump(to_dict(spec), f, indent=2)
        # trainer_state.json is written last: its presence marks a complete checkpoint.
        with open(os.path.join(tmp, TRAINER_STATE), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
        _prune(root, spec.checkpoint.save_total_limit)
    return {"step": step, "path": final, "size_bytes": _dir_size(final) if d.is_main else 0, "save_time_s": time.time() - t0}


def _prune(root: str, limit: int) -> None:
    if limit <= 0:
        return
    done = complete_checkpoints(root)
    for _, path in done[: max(0, len(done) - limit)]:
        shutil.rmtree(path, ignore_errors=True)


def load(d, model, optimizer, schedule, path: str, spec, events) -> int:
    """Restores everything a step needs; returns the step the checkpoint was taken after."""
    state_file = os.path.join(path, TRAINER_STATE)
    if not os.path.isfile(state_file):
        raise WorkerError("CHECKPOINT_INVALID", f"{path} is not a complete checkpoint (no {TRAINER_STATE})", EXIT_SPEC, phase="setup")
    with open(state_file, encoding="utf-8") as f:
        state = json.load(f)
    if state.get("finetuning_type") != spec.method.finetuning_type:
        raise WorkerError(
            "CHECKPOINT_INVALID",
            f"{path} was written by a {state.get('finetuning_type')} run; this run is {spec.method.finetuning_type}",
            EXIT_SPEC,
            phase="setup",
        )
    if state.get("global_batch_rows") != spec.train.global_batch_rows or state.get("seed") != spec.train.seed:
        events.warning(
            "RESUME_DATA_ORDER",
            f"{path} was written with global_batch_rows={state.get('global_batch_rows')}, seed={state.get('seed')}; "
            f"this run uses {spec.train.global_batch_rows}, {spec.train.seed}, so the data order after resume differs",
        )
    msd, osd = get_state_dict(model, optimizer)
    sd = {"model": msd, "optim": osd}
    dcp.load(sd, checkpoint_id=path, no_dist=not d.grouped)
    set_state_dict(model, optimizer, model_state_dict=sd["model"], optim_state_dict=sd["optim"])
    schedule.load_state_dict(state["schedule"])
    rng_file = os.path.join(path, f"rng-rank-{d.rank}.pkl")
    if os.path.isfile(rng_file):
        with open(rng_file, "rb") as f:
            # Our own file, written by save() above; holds numpy/python RNG tuples torch.load rejects.
            _set_rng_state(pickle.load(f))
    else:
        events.warning("RESUME_RNG", f"{path} has no RNG state for rank {d.rank} (written by {state.get('world_size')} ranks); dropout differs")
    return int(state["step"])
