"""The multi-process engine on gloo: every strategy, offload and checkpointing mode gives the losses
of one plain process; zero3 checkpoints resume after a kill and on other world sizes; exports load.

Launching torch is most of a tiny run's cost on a 2-core machine, so most cases share a launch:
this file, run as a script under torchrun, trains several specs one after another in the same
processes through train.run, the call the worker's CLI makes (see _drive at the bottom). The kill
and the missing-DeepSpeed cases go through the CLI itself.
"""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

import shards
from conftest import PYTHON, run_worker, worker_env
from runs import losses, setup_run

STEPS = 6
REL = 1e-4
# world size -> (micro-batch, accumulation): a global batch of 4 rows at every world size.
BATCH = {1: (2, 2), 2: (1, 2), 4: (1, 1)}
LORA = {"method.finetuning_type": "lora", "method.lora": {"rank": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj", "down_proj"]},
        "train.learning_rate": 1e-2}
BF16_LORA = {**LORA, "precision": {"compute_dtype": "bfloat16", "master_dtype": "float32", "frozen_dtype": "bfloat16",
                                   "save_dtype": "bfloat16", "loss_scaling": False}}


VARLEN = {"model.attn_implementation": "varlen"}
COMPILED = {"train.compile": True}


def _s(strategy, offload="none", **over):
    return {"distributed.strategy": strategy, "distributed.offload": offload, **over}


def _ac(mode, every=1, offload=False):
    return {"train.activation_checkpointing": {"mode": mode, "every": every, "offload": offload}}


def _resume(case):
    return {"resume": case}


STRATEGIES = {s: _s(s) for s in ("ddp", "zero1", "zero2", "zero3")}
STRATEGIES["zero3-lora"] = _s("zero3", **LORA)
# Launch order matters: later launches resume from checkpoints of earlier ones.
LAUNCHES = [
    (2, {
        **STRATEGIES,
        "zero3": _s("zero3", **{"checkpoint.save_steps": 3}),  # the uninterrupted reference; exported
        "zero1": _s("zero1", **{"checkpoint.save_steps": 3}),
        "zero3-offload-optimizer": _s("zero3", "optimizer", **{"checkpoint.save_steps": 3}),
        "zero3-offload-all": _s("zero3", "params+optimizer"),
        "zero2-offload-optimizer": _s("zero2", "optimizer"),
        "zero1-offload-optimizer": _s("zero1", "optimizer"),
        "zero3-lora-bf16": _s("zero3", **BF16_LORA),
        "zero3-resume-2": _s("zero3", **_resume("killed")),
        "zero3-varlen": _s("zero3", **VARLEN),
        "zero3-lora-varlen": _s("zero3", **LORA, **VARLEN),
        "zero3-varlen-compiled": _s("zero3", **VARLEN, **COMPILED),
    }),
    (1, {
        **STRATEGIES,
        "zero3-offload-optimizer": _s("zero3", "optimizer"),
        "zero3-offload-all": _s("zero3", "params+optimizer"),
        "ddp-offload-optimizer": _s("ddp", "optimizer"),
        "zero3-ac-selective": _s("zero3", **_ac("selective", every=2)),
        "zero3-ac-full": _s("zero3", **_ac("full", offload=True)),
        "ddp-ac-full": _s("ddp", **_ac("full")),
        "zero3-lora-bf16": _s("zero3", **BF16_LORA),
        "ddp-lora": _s("ddp", **LORA),
        "zero3-resume-1": _s("zero3", **_resume("killed")),
        "ddp-varlen": _s("ddp", **VARLEN),
        "ddp-compiled": _s("ddp", **COMPILED),
        "zero3-varlen-compiled-ac": _s("zero3", **VARLEN, **COMPILED, **_ac("full")),
        # fp32 masters saved by HostAdamW on 2 ranks, resumed without offload on 1, and the reverse
        "offloaded-resume-1": _s("zero3", **_resume("w2/zero3-offload-optimizer")),
        "resume-offloaded-1": _s("zero3", "optimizer", **_resume("killed")),
    }),
    (4, {
        **STRATEGIES,
        "zero3-resume-4": _s("zero3", **_resume("killed")),
        "zero1-resume-4": _s("zero1", **_resume("w2/zero1")),
    }),
]


def _spec(tmp, model_dir, name, world, over):
    over = dict(over)
    resume = over.pop("resume", None)
    if resume:
        over["checkpoint.resume_from"] = os.path.join(tmp, resume, "checkpoints", "step-3")
    mbs, acc = BATCH[world]
    return setup_run(tmp, model_dir, name=name, world_size=world, micro_batch_size=mbs, accumulation=acc,
                     **{"train.max_steps": STEPS, **over})


def _launch(paths, world):
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", str(world),
           "--max-restarts", "0", __file__, *paths]
    r = subprocess.run(cmd, env=worker_env(1), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-6000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, model_dir):
    """case name ('w<world>/<case>', and 'killed') -> (spec, events)."""
    tmp = str(tmp_path_factory.mktemp("engine"))
    out = {}
    # Killed: rank 1 dies at step 5 of a zero3 run that checkpointed after step 3.
    spec, path = _spec(tmp, model_dir, "killed", 2, _s("zero3", **{"checkpoint.save_steps": 3, "fault": {"rank": 1, "step": 5, "kind": "exit"}}))
    r = run_worker(path, nproc=2)
    assert r.returncode != 0
    out["killed"] = (spec, shards.read_events(spec["events_path"]))
    for world, cases in LAUNCHES:
        made = {f"w{world}/{name}": _spec(tmp, model_dir, f"w{world}/{name}", world, over) for name, over in cases.items()}
        _launch([path for _, path in made.values()], world)
        out.update({name: (spec, shards.read_events(spec["events_path"])) for name, (spec, _) in made.items()})
    return out


