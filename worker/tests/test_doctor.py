"""whet_doctor's probes on the CPU: JSON on stdout only, and the gloo path of the collectives
through torchrun with two processes, checksums right."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKER))  # whet_doctor without installing (conftest.py does the same)

from whet_doctor.comm import _buffers, _expect, _fill  # noqa: E402


def run(*args, timeout=180):
    env = {**os.environ, "PYTHONPATH": str(WORKER), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)


def probe(*args):
    r = run("-m", "whet_doctor", *args)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout  # one JSON object, nothing else on stdout
    return json.loads(lines[0])


def test_env_reports_versions_and_devices():
    env = probe("env")
    assert env["torch"]["version"] == torch.__version__
    assert env["torch"]["gloo_available"] is True
    assert env["torch"]["device_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert env["python"]["executable"] == sys.executable
    assert set(env["packages"]) >= {"transformers", "peft", "deepspeed"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU behaviour")
def test_gpu_probes_say_there_is_nothing_to_measure_on_the_cpu():
    assert probe("p2p")["pairs"] == []
    assert probe("matmul") == {"skipped": "no CUDA device", "devices": [], "probe_seconds": pytest.approx(0, abs=60)}


@pytest.mark.parametrize("op", ["all_reduce", "all_gather", "reduce_scatter"])
def test_checksums_catch_a_wrong_result(op):
    world = 4
    buf, out = _buffers(op, 1 << 12, world, torch.device("cpu"))
    # What a correct collective leaves on rank 0, built by hand.
    if op == "all_gather":
        out.copy_(torch.arange(1, world + 1, dtype=torch.float32).repeat_interleave(out.numel() // world))
        result = out
    else:
        result = buf if op == "all_reduce" else out
        result.fill_(world * (world + 1) / 2)
    assert _expect(op, world, 0, result)
    result[len(result) // 2] = 0  # broken P2P returns zeros
    assert not _expect(op, world, 0, result)
    assert _fill(torch.empty(3), 2).tolist() == [3, 3, 3]


def test_gloo_collectives_two_processes_through_torchrun(tmp_path):
    out = tmp_path / "collectives.json"
    r = run("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--max-restarts", "0",
            "-m", "whet_doctor", "collectives", "--out", str(out), "--backend", "gloo",
            "--min-bytes", str(1 << 20), "--max-bytes", str(1 << 22), "--factor", "4",
            "--target-bytes", str(1 << 23), "--max-iters", "4")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == ""  # results go to --out, never mixed into logs
    result = json.loads(out.read_text())
    assert (result["backend"], result["world_size"], result["device"]) == ("gloo", 2, "cpu")
    rows = result["results"]
    assert [(x["op"], x["bytes"]) for x in rows] == [
        (op, size) for op in ("all_reduce", "all_gather", "reduce_scatter") for size in (1 << 20, 1 << 22)
    ]
    assert all(x["checksum_ok"] for x in rows)
    assert all(x["seconds"] > 0 and 2 <= x["iters"] <= 4 for x in rows)
