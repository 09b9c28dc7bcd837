import math
from types import SimpleNamespace

import pytest
import torch

from whet_worker.optim import build_optimizer, lr_at


def _t(kind, warm=4, total=20, floor=0.1):
    return SimpleNamespace(lr_scheduler_type=kind, learning_rate=1.0, warmup_steps=warm, max_steps=total, min_lr_ratio=floor,
                           weight_decay=0.1, adam_beta1=0.9, adam_beta2=0.95, adam_epsilon=1e-8)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_warmup_then_decay_to_floor(kind):
    t = _t(kind)
    # Trainer's convention: step s runs at lambda(s - 1), so warmup starts at 0.
    assert [lr_at(t, s) for s in (1, 2, 5)] == [0.0, 0.25, 1.0]
    assert lr_at(t, 20) > 0.1 and math.isclose(lr_at(t, 21), 0.1)
    lrs = [lr_at(t, s) for s in range(5, 22)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_constant_kinds():
    assert lr_at(_t("constant"), 1) == 1.0
    assert lr_at(_t("constant_with_warmup"), 3) == 0.5 and lr_at(_t("constant_with_warmup"), 19) == 1.0


def test_no_decay_on_biases_and_norms():
    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    opt = build_optimizer(m, _t("cosine"))
    decay = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decay == {id(m[0].weight)}
