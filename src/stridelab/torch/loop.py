"""The shared PyTorch training loop: seeds, devices, loaders, train_one_epoch, evaluate, fit.

Every PyTorch experiment trains through :func:`fit`, so each one gets the same behaviour:
a progress bar per epoch, a per-epoch history, checkpoints written atomically and resumable,
a clear stop on a NaN/Inf loss, and data-parallel training when started under ``torchrun``
(DistributedDataParallel; gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from stridelab.errors import TrainingDiverged

# ---------------------------------------------------------------------------------------------
# seeds, devices, processes


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so a CPU run is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def select_device(requested: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def setup_distributed(device: str | torch.device) -> bool:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); idempotent.

    Returns True when training is data-parallel.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    device = torch.device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def _model_device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


# ---------------------------------------------------------------------------------------------
# data


def make_loader(X, y, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False, distributed: bool | None = None) -> DataLoader:
    """A DataLoader over in-memory arrays.

    Training loaders (``shuffle=True``) are sharded with a DistributedSampler under torchrun,
    so ``batch_size`` is per process and the global batch is ``batch_size × world_size``.
    Evaluation loaders (``shuffle=False``) are not sharded: every rank evaluates the whole set,
    which keeps the numbers exact.
    """
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    dataset = TensorDataset(X, y)
    if distributed is None:
        distributed = shuffle and (is_distributed() or int(os.environ.get("WORLD_SIZE", "1")) > 1)
    if distributed:
        sampler = DistributedSampler(dataset, num_replicas=int(os.environ.get("WORLD_SIZE", 1)),
                                     rank=int(os.environ.get("RANK", 0)), shuffle=shuffle,
                                     seed=seed, drop_last=drop_last)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      drop_last=drop_last)


# ---------------------------------------------------------------------------------------------
# one epoch


def _accuracy_count(output: torch.Tensor, target: torch.Tensor) -> tuple[float, int]:
    """Correct predictions and their number: argmax over the last axis against integer targets."""
    if output.dim() == target.dim():  # one output per target (e.g. a regression): no accuracy
        return 0.0, 0
    correct = (output.argmax(dim=-1) == target).sum().item()
    return float(correct), target.numel()


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    loss_fn: Callable, device: str | torch.device, *,
                    metric: str | None = "accuracy", ctx=None, description: str = "train",
                    amp: bool = False, scheduler=None,
                    grad_hook: Callable[[nn.Module], None] | None = None,
                    input_transform: Callable | None = None) -> dict[str, float]:
    """One pass over ``loader``; returns the mean loss (and accuracy) over its samples.

    ``grad_hook(model)`` runs after each backward pass, before the step (e.g. to record
    gradient norms). ``input_transform(x)`` runs on the device batch (e.g. augmentation, noise).
    Raises :class:`TrainingDiverged` as soon as a loss is NaN or Inf.
    """
    device = torch.device(device)
    model.train()
    total_loss, total_correct, n_samples, n_targets = 0.0, 0.0, 0, 0
    batches = ctx.progress(loader, description=description) if ctx is not None else loader
    for step, (x, y) in enumerate(batches):
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if input_transform is not None:
            x = input_transform(x)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=amp and device.type == "cuda"):
            output = model(x)
            loss = loss_fn(output, y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"the training loss became {loss_value} at batch {step}; "
                                   "lower the learning rate (--set lr=...)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_hook is not None:
            grad_hook(model)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        batch = x.shape[0]
        total_loss += loss_value * batch
        n_samples += batch
        if metric == "accuracy":
            correct, count = _accuracy_count(output.detach().float(), y)
            total_correct += correct
            n_targets += count
    out = {"loss": total_loss / max(n_samples, 1)}
    if metric == "accuracy":
        out["accuracy"] = total_correct / max(n_targets, 1)
    return out


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable,
             device: str | torch.device, *, metric: str | None = "accuracy",
             amp: bool = False, input_transform: Callable | None = None) -> dict[str, float]:
    """Mean loss (and accuracy) over ``loader`` with the model in eval mode, without gradients."""
    device = torch.device(device)
    model.eval()
    total_loss, total_correct, n_samples, n_targets = 0.0, 0.0, 0, 0
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if input_transform is not None:
            x = input_transform(x)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=amp and device.type == "cuda"):
            output = model(x)
            loss = loss_fn(output, y)
        total_loss += loss.item() * x.shape[0]
        n_samples += x.shape[0]
        if metric == "accuracy":
            correct, count = _accuracy_count(output.float(), y)
            total_correct += correct
            n_targets += count
    out = {"loss": total_loss / max(n_samples, 1)}
    if metric == "accuracy":
        out["accuracy"] = total_correct / max(n_targets, 1)
    return out


@torch.no_grad()
def predict(model: nn.Module, X, *, batch_size: int = 512,
            device: str | torch.device = "cpu") -> torch.Tensor:
    """The model's outputs on ``X`` (in eval mode), on the CPU."""
    device = torch.device(device)
    model.eval()
    X = torch.as_tensor(X)
    outs = [model(X[i:i + batch_size].to(device)).float().cpu()
            for i in range(0, len(X), batch_size)]
    return torch.cat(outs)