def _close(a: dict, b: dict, steps, rel=REL):
    assert sorted(b) == list(steps), sorted(b)
    for s in steps:
        assert abs(a[s] - b[s]) <= rel * abs(a[s]), (s, a[s], b[s])


def _losses(runs, name):
    return losses(runs[name][1])


def _hello(runs, name):
    return next(e for e in runs[name][1] if e["type"] == "hello")


@pytest.mark.parametrize("strategy", ["ddp", "zero1", "zero2", "zero3", "zero3-lora"])
def test_one_two_four_processes_same_losses(runs, validate_event, strategy):
    ref = _losses(runs, f"w1/{strategy}")
    for world in (2, 4):
        _close(ref, _losses(runs, f"w{world}/{strategy}"), range(1, STEPS + 1))
        events = runs[f"w{world}/{strategy}"][1]
        for e in events:
            validate_event(e)
        assert [e["type"] for e in events].count("done") == 1
    # ... and all of them the losses of a plain single process
    _close(_losses(runs, "w1/ddp-lora" if "lora" in strategy else "w1/ddp"), ref, range(1, STEPS + 1))
    assert ref[STEPS] < ref[1]
    hello = _hello(runs, f"w2/{strategy}")
    assert hello["strategy"] == strategy.removesuffix("-lora") and hello["engine"] == "torch"
    assert hello["wrapping"]["module"] == {"ddp": "DDP", "zero1": "DDP"}.get(strategy.split("-")[0], "FSDP2")
    assert hello["wrapping"]["optimizer"] == ("ZeroRedundancyOptimizer" if strategy == "zero1" else "AdamW")


@pytest.mark.parametrize("case", ["w1/zero3-offload-optimizer", "w1/zero3-offload-all", "w1/ddp-offload-optimizer",
                                  "w2/zero3-offload-optimizer", "w2/zero3-offload-all", "w2/zero2-offload-optimizer",
                                  "w2/zero1-offload-optimizer"])
def test_offload_same_losses(runs, case):
    _close(_losses(runs, "w1/ddp"), _losses(runs, case), range(1, STEPS + 1))
    hello = _hello(runs, case)
    assert hello["offload"] == case.split("offload-")[1].replace("all", "params+optimizer")
    if hello["offload"] == "optimizer":
        assert hello["wrapping"]["optimizer"] in ("HostAdamW", "ZeroRedundancyOptimizer")


