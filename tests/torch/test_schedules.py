"""Learning-rate schedules: each one's learning rate step by step, by hand and against torch."""

import math

import pytest
import torch
from torch import nn

from stridelab.torch import schedules


def _lrs(optimizer, scheduler, n_steps: int) -> list[list[float]]:
    """Each parameter group's learning rate at steps 0 .. n_steps - 1."""
    out = []
    for _ in range(n_steps):
        out.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


def _sgd(lr=1.0, momentum=0.0):
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=momentum)


def test_linear_warmup_decay_rises_then_falls_to_zero():
    opt = _sgd()
    sched = schedules.linear_warmup_decay(opt, total_steps=8, warmup=0.25)  # peak after 2 steps
    lrs = [lr for (lr,) in _lrs(opt, sched, 8)]
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert opt.param_groups[0]["lr"] == 0.0
    assert [schedules.linear_warmup_decay_factor(s, 8, 0.25) for s in range(9)] == \
        pytest.approx(lrs + [0.0])


def test_cosine_anneals_to_zero_and_the_engine_factor_agrees():
    opt = _sgd(lr=0.3)
    lrs = [lr for (lr,) in _lrs(opt, schedules.cosine(opt, total_steps=6), 7)]
    expected = [0.3 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in range(7)]
    assert lrs == pytest.approx(expected, abs=1e-12)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert [schedules.cosine_lr(s, 6, 0.3) for s in range(7)] == pytest.approx(expected)


def test_cosine_with_warmup_is_one_cycle_without_momentum_cycling():
    opt = _sgd(lr=0.04, momentum=0.9)
    lrs = [lr for (lr,) in _lrs(opt, schedules.cosine(opt, total_steps=10, warmup=0.2), 10)]
    assert lrs[0] == pytest.approx(0.04 / 25) and max(lrs) == pytest.approx(0.04)
    assert lrs.index(max(lrs)) == 1  # torch puts the peak at step 0.2 · 10 − 1
    assert lrs[-1] == pytest.approx(0.04 / 25 / 1e4)
    assert opt.param_groups[0]["momentum"] == 0.9  # not cycled


def test_one_cycle_is_torchs_with_each_groups_learning_rate_as_its_peak():
    model_a, model_b = nn.Linear(2, 2), nn.Linear(2, 2)

    def adam():
        return torch.optim.Adam([{"params": model_a.parameters(), "lr": 3e-3},
                                 {"params": model_b.parameters(), "lr": 1e-2}])

    ours, theirs = adam(), adam()
    reference = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=[3e-3, 1e-2],
                                                    total_steps=12)
    assert _lrs(ours, schedules.one_cycle(ours, 12), 12) == _lrs(theirs, reference, 12)
    assert [g["betas"] for g in ours.param_groups] == [g["betas"] for g in theirs.param_groups]


def test_the_factors_import_no_torch():
    import subprocess
    import sys

    code = "import sys, stridelab.torch.schedules\nprint('torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
