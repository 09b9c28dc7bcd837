"""The golden NDJSON files both test suites read must match schema/events.schema.json."""

import json
import os

import jsonschema
import pytest

import shards
from whet_worker.events import encode

GOLDEN = os.path.join(shards.REPO, "tests", "golden", "events")


def _lines(name):
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def _parse(line, validate_event):
    try:
        ev = json.loads(line)
        validate_event(ev)
        return ev
    except (json.JSONDecodeError, AssertionError):
        return None


@pytest.mark.parametrize("name", ["train-ok.jsonl", "oom.jsonl"])
def test_valid_golden_files(name, validate_event):
    events = [json.loads(line) for line in _lines(name)]
    assert events
    for ev in events:
        validate_event(ev)
    assert events[0]["type"] == "hello"
    if name == "train-ok.jsonl":
        assert events[-1]["type"] == "done"
        assert {e["type"] for e in events} >= {"hello", "step", "checkpoint", "done"}
    else:
        errors = [e for e in events if e["type"] == "error"]
        assert events[-1]["type"] == "error" and errors[0]["code"] == "OOM"


def test_garbage_file_mixes_good_and_bad_lines(validate_event):
    parsed = [_parse(line, validate_event) for line in _lines("garbage.jsonl")]
    assert sum(p is None for p in parsed) == 4
    assert sum(p is not None for p in parsed) == 3


def test_schema_rejects_what_it_should(validate_event):
    good = json.loads(_lines("train-ok.jsonl")[2])
    assert good["type"] == "step"
    for bad in ({**good, "loss": "x"}, {k: v for k, v in good.items() if k != "tokens_per_s"}, {**good, "rank": -1}):
        with pytest.raises(AssertionError):
            validate_event(bad)


def test_encoder_writes_one_line_without_nan():
    line = encode({"type": "step", "loss": float("nan"), "msg": "a\nb"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["loss"] is None
