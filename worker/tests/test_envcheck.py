"""Ranks compare their environments before the first step; a difference names the node."""

import torch

from whet_worker.envcheck import local_facts, mismatches


def _facts(**over):
    base = local_facts(2, torch.device("cpu"))
    return {**base, **over}


def test_same_environment_has_no_mismatch():
    assert mismatches([_facts(host="a"), _facts(host="b", node_rank="1")]) == []


def test_a_different_torch_and_gpu_name_the_node():
    got = mismatches([
        _facts(host="node-a", torch="2.11.0", device_name="NVIDIA H200"),
        _facts(host="node-b", node_rank="1", torch="2.10.0", device_name="NVIDIA A100-SXM4-80GB"),
    ])
    assert got == [
        "torch: rank 0 on node-a has 2.11.0; rank 1 on node-b (node 1): 2.10.0",
        "device_name: rank 0 on node-a has NVIDIA H200; rank 1 on node-b (node 1): NVIDIA A100-SXM4-80GB",
    ]


def test_many_odd_ranks_are_summarised():
    facts = [_facts(host="h0")] + [_facts(host=f"h{r}", node_rank=str(r), transformers="0.0") for r in range(1, 8)]
    (line,) = mismatches(facts)
    assert line.startswith("transformers: rank 0 on h0 has ")
    assert line.endswith("and 3 more")
