"""The dataclasses in spec.py must mirror schema/runspec.schema.json, and bad specs must fail cleanly."""

import dataclasses
import json
import os
import typing

import pytest

import shards
from conftest import run_worker
from whet_worker import spec as S
from whet_worker.errors import SpecError

SCHEMA = os.path.join(shards.REPO, "schema", "runspec.schema.json")
PRIMITIVE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


def _split_nullable(node: dict):
    if "anyOf" in node:
        rest = [n for n in node["anyOf"] if n.get("type") != "null"]
        return rest[0], len(rest) < len(node["anyOf"])
    t = node.get("type")
    if isinstance(t, list) and "null" in t:
        rest = [x for x in t if x != "null"]
        return {**node, "type": rest[0] if len(rest) == 1 else rest}, True
    return node, False


def _compare(tp, node: dict, where: str):
    node, nullable = _split_nullable(node)
    optional = typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)
    assert optional == nullable, f"{where}: nullable in schema={nullable}, Optional in spec.py={optional}"
    if optional:
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
    if dataclasses.is_dataclass(tp):
        assert node.get("type") == "object", where
        props = node["properties"]
        fields = {f.name: f for f in dataclasses.fields(tp)}
        assert list(fields) == list(props), f"{where}: fields {list(fields)} != schema {list(props)}"
        assert set(node.get("required", [])) == set(props), f"{where}: schema has optional fields"
        assert all(f.default is dataclasses.MISSING for f in fields.values()), f"{where}: defaults in spec.py"
        assert node.get("additionalProperties") is False, where
        hints = typing.get_type_hints(tp)
        for name in fields:
            _compare(hints[name], props[name], f"{where}.{name}")
    elif typing.get_origin(tp) is typing.Literal:
        values = list(typing.get_args(tp))
        assert values == node.get("enum", [node.get("const")]), f"{where}: {values} vs {node}"
    elif typing.get_origin(tp) is list:
        assert node["type"] == "array", where
        _compare(typing.get_args(tp)[0], node["items"], f"{where}[]")
    elif where == "spec.spec_version":
        assert node.get("const") == S.SPEC_VERSION and tp is int
    else:
        assert PRIMITIVE[tp] == node["type"], f"{where}: {tp} vs {node['type']}"


def test_dataclasses_mirror_schema():
    with open(SCHEMA) as f:
        _compare(S.RunSpec, json.load(f), "spec")


def _valid(tmp_path) -> dict:
    return shards.make_spec(str(tmp_path / "run"), "/m", "/s", {"seq_len": 8, "packing": False, "num_rows": 16, "num_tokens": 100, "trained_tokens": 50})


def test_valid_spec_loads(tmp_path):
    spec = S.parse_spec(_valid(tmp_path))
    assert spec.train.global_batch_rows == 4 and spec.method.lora is None and spec.fault is None


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda s: s.update(spec_version=1), "spec_version"),
        (lambda s: s["train"].pop("seed"), "train.seed"),
        (lambda s: s["model"].update(extra=1), "model.extra"),
        (lambda s: s["train"].update(max_steps="10"), "train.max_steps"),
        (lambda s: s["train"]["activation_checkpointing"].update(offload=1), "train.activation_checkpointing.offload"),
        (lambda s: s["precision"].update(compute_dtype="fp8"), "precision.compute_dtype"),
        (lambda s: s["method"].update(finetuning_type="lora"), "method.lora"),
        (lambda s: s["train"].update(global_batch_rows=5), "global_batch_rows"),
        (lambda s: s.update(fault={"rank": 0, "step": 1, "kind": "boom"}), "fault.kind"),
    ],
)
def test_bad_spec_is_rejected(tmp_path, mutate, words):
    raw = _valid(tmp_path)
    mutate(raw)
    with pytest.raises(SpecError) as e:
        S.parse_spec(raw)
    assert words in e.value.message


def test_bad_spec_gives_error_event_and_exit_2(tmp_path, validate_event):
    raw = _valid(tmp_path)
    raw["spec_version"] = 99
    path = shards.write_spec(str(tmp_path / "run"), raw)
    r = run_worker(path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    events = shards.read_events(raw["events_path"])
    assert [e["type"] for e in events] == ["error"]
    validate_event(events[0])
    assert events[0]["code"] == "SPEC_INVALID" and "spec_version" in events[0]["message"]