def test_activation_checkpointing_same_losses(runs):
    ref = _losses(runs, "w1/zero3")
    for case, checkpointed in (("w1/zero3-ac-selective", 1), ("w1/zero3-ac-full", 2), ("w1/ddp-ac-full", 2)):
        _close(ref, _losses(runs, case), range(1, STEPS + 1))
        ac = _hello(runs, case)["activation_checkpointing"]
        # The tiny model has 2 blocks: selective every 2 checkpoints block 0; offload is CUDA-only.
        assert (ac["checkpointed_blocks"], ac["total_blocks"], ac["offload"]) == (checkpointed, 2, False)


def test_varlen_attention_and_compiled_blocks_same_losses(runs):
    # The shards hold packed rows: sdpa bounds attention per document with a mask built from the
    # restarting positions, varlen flattens the micro-batch and bounds it by cu_seqlens.
    for case, ref in (("w1/ddp-varlen", "w1/ddp"), ("w2/zero3-varlen", "w2/zero3"), ("w2/zero3-lora-varlen", "w2/zero3-lora"),
                      ("w1/ddp-compiled", "w1/ddp"), ("w2/zero3-varlen-compiled", "w2/zero3"),
                      ("w1/zero3-varlen-compiled-ac", "w1/zero3")):
        _close(_losses(runs, ref), _losses(runs, case), range(1, STEPS + 1))
        assert not [e for e in runs[case][1] if e["type"] == "warning"], case
    for case, compiled in (("w1/ddp-compiled", 2), ("w2/zero3-varlen-compiled", 2), ("w2/zero3-varlen", 0)):
        w = _hello(runs, case)["wrapping"]
        assert (w["compiled_blocks"], w["fused_loss"]) == (compiled, True), case


def test_lora_mixed_dtypes_under_fsdp2(runs):
    # bf16 frozen base and fp32 adapters in the same FSDP2 groups, bf16 compute, on 1 and 2 ranks.
    one, two = _losses(runs, "w1/zero3-lora-bf16"), _losses(runs, "w2/zero3-lora-bf16")
    _close(one, two, range(1, STEPS + 1), rel=1e-2)
    _close(_losses(runs, "w1/zero3-lora"), one, range(1, STEPS + 1), rel=1e-2)
    w = _hello(runs, "w2/zero3-lora-bf16")["wrapping"]
    assert (w["param_dtype"], w["reduce_dtype"]) == ("bfloat16", "float32")


def test_zero3_kill_then_resume_on_2_1_and_4_processes(runs):
    killed = runs["killed"][1]
    # Rank 1 dies without a word, like a real crash; rank 0 finds its collective broken.
    assert [(e["rank"], e["code"]) for e in killed if e["type"] == "error"] == [(0, "PEER_FAILED")]
    assert [e["step"] for e in killed if e["type"] == "checkpoint"] == [3]
    ref = _losses(runs, "w2/zero3")
    _close(ref, losses(killed), range(1, 5))
    for world in (2, 1, 4):
        name = f"w{world}/zero3-resume-{world}"
        assert _hello(runs, name)["start_step"] == 3
        _close(ref, _losses(runs, name), range(4, STEPS + 1))


def test_resume_across_offload_and_zero1_partitions(runs):
    _close(_losses(runs, "w2/zero3-offload-optimizer"), _losses(runs, "w1/offloaded-resume-1"), range(4, STEPS + 1))
    _close(_losses(runs, "w2/zero3"), _losses(runs, "w1/resume-offloaded-1"), range(4, STEPS + 1))
    _close(_losses(runs, "w2/zero1"), _losses(runs, "w4/zero1-resume-4"), range(4, STEPS + 1))


