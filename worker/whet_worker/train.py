"""The training loop: one optimizer step over a global batch, repeated to max_steps."""

import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from . import PROTOCOL_VERSION, checkpoint, export, metrics
from .data import Shard, StepSampler, collate
from .errors import NanLossError
from .events import log
from .faults import Faults
from .loss import chunked_ce_sum
from .model import DTYPES, base_model, build_model, param_counts
from .optim import Schedule, build_optimizer


@dataclass
class Progress:
    """Where the run is, for error events raised from anywhere."""

    phase: str = "setup"
    step: Optional[int] = None


def seed_everything(seed: int, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        # Cheap on CPU and what makes resumed runs bit-identical.
        torch.use_deterministic_algorithms(True, warn_only=True)


def _autocast(spec, device):
    dt = spec.precision.compute_dtype
    if device.type == "cuda" and dt in ("bfloat16", "float16"):
        return torch.autocast("cuda", dtype=DTYPES[dt])
    return nullcontext()


def _grad_norm(params, max_norm: float) -> torch.Tensor:
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    grads = [p.grad for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())


def run(spec, d, events, stop, progress: Progress) -> int:
    t_run = time.time()
    t = spec.train
    seed_everything(t.seed, d.device)
    shard = Shard(spec.data.shard_dir)
    shard.check_against(spec.data)
    sampler = StepSampler(shard.num_rows, t.global_batch_rows, t.steps_per_epoch, t.seed)
    faults = Faults(spec.fault, d.rank)

    model = build_model(spec, d.device)
    trainable, total = param_counts(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(model, t, d.device)
    schedule = Schedule(optimizer, t)
    start_step = 0
    if spec.checkpoint.resume_from:
        start_step = checkpoint.load(d, model, optimizer, schedule, spec.checkpoint.resume_from, spec, events)
        log(d.rank, f"resumed from {spec.checkpoint.resume_from} after step {start_step}")
    ddp = d.world_size > 1
    net = (
        DistributedDataParallel(
            model,
            device_ids=[d.device.index] if d.device.type == "cuda" else None,
            broadcast_buffers=False,
            gradient_as_bucket_view=True,
        )
        if ddp
        else model
    )
    scaler = torch.amp.GradScaler("cuda") if spec.precision.loss_scaling and d.device.type == "cuda" else None

    events.emit(
        "hello",
        protocol=PROTOCOL_VERSION,
        world_size=d.world_size,
        hostname=os.uname().nodename,
        device=metrics.device_name(d.device),
        versions=metrics.versions(),
        trainable_params=trainable,
        total_params=total,
        start_step=start_step,
        local_rank=d.local_rank,
        dtypes={k: getattr(spec.precision, k) for k in ("compute_dtype", "master_dtype", "frozen_dtype", "save_dtype")},
    )
    log(d.rank, f"model ready: {trainable:,} trainable of {total:,} parameters; steps {start_step + 1}..{t.max_steps}")

    acc, mbs, W = t.gradient_accumulation_steps, t.micro_batch_size, d.world_size
    first_loss = last_loss = None
    step = start_step
    net.train()
    for step in range(start_step + 1, t.max_steps + 1):
        progress.step, progress.phase = step, "data"
        t0 = time.perf_counter()
        rows = sampler.step_rows(step)
        real_tokens, trained_tokens = shard.row_counts(rows)
        micro = [collate(shard, sampler.micro_rows(rows, i, d.rank, W, mbs), shard.packing) for i in range(acc)]
        data_time = time.perf_counter() - t0
        # Every micro-batch's summed loss is divided by the trained tokens of the whole global
        # batch; × world size undoes DDP's gradient averaging. The step's gradient is then that of
        # (sum of token losses) / (trained tokens), however the batch is split.
        scale = W / max(1, trained_tokens)
        loss_sum = torch.zeros((), dtype=torch.float64, device=d.device)
        for i, mb in enumerate(micro):
            mb = mb.to(d.device)
            progress.phase = "forward"
            faults.before_forward(step, d.rank)
            sync = nullcontext() if (not ddp or i == acc - 1) else net.no_sync()
            with sync:
                with _autocast(spec, d.device):
                    # use_cache=False matters: with a cache transformers ignores the
                    # restarting position ids and lets packed documents see each other.
                    logits = net(input_ids=mb.input_ids, position_ids=mb.position_ids, use_cache=False).logits
                ce = faults.poison_loss(step, chunked_ce_sum(logits, mb.labels))
                progress.phase = "backward"
                scaled = ce * scale
                (scaler.scale(scaled) if scaler else scaled).backward()
            loss_sum += ce.detach().double()
            del logits, ce, scaled

        progress.phase = "optimizer"
        # One collective per step: the loss for reporting and the stop request, so every rank
        # agrees on both.
        flags = torch.stack([loss_sum, torch.tensor(float(stop.requested), dtype=torch.float64, device=d.device)])
        d.all_sum(flags)
        loss = flags[0].item() / max(1, trained_tokens)
        stop_now = flags[1].item() > 0
        lr = schedule.apply(step)
        if not math.isfinite(loss):
            raise NanLossError(
                f"loss is {loss} at step {step} (compute {spec.precision.compute_dtype}, lr {lr:.3g}, "
                f"loss scaling {'on' if scaler else 'off'}); the optimizer step was skipped. Lower the learning rate, "
                "use bfloat16 instead of float16, or check the data",
                phase="forward",
                compute_dtype=spec.precision.compute_dtype,
                lr=lr,
            )
        if scaler:
            scaler.unscale_(optimizer)
        gnorm = _grad_norm(params, t.max_grad_norm)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if d.device.type == "cuda":
            torch.cuda.synchronize(d.device)
        step_time = time.perf_counter() - t0

        first_loss = loss if first_loss is None else first_loss
        last_loss = loss
        if step == 1 or step == start_step + 1 or step == t.max_steps or step % t.logging_steps == 0:
            g = float(gnorm)
            events.emit(
                "step",
                step=step,
                total_steps=t.max_steps,
                epoch=step / t.steps_per_epoch,
                loss=loss,
                lr=lr,
                grad_norm=g if math.isfinite(g) else None,
                trained_tokens=trained_tokens,
                tokens=real_tokens,
                tokens_per_s=real_tokens / max(step_time, 1e-9),
                step_time_s=step_time,
                data_time_s=data_time,
                **metrics.memory(d.device),
            )

        if (spec.checkpoint.save_steps and step % spec.checkpoint.save_steps == 0) or stop_now:
            progress.phase = "checkpoint"
            ev = checkpoint.save(d, base_model(net), optimizer, schedule, step, spec)
            events.emit("checkpoint", **ev)
        if stop_now:
            if d.is_main:  # one warning for the run, not one per rank
                events.warning("INTERRUPTED", f"stopped by signal after step {step}; resume from {ev['path']}", step=step, path=ev["path"])
            return 0

    progress.phase = "export"
    # Free optimizer state before export loads a second copy of the model.
    del optimizer, params, schedule
    export_dir = None
    if d.is_main:
        export_dir = export.export(spec, base_model(net), d.device, log=lambda m: log(d.rank, m))
    events.emit(
        "done",
        run_dir=spec.run_dir,
        steps=step,
        first_loss=first_loss,
        last_loss=last_loss,
        export_dir=export_dir,
        elapsed_s=time.time() - t_run,
    )
    return 0
