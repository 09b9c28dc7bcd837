"""The RunSpec as dataclasses: a field-for-field mirror of src/spec/runspec.ts.

Loading is strict (no missing, extra or mistyped field) because the worker must never invent a
default: anything wrong here is a bug on the TypeScript side and is reported as SPEC_INVALID.
tests/test_spec.py checks these classes against schema/runspec.schema.json so drift fails CI.
"""

import dataclasses
import json
import typing
from dataclasses import dataclass
from typing import Literal, Optional

from . import SPEC_VERSION
from .errors import SpecError

Dtype = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class ModelSpec:
    path: str
    random_init: bool
    tokenizer_path: str
    architecture: str
    vocab_size: int
    pad_token_id: int
    eos_token_id: int
    attn_implementation: Literal["sdpa", "eager", "varlen"]


@dataclass(frozen=True)
class LoraSpec:
    rank: int
    alpha: float
    dropout: float
    targets: list[str]


@dataclass(frozen=True)
class MethodSpec:
    stage: Literal["pt", "sft"]
    finetuning_type: Literal["full", "lora"]
    lora: Optional[LoraSpec]


@dataclass(frozen=True)
class DataSpec:
    shard_dir: str
    seq_len: int
    packing: bool
    num_rows: int
    num_tokens: int
    trained_tokens: int


@dataclass(frozen=True)
class ActivationCheckpointingSpec:
    mode: Literal["none", "selective", "full"]
    every: int
    offload: bool


@dataclass(frozen=True)
class TrainSpec:
    micro_batch_size: int
    gradient_accumulation_steps: int
    global_batch_rows: int
    max_steps: int
    steps_per_epoch: int
    learning_rate: float
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"]
    warmup_steps: int
    min_lr_ratio: float
    weight_decay: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    max_grad_norm: float
    seed: int
    logging_steps: int
    flops_per_token: float
    compile: bool
    activation_checkpointing: ActivationCheckpointingSpec


@dataclass(frozen=True)
class PrecisionSpec:
    compute_dtype: Dtype
    master_dtype: Dtype
    frozen_dtype: Dtype
    save_dtype: Dtype
    loss_scaling: bool


@dataclass(frozen=True)
class DistributedSpec:
    device: Literal["cuda", "cpu"]
    backend: Literal["nccl", "gloo"]
    strategy: Literal["ddp", "zero1", "zero2", "zero3"]
    offload: Literal["none", "optimizer", "params+optimizer"]
    engine: Literal["torch", "deepspeed"]
    deepspeed_config: Optional[dict]
    peak_flops_per_rank: Optional[float]
    world_size: int
    nproc_per_node: int
    nnodes: int


@dataclass(frozen=True)
class CheckpointSpec:
    dir: str
    save_steps: int
    save_total_limit: int
    resume_from: Optional[str]


@dataclass(frozen=True)
class ExportSpec:
    dir: str
    merge_lora: bool


@dataclass(frozen=True)
class EvalSpec:
    shard_dir: str
    num_rows: int
    every_steps: int
    micro_batch_size: int


@dataclass(frozen=True)
class FaultSpec:
    rank: int
    step: int
    kind: Literal["raise", "exit", "hang", "oom", "nan"]


@dataclass(frozen=True)
class RunSpec:
    spec_version: int
    run_id: str
    run_dir: str
    events_path: str
    model: ModelSpec
    method: MethodSpec
    data: DataSpec
    train: TrainSpec
    precision: PrecisionSpec
    distributed: DistributedSpec
    checkpoint: CheckpointSpec
    export: ExportSpec
    eval: Optional[EvalSpec]
    fault: Optional[FaultSpec]


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value, tp, where: str):
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(value, args[0], where)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SpecError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise SpecError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    # bool is an int in Python; JSON true must not pass as a number, nor 1 as a boolean.
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise SpecError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


def _build(cls, raw, where: str):
    if not isinstance(raw, dict):
        raise SpecError(f"{where or 'spec'}: expected an object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    missing = [n for n in names if n not in raw]
    extra = sorted(set(raw) - set(names))
    if missing:
        raise SpecError(f"missing field(s): {', '.join(prefix + n for n in missing)}")
    if extra:
        raise SpecError(f"unknown field(s): {', '.join(prefix + n for n in extra)}")
    return cls(**{n: _convert(raw[n], hints[n], prefix + n) for n in names})


def _check_consistency(spec: RunSpec) -> None:
    t = spec.train
    if spec.method.finetuning_type == "lora" and spec.method.lora is None:
        raise SpecError("method.lora: finetuning_type is lora but lora is null")
    if t.global_batch_rows != t.micro_batch_size * t.gradient_accumulation_steps * spec.distributed.world_size:
        raise SpecError(
            f"train.global_batch_rows ({t.global_batch_rows}) != micro_batch_size ({t.micro_batch_size}) × "
            f"gradient_accumulation_steps ({t.gradient_accumulation_steps}) × world_size ({spec.distributed.world_size})"
        )
    if t.global_batch_rows > spec.data.num_rows:
        raise SpecError(f"train.global_batch_rows ({t.global_batch_rows}) exceeds data.num_rows ({spec.data.num_rows})")


def parse_spec(raw) -> RunSpec:
    if not isinstance(raw, dict):
        raise SpecError("spec.json must hold a JSON object")
    version = raw.get("spec_version")
    if version != SPEC_VERSION:
        raise SpecError(
            f"spec_version is {version!r} but this worker reads version {SPEC_VERSION}; "
            "the CLI and the worker come from different versions of whet"
        )
    spec = _build(RunSpec, raw, "")
    _check_consistency(spec)
    return spec


def load_spec(path: str) -> RunSpec:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise SpecError(f"{path} is not valid JSON: {e}") from None
    return parse_spec(raw)


def events_path_of(path: str) -> Optional[str]:
    """Best effort: where to report a spec that failed to load."""
    try:
        with open(path, encoding="utf-8") as f:
            p = json.load(f).get("events_path")
        return p if isinstance(p, str) and p else None
    except Exception:
        return None


def to_dict(spec: RunSpec) -> dict:
    return dataclasses.asdict(spec)
