"""Compiled decoder blocks: same outputs as eager, state-dict names unchanged, and a block whose
compile fails runs eagerly with the failure recorded (the trainer turns it into a warning)."""

import torch

import shards
from whet_worker.compiling import CompileFailures, compile_blocks, root_cause
from whet_worker.parallel import decoder_blocks


def _pair():
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = shards.tiny_config(vocab=256)
    cfg.pop("architectures"), cfg.pop("model_type")
    torch.manual_seed(0)
    a = AutoModelForCausalLM.from_config(LlamaConfig(**cfg))
    b = AutoModelForCausalLM.from_config(LlamaConfig(**cfg))
    b.load_state_dict(a.state_dict())
    return a, b


def test_failed_compile_falls_back_to_eager_and_is_reported():
    eager, model = _pair()
    failures = CompileFailures()

    def broken_backend(gm, example_inputs):
        raise RuntimeError("no C++ compiler found")

    compile_blocks(decoder_blocks(model), failures, backend=broken_backend)
    names = list(model.state_dict())
    ids = torch.randint(3, 256, (2, 10))
    out = model(input_ids=ids, use_cache=False).logits
    out.sum().backward()
    assert torch.allclose(out, eager(input_ids=ids, use_cache=False).logits, atol=1e-6)
    messages = failures.take()
    assert len(messages) == 1 and "block 0 (LlamaDecoderLayer) runs uncompiled" in messages[0]
    assert "no C++ compiler found" in messages[0]
    assert failures.blocks == 2 and failures.take() == []
    assert list(model.state_dict()) == names == list(eager.state_dict())


def test_out_of_memory_is_not_a_compile_failure():
    _, model = _pair()
    failures = CompileFailures()

    def oom_backend(gm, example_inputs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    compile_blocks(decoder_blocks(model), failures, backend=oom_backend)
    try:
        model(input_ids=torch.randint(3, 256, (1, 6)), use_cache=False)
    except Exception as e:  # dynamo may wrap it; the OOM must still be what surfaces
        assert isinstance(root_cause(e), torch.OutOfMemoryError), repr(e)
        assert failures.blocks == 0
    else:
        raise AssertionError("the OOM was swallowed")
