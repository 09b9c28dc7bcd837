"""Atomic, exact-resume checkpoints: runs/<id>/checkpoints/step-N/.

A checkpoint is written to .tmp-step-N and renamed by rank 0 after every rank finished, so step-N is
complete; trainer_state.json, written last, marks it.

Model and optimizer go through torch.distributed.checkpoint (DCP) under parameter names (FQNs) that
no wrapper changes: "model.<fqn>" (get_model_state_dict: whole tensors under DDP, DTensor shards
under FSDP2) and "optim.state.<fqn>.<exp_avg|exp_avg_sq|step>". Each rank writes the optimizer
states it holds: all of them under DDP, its shards under FSDP2, its partition under
ZeroRedundancyOptimizer. DCP reassembles whatever the loading ranks ask for, so a checkpoint of any
strategy and world size resumes under any other. With an offloaded optimizer (HostAdamW) the model
entries are its fp32 masters, never the (possibly 16-bit) device copies. Loading is in place: the
optimizer states are first allocated by a step with zero gradients and learning rate 0, then DCP
fills them and the weights.
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
from torch.distributed.checkpoint.state_dict import get_model_state_dict

from .errors import WorkerError, EXIT_SPEC
from .optim import host_optimizer, init_states, param_states
from .parallel import state_name
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


def model_state(model, optimizer) -> dict:
    """FQN -> weight to save or fill: the model's tensors, with an offloaded optimizer's masters."""
    sd = get_model_state_dict(model)
    host = host_optimizer(optimizer)
    if host is not None:
        masters = host.master_weights()
        # remove_duplicate=False: a tied weight is saved under each of its names.
        for name, p in model.named_parameters(remove_duplicate=False):
            if p in masters:
                sd[state_name(name)] = masters[p]
    return sd


def optimizer_state(model, optimizer) -> dict:
    names = {p: state_name(n) for n, p in model.named_parameters()}
    return {"state": {names[p]: st for p, st in param_states(optimizer).items()}}


def save_states(d, model, optimizer, path: str) -> None:
    dcp.save({"model": model_state(model, optimizer), "optim": optimizer_state(model, optimizer)}, checkpoint_id=path,
             no_dist=not d.grouped)


def load_states(d, model, optimizer, path: str) -> None:
    init_states(optimizer)
    states = {"model": model_state(model, optimizer), "optim": optimizer_state(model, optimizer)}
    dcp.load(states, checkpoint_id=path, no_dist=not d.grouped)
    host = host_optimizer(optimizer)
    if host is not None:
        host.masters_to_params()


def save(d, model, optimizer, schedule, step: int, spec) -> dict:
    """Collective: every rank calls it. Returns the checkpoint event fields (on every rank)."""
    return save_atomic(d, schedule, step, spec, lambda tmp: save_states(d, model, optimizer, tmp))


def save_atomic(d, schedule, step: int, spec, write_states) -> dict:
    """save() with the model and optimizer written by write_states(folder) (the DeepSpeed engine's own)."""
    t0 = time.time()
    root = spec.checkpoint.dir
    tmp = os.path.join(root, f".tmp-step-{step}")
    final = os.path.join(root, f"step-{step}")
    if d.is_main:
        # A leftover from a run killed mid-save is incomplete by definition.
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    d.barrier()
    write_states(tmp)
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
        # An existing step-N (a re-run of the same step) is moved aside before the rename and
        # removed after, so a kill at any moment leaves either the old or the new one complete.
        old = tmp + ".old"
        if os.path.exists(final):
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
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
    return load_atomic(d, schedule, path, spec, events, lambda: load_states(d, model, optimizer, path))


def load_atomic(d, schedule, path: str, spec, events, read_states) -> int:
    """load() with the model and optimizer read by read_states() (the DeepSpeed engine's own)."""
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
    read_states()
    schedule.load_state_dict(state["schedule"])
    rng_file = os.path.join(path, f"rng-rank-{d.rank}.pkl")
    if os.path.isfile(rng_file):
        with open(rng_file, "rb") as f:
            # Our own file, written by save() above; holds numpy/python RNG tuples torch.load rejects.
            _set_rng_state(pickle.load(f))
    else:
        events.warning("RESUME_RNG", f"{path} has no RNG state for rank {d.rank} (written by {state.get('world_size')} ranks); dropout differs")
    return int(state["step"])
