"""Learning-rate schedules: every study builds its schedule here (nanoGPT's ``get_lr`` spirit).

A schedule is a function of the step. The pure factors (:func:`cosine_lr`,
:func:`linear_warmup_decay_factor`) need no PyTorch, so the NumPy engine's training loop uses
them directly; the builders attach a schedule to a ``torch.optim`` optimizer and are stepped
once per batch (``fit(..., scheduler=..., scheduler_per="step")``):

- :func:`one_cycle`: torch's ``OneCycleLR``, from the optimizer's learning rates as peaks;
- :func:`cosine`: a cosine from the learning rate down to zero, optionally after a warm-up;
- :func:`linear_warmup_decay`: a linear rise to the peak, then a linear fall to zero.

This module imports torch only inside the builders.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


# ---------------------------------------------------------------------------------------------
# factors of the step (no torch)


def cosine_lr(step: int, total_steps: int, peak: float) -> float:
    """Learning rate at ``step``: from ``peak`` down to 0 along half a cosine over ``total_steps``."""
    return 0.5 * peak * (1 + math.cos(math.pi * step / max(total_steps, 1)))


def linear_warmup_decay_factor(step: int, total_steps: int, warmup: float) -> float:
    """Fraction of the peak at ``step`` (from 0): a linear rise over the first ``warmup``
    fraction of the steps (reaching the peak at the end of it), then a linear fall to 0 at
    ``total_steps``."""
    peak_step = max(1, round(warmup * total_steps))
    if step < peak_step:
        return (step + 1) / peak_step
    return max(0.0, (total_steps - step) / max(1, total_steps - peak_step))


# ---------------------------------------------------------------------------------------------
# schedulers for torch optimizers, stepped once per batch


def one_cycle(optimizer: torch.optim.Optimizer, total_steps: int, *, warmup: float = 0.3,
              cycle_momentum: bool = True) -> torch.optim.lr_scheduler.OneCycleLR:
    """Torch's one-cycle schedule with each parameter group's learning rate as its peak.

    Over the first ``warmup`` fraction of the steps the learning rate rises from peak/25 to
    the peak, then falls along a cosine to peak/(25·10⁴); with ``cycle_momentum`` (torch's
    default) the momentum (Adam's β₁) moves the other way, between 0.95 and 0.85.
    """
    import torch

    peaks = [group["lr"] for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peaks if len(peaks) > 1 else peaks[0],
        total_steps=max(1, total_steps), pct_start=warmup, cycle_momentum=cycle_momentum)


def cosine(optimizer: torch.optim.Optimizer, total_steps: int, *, warmup: float = 0.0):
    """The learning rate annealed to zero along a cosine over ``total_steps``.

    ``warmup > 0`` first raises it from lr/25 to lr over that fraction of the steps: the
    one-cycle schedule without momentum cycling.
    """
    import torch

    if warmup > 0:
        return one_cycle(optimizer, total_steps, warmup=warmup, cycle_momentum=False)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))


def linear_warmup_decay(optimizer: torch.optim.Optimizer, total_steps: int,
                        warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A triangle: the learning rate rises linearly to its peak (the optimizer's ``lr``) over
    the first ``warmup`` fraction of the steps, then falls linearly to 0 at the last step
    (:func:`linear_warmup_decay_factor`)."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: linear_warmup_decay_factor(step, total_steps, warmup))
