"""The training loop: one optimizer step over a global batch, repeated to max_steps.

Trainer holds what a step needs (data, engine, schedule) and runs one step; run() adds events,
checkpoints and the export. bench/ drives a Trainer directly to time steps through this same code.
"""

import math
import os
import random
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from . import PROTOCOL_VERSION, export, metrics
from .data import Shard, StepSampler, collate
from .errors import NanLossError
from .events import log
from .faults import Faults
from .optim import Schedule


@dataclass
class Progress:
    """Where the run is, for error events raised from anywhere."""

    phase: str = "setup"
    step: Optional[int] = None


@dataclass
class StepResult:
    loss: float
    lr: float
    grad_norm: torch.Tensor
    trained_tokens: int
    real_tokens: int
    step_time_s: float
    data_time_s: float
    fwd_bwd_time_s: float  # the micro-batches' forward and backward, their collectives included
    optimizer_time_s: float  # the loss/stop all-reduce, clipping and the optimizer step
    comm_wait_time_s: float  # of optimizer_time_s: waiting at the step's all-reduce for the other ranks
    stop: bool  # some rank was asked to stop


def seed_everything(seed: int, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        # Cheap on CPU and what makes resumed runs bit-identical.
        torch.use_deterministic_algorithms(True, warn_only=True)


def build_engine(spec, d):
    if spec.distributed.engine == "deepspeed":
        from .ds_engine import DeepSpeedEngine

        return DeepSpeedEngine(spec, d)
    from .engine import TorchEngine

    return TorchEngine(spec, d)


class Trainer:
    def __init__(self, spec, d, events, progress: Progress):
        self.spec, self.d, self.progress = spec, d, progress
        t = spec.train
        seed_everything(t.seed, d.device)
        self.shard = Shard(spec.data.shard_dir)
        self.shard.check_against(spec.data)
        self.sampler = StepSampler(self.shard.num_rows, t.global_batch_rows, t.steps_per_epoch, t.seed)
        self.faults = Faults(spec.fault, d.rank)
        self.engine = build_engine(spec, d)
        self.schedule = Schedule(self.engine.optimizer, t)
        self.start_step = 0
        if spec.checkpoint.resume_from:
            self.start_step = self.engine.load(self.schedule, spec.checkpoint.resume_from, events)
            log(d.rank, f"resumed from {spec.checkpoint.resume_from} after step {self.start_step}")
        self.engine.train()
        self.collate = batcher(spec, d)

    def release_optimizer(self) -> None:
        """Frees the optimizer's states (host masters included), e.g. before export builds a second model."""
        self.schedule = None
        self.engine.optimizer = None

    def step(self, step: int, stop=None) -> StepResult:
        """One optimizer step; stop (a faults.StopFlag) is read as late as possible, at the step's collective."""
        t, d, progress, engine = self.spec.train, self.d, self.progress, self.engine
        progress.step, progress.phase = step, "data"
        t0 = time.perf_counter()
        rows = self.sampler.step_rows(step)
        real_tokens, trained_tokens = self.shard.row_counts(rows)
        acc, W = t.gradient_accumulation_steps, d.world_size
        micro = [self.collate(self.shard, self.sampler.micro_rows(rows, i, d.rank, W, t.micro_batch_size)) for i in range(acc)]
        data_time = time.perf_counter() - t0
        # Before the micro-batches: DeepSpeed steps inside the last one's backward.
        lr = self.schedule.apply(step)
        # Every micro-batch's summed loss is divided by the trained tokens of the whole global
        # batch; × world size undoes the gradient averaging of DDP and FSDP2. The step's gradient is
        # then that of (sum of token losses) / (trained tokens), however the batch is split.
        scale = W / max(1, trained_tokens)
        loss_sum = torch.zeros((), dtype=torch.float64, device=d.device)
        for i, mb in enumerate(micro):
            mb = mb.to(d.device)
            last = i == acc - 1
            progress.phase = "forward"
            self.faults.before_forward(step, d.rank)
            with engine.micro_batch(last):
                ce = self.faults.poison_loss(step, engine.loss_sum(mb))
                progress.phase = "backward"
                engine.backward(ce * scale, last)
            loss_sum += ce.detach().double()
            del ce
        _sync(d.device)
        t_opt = time.perf_counter()

        progress.phase = "optimizer"
        # One collective per step: the loss for reporting and the stop request, so every rank
        # agrees on both.
        requested = stop is not None and stop.requested
        flags = torch.stack([loss_sum, torch.tensor(float(requested), dtype=torch.float64, device=d.device)])
        t_wait = time.perf_counter()
        d.all_sum(flags)
        loss = flags[0].item() / max(1, trained_tokens)
        comm_wait = time.perf_counter() - t_wait
        if not math.isfinite(loss):
            raise NanLossError(
                f"loss is {loss} at step {step} (compute {self.spec.precision.compute_dtype}, lr {lr:.3g}, "
                f"loss scaling {'on' if engine.loss_scaling else 'off'}); the optimizer step was skipped. Lower the learning rate, "
                "use bfloat16 instead of float16, or check the data",
                phase="forward",
                compute_dtype=self.spec.precision.compute_dtype,
                lr=lr,
            )
        grad_norm = engine.step()
        _sync(d.device)
        t_end = time.perf_counter()
        return StepResult(loss, lr, grad_norm, trained_tokens, real_tokens, t_end - t0, data_time,
                          t_opt - t0 - data_time, t_end - t_opt, comm_wait, flags[1].item() > 0)


def batcher(spec, d):
    """collate as the spec's attention wants it: varlen flattens each micro-batch into one row of its
    documents (on GPUs with compiled blocks padded to a multiple of 64 tokens, which keeps the number
    of distinct shapes small); otherwise rows padded to the longest (packed rows: to seq_len)."""
    if spec.model.attn_implementation == "varlen":
        compiled = d.device.type == "cuda" and spec.train.compile
        multiple = 64 if compiled else 1
        return lambda shard, rows: collate(shard, rows, shard.packing, flat=True, pad_multiple=multiple, fixed_max_seqlen=compiled)
    return lambda shard, rows: collate(shard, rows, shard.packing)


def _sync(device: torch.device) -> None:
    """Wall-clock phases need the GPU's queue drained; two syncs a step cost microseconds."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mfu(spec, tokens_per_s: float, world_size: int) -> Optional[float]:
    """Model FLOPs utilisation, a fraction: real (non-padding) tokens per second times the FLOPs of a
    token (spec.train.flops_per_token, docs/speed.md) over the GPUs' datasheet peak."""
    peak, flops = spec.distributed.peak_flops_per_rank, spec.train.flops_per_token
    if not peak or flops <= 0:
        return None
    return tokens_per_s * flops / (peak * world_size)


class Evaluator:
    """The loss on the held-out split (spec.eval), summed over its trained tokens.

    Each rank takes every world_size-th row. Every rank runs the same number of forward passes,
    a rank out of rows repeating row 0 with weight 0, because FSDP2 gathers weights inside
    forward and a rank that stopped early would leave the others waiting. One all-reduce sums
    the token losses and the trained tokens.
    """

    def __init__(self, spec, d):
        e = spec.eval
        self.d, self.mbs = d, e.micro_batch_size
        self.collate = batcher(spec, d)
        self.shard = Shard(e.shard_dir)
        self.rows = list(range(d.rank, self.shard.num_rows, d.world_size))
        per_rank = -(-self.shard.num_rows // d.world_size)
        self.passes = -(-per_rank // self.mbs)

    def loss(self, engine) -> float:
        d = self.d
        totals = torch.zeros(2, dtype=torch.float64, device=d.device)
        engine.eval()
        try:
            with torch.no_grad():
                for i in range(self.passes):
                    rows = self.rows[i * self.mbs:(i + 1) * self.mbs]
                    weight = 1.0 if rows else 0.0
                    mb = self.collate(self.shard, rows or [0]).to(d.device)
                    ce = engine.loss_sum(mb)
                    totals[0] += weight * ce.double()
                    totals[1] += weight * mb.trained_tokens
        finally:
            engine.train()
        d.all_sum(totals)
        return (totals[0] / totals[1].clamp(min=1)).item()


def _hello(events, trainer: Trainer) -> None:
    spec, d, engine = trainer.spec, trainer.d, trainer.engine
    events.emit(
        "hello",
        protocol=PROTOCOL_VERSION,
        world_size=d.world_size,
        hostname=os.uname().nodename,
        device=metrics.device_name(d.device),
        versions=metrics.versions(),
        trainable_params=engine.trainable_params,
        total_params=engine.total_params,
        start_step=trainer.start_step,
        local_rank=d.local_rank,
        dtypes={k: getattr(spec.precision, k) for k in ("compute_dtype", "master_dtype", "frozen_dtype", "save_dtype")},
        **engine.describe(),
    )


def run(spec, d, events, stop, progress: Progress) -> int:
    t_run = time.time()
    t = spec.train
    trainer = Trainer(spec, d, events, progress)
    engine, start_step = trainer.engine, trainer.start_step
    _hello(events, trainer)
    log(d.rank, f"model ready: {engine.trainable_params:,} trainable of {engine.total_params:,} parameters; "
                f"steps {start_step + 1}..{t.max_steps}")

    evaluator = Evaluator(spec, d) if spec.eval else None
    first_loss = last_loss = None
    step = start_step
    for step in range(start_step + 1, t.max_steps + 1):
        r = trainer.step(step, stop)
        for message in engine.compile_failures():
            events.warning("COMPILE_FALLBACK", message, step=step)
        first_loss = r.loss if first_loss is None else first_loss
        last_loss = r.loss
        if step == 1 or step == start_step + 1 or step == t.max_steps or step % t.logging_steps == 0:
            g = float(r.grad_norm) if r.grad_norm is not None else math.nan
            events.emit(
                "step",
                step=step,
                total_steps=t.max_steps,
                epoch=step / t.steps_per_epoch,
                loss=r.loss,
                lr=r.lr,
                grad_norm=g if math.isfinite(g) else None,
                trained_tokens=r.trained_tokens,
                tokens=r.real_tokens,
                tokens_per_s=r.real_tokens / max(r.step_time_s, 1e-9),
                step_time_s=r.step_time_s,
                data_time_s=r.data_time_s,
                fwd_bwd_time_s=r.fwd_bwd_time_s,
                optimizer_time_s=r.optimizer_time_s,
                comm_wait_time_s=r.comm_wait_time_s,
                **_mfu_field(spec, r, d.world_size),
                **metrics.memory(d.device),
            )

        if evaluator and ((spec.eval.every_steps and step % spec.eval.every_steps == 0) or step == t.max_steps):
            progress.phase = "eval"
            events.emit("eval", step=step, eval_loss=evaluator.loss(engine))

        if (spec.checkpoint.save_steps and step % spec.checkpoint.save_steps == 0) or r.stop:
            progress.phase = "checkpoint"
            ev = engine.save(trainer.schedule, step)
            events.emit("checkpoint", **ev)
        if r.stop:
            if d.is_main:  # one warning for the run, not one per rank
                events.warning("INTERRUPTED", f"stopped by signal after step {step}; resume from {ev['path']}", step=step, path=ev["path"])
            return 0

    progress.phase = "export"
    export_dir = _export(spec, d, trainer)
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


def _mfu_field(spec, r: StepResult, world_size: int) -> dict:
    value = mfu(spec, r.real_tokens / max(r.step_time_s, 1e-9), world_size)
    return {} if value is None else {"mfu": value}


def _export(spec, d, trainer: Trainer) -> Optional[str]:
    # Every rank takes part in gathering the weights; rank 0 alone writes them.
    state, buffers = trainer.engine.full_state_dict(), trainer.engine.buffers()
    trainer.release_optimizer()
    if not d.is_main:
        return None
    model = export.rebuild(spec, state, buffers)
    del state
    return export.export(spec, model, torch.device("cpu"), log=lambda m: log(d.rank, m))