def test_zero3_export_equals_the_trained_weights(runs):
    import torch.distributed.checkpoint as dcp
    from transformers import AutoModelForCausalLM

    spec, events = runs["w2/zero3"]
    assert events[-1]["type"] == "done" and events[-1]["export_dir"] == os.path.abspath(spec["export"]["dir"])
    exported = AutoModelForCausalLM.from_pretrained(spec["export"]["dir"]).state_dict()
    # The weights of the last checkpoint (step 6), reassembled from the two ranks' shards.
    trained = {k: torch.empty_like(v) for k, v in exported.items()}
    dcp.load({"model": trained}, checkpoint_id=os.path.join(spec["checkpoint"]["dir"], "step-6"), no_dist=True)
    assert trained.keys() == exported.keys()
    for k, v in exported.items():
        assert v.numel() > 0 and torch.equal(v, trained[k]), k


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed")
def test_deepspeed_missing_is_a_clear_error(tmp_path, model_dir):
    spec, path = setup_run(str(tmp_path), model_dir, **_s("zero3", "optimizer", **{
        "distributed.engine": "deepspeed", "distributed.deepspeed_config": {"zero_optimization": {"stage": 3}}}))
    r = run_worker(path)
    assert r.returncode == 2, r.stderr[-3000:]
    (err,) = shards.read_events(spec["events_path"])
    assert err["code"] == "DEEPSPEED_MISSING" and err["phase"] == "setup" and err["traceback"] is None
    for words in ("pip install deepspeed", "distributed_backend: fsdp2", "sharding: zero3", "offload: optimizer"):
        assert words in err["message"], err["message"]


def test_params_offload_needs_fsdp(tmp_path):
    from whet_worker import parallel
    from whet_worker.errors import SpecError
    from whet_worker.spec import parse_spec

    raw = shards.make_spec(str(tmp_path), "/m", "/s", {"seq_len": 8, "packing": False, "num_rows": 16, "num_tokens": 100, "trained_tokens": 50},
                           **_s("zero1", "params+optimizer"))
    with pytest.raises(SpecError, match="params\\+optimizer needs strategy zero2 or zero3"):
        parallel.check(parse_spec(raw))


def test_host_adamw_matches_torch_adamw():
    from whet_worker.offload import HostAdamW

    torch.manual_seed(0)
    ref = [torch.nn.Parameter(torch.randn(n, 3)) for n in (5, 7, 2, 9)]
    mine = [torch.nn.Parameter(p.detach().clone()) for p in ref]

    def groups(ps):
        return [{"params": ps[:3], "weight_decay": 0.1}, {"params": ps[3:], "weight_decay": 0.0}]

    a = torch.optim.AdamW(groups(ref), lr=1e-2, betas=(0.9, 0.95), eps=1e-8, fused=True)
    # 30 elements a chunk: the 4 tensors step in 3 chunks through the staging buffer.
    b = HostAdamW(groups(mine), lr=1e-2, betas=(0.9, 0.95), eps=1e-8, chunk_numel=30)
    assert len(b.chunks) == 3
    for step in range(3):
        for opt, ps in ((a, ref), (b, mine)):
            opt.param_groups[0]["lr"] = 1e-2 / (step + 1)
            for i, p in enumerate(ps):
                p.grad = torch.sin(torch.arange(p.numel(), dtype=torch.float32) + step + i).view_as(p)
            opt.step()
            opt.zero_grad(set_to_none=True)
    for p, q in zip(ref, mine):
        assert torch.equal(p, q)
        assert torch.equal(a.state[p]["exp_avg_sq"], b.param_states()[q]["exp_avg_sq"])


def _drive(paths):
    """Trains each spec in turn in these torchrun processes, through train.run as the CLI does."""
    from whet_worker import dist, train
    from whet_worker.events import Events
    from whet_worker.faults import StopFlag
    from whet_worker.spec import load_spec

    specs = [load_spec(p) for p in paths]
    # One group for all: a spec that needs one even on a single rank sets it up.
    d = dist.setup(next((s for s in specs if s.distributed.strategy != "ddp"), specs[0]))
    for spec in specs:
        code = train.run(spec, d, Events(spec.events_path, d.rank), StopFlag(d.rank), train.Progress())
        assert code == 0, f"{spec.run_id}: exit code {code}"
    d.close()


if __name__ == "__main__":
    _drive(sys.argv[1:])