# ---------------------------------------------------------------------------------------------
# many epochs


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer, epoch: int,
                    history: dict) -> None:
    """Write a checkpoint atomically (rank 0 only)."""
    if rank() != 0:
        return
    from stridelab.experiments.artifacts import atomic_write

    state = {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
             "epoch": epoch, "history": history}
    with atomic_write(path, "wb") as fh:
        torch.save(state, fh)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code runs)."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return state


def fit(model: nn.Module, train_loader: DataLoader, test_loader: DataLoader | None, *,
        optimizer: torch.optim.Optimizer, loss_fn: Callable, num_epochs: int,
        device: str | torch.device = "cpu", ctx=None, metric: str | None = "accuracy",
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        scheduler=None, scheduler_per: str = "step", amp: bool = False,
        channels_last: bool = False, grad_hook: Callable | None = None,
        input_transform: Callable | None = None, test_transform: Callable | None = None,
        on_epoch_end: Callable[[int, dict], None] | None = None) -> dict[str, list]:
    """Train for ``num_epochs`` and return the per-epoch history.

    History keys: ``epoch``, ``train_loss``, ``test_loss``, ``epoch_time`` and, when ``metric``
    is "accuracy", ``train_accuracy`` and ``test_accuracy``. With ``checkpoint`` set, the state
    after each good epoch is saved there (atomically); ``resume=True`` continues from it. On a
    NaN/Inf loss the run stops with :class:`TrainingDiverged` and the last good checkpoint is
    left in place. Under torchrun the model is wrapped in DistributedDataParallel.
    """
    distributed = setup_distributed(device)
    device = _model_device(device)
    model.to(device)
    if channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    history: dict[str, list] = {"epoch": [], "train_loss": [], "test_loss": [], "epoch_time": []}
    if metric == "accuracy":
        history.update(train_accuracy=[], test_accuracy=[])
    start_epoch = 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, optimizer, map_location=device)
        start_epoch, history = int(state["epoch"]), state["history"]
        if ctx is not None:
            ctx.log(f"resumed from {Path(checkpoint).name} after epoch {start_epoch}")
    train_model = model
    if distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    step_scheduler = scheduler if scheduler_per == "step" else None
    for epoch in range(start_epoch, num_epochs):
        sampler = getattr(train_loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        try:
            train = train_one_epoch(train_model, train_loader, optimizer, loss_fn, device,
                                    metric=metric, ctx=ctx, amp=amp, scheduler=step_scheduler,
                                    description=f"epoch {epoch + 1}/{num_epochs}",
                                    grad_hook=grad_hook, input_transform=input_transform)
        except TrainingDiverged as exc:
            kept = f"; the last good checkpoint is {checkpoint}" if checkpoint else ""
            raise TrainingDiverged(f"epoch {epoch + 1}: {exc}{kept}") from None
        if scheduler is not None and scheduler_per == "epoch":
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_time = time.perf_counter() - t0
        test = evaluate(model, test_loader, loss_fn, device, metric=metric, amp=amp,
                        input_transform=test_transform) if test_loader is not None else {}
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(train["loss"])
        history["test_loss"].append(test.get("loss", float("nan")))
        history["epoch_time"].append(epoch_time)
        message = f"epoch {epoch + 1}/{num_epochs}: train loss {train['loss']:.4f}"
        if metric == "accuracy":
            history["train_accuracy"].append(train["accuracy"])
            history["test_accuracy"].append(test.get("accuracy", float("nan")))
            message += f", acc {train['accuracy']:.4f}"
        if test:
            message += f" | test loss {test['loss']:.4f}"
            if metric == "accuracy":
                message += f", acc {test['accuracy']:.4f}"
        message += f" ({epoch_time:.1f}s)"
        if ctx is not None:
            ctx.log(message)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch + 1, history)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history


def history_summary(history: dict[str, Any]) -> dict[str, Any]:
    """Final-epoch numbers and the median epoch time, for metrics.json."""
    out: dict[str, Any] = {}
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        if history.get(key):
            out[f"final_{key}"] = float(history[key][-1])
    if history.get("epoch_time"):
        out["epoch_time_s"] = float(np.median(history["epoch_time"]))
    return out
