"""The shared PyTorch training loop: seeds, devices, loaders, train_one_epoch, evaluate, fit.

Every PyTorch experiment trains through :func:`fit`, so each one gets the same behaviour:
batches sliced from in-memory tensors (:class:`TensorLoader`), channels-last images on request,
a progress bar per epoch, a per-epoch history, checkpoints written atomically and resumable,
a clear stop on a NaN/Inf loss, and data-parallel training when started under ``torchrun``
(DistributedDataParallel; gloo on CPU, nccl on CUDA).

The loop knows nothing of experiments or run directories: it reports through plain
callables, ``log(line)`` (one line per epoch), ``progress(iterable, description=)`` (wraps
each epoch's batches, e.g. in a progress bar) and ``on_epoch_end(epoch, history)``. A study
passes its context's methods: ``fit(..., log=ctx.log, progress=ctx.progress)``.
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from stridelab.atomic import atomic_write
from stridelab.errors import TrainingDiverged
from stridelab.torch.distributed import (  # noqa: F401  (re-exported: part of this module's API)
    all_reduce_sum,
    any_rank,
    broadcast_buffers,
    broadcast_object,
    is_distributed,
    launched_world_size,
    local_device,
    rank,
    setup_distributed,
    world_size,
)

Log = Callable[[str], None]  # log(line)
Progress = Callable[..., Iterable]  # progress(iterable, description=...) -> iterable

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


# ---------------------------------------------------------------------------------------------
# data


class TensorLoader:
    """Batches of in-memory tensors by slicing: no per-sample indexing, no collation.

    A ``DataLoader`` over a ``TensorDataset`` fetches every sample on its own and stacks them
    again into a batch; for the small networks of these studies that copying took a large
    part of each step. This loader draws one seeded permutation per epoch and indexes the
    whole tensors with each batch's slice of it (or, unshuffled, takes plain slices, which
    copy nothing). Iterating it twice gives two different orders; the seed fixes the
    sequence of orders. ``sampler`` is None (there is none to set an epoch on).
    """

    sampler = None

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, *,
                 shuffle: bool = False, seed: int = 0, drop_last: bool = False):
        if len(X) != len(y):
            raise ValueError(f"inputs and targets differ in length: {len(X)} and {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def dataset(self) -> TensorDataset:
        return TensorDataset(self.X, self.y)

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n, b = len(self.X), self.batch_size
        stop = n - n % b if self.drop_last else n
        if not self.shuffle:
            for start in range(0, stop, b):
                yield self.X[start:start + b], self.y[start:start + b]
            return
        order = torch.randperm(n, generator=self.generator)
        for start in range(0, stop, b):
            idx = order[start:start + b]
            yield self.X[idx], self.y[idx]


def make_loader(X, y, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False,
                distributed: bool | None = None) -> TensorLoader | DataLoader:
    """Batches over in-memory arrays: a :class:`TensorLoader`, or a sharded DataLoader.

    Training loaders (``shuffle=True``) are sharded with a DistributedSampler under torchrun,
    so ``batch_size`` is per process and the global batch is ``batch_size × world_size``.
    Evaluation loaders (``shuffle=False``) are not sharded: every rank evaluates the whole set,
    which keeps the numbers exact.
    """
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    replicas = world_size() if is_distributed() else launched_world_size()
    if distributed is None:
        distributed = shuffle and replicas > 1
    if distributed:
        # every rank draws the same permutation (same seed) and takes every replicas-th index
        # of it, so the shards are disjoint and together cover the data set
        dataset = TensorDataset(X, y)
        sampler = DistributedSampler(dataset, num_replicas=replicas, rank=rank(),
                                     shuffle=shuffle, seed=seed, drop_last=drop_last)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    return TensorLoader(X, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)


# ---------------------------------------------------------------------------------------------
# CPU threads


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``n`` intra-op CPU threads for the block (0: leave the setting alone), then restored.

    A step of a small network is too small to split well: on a busy 2-core machine two
    threads made a 784-512-10 MLP epoch twenty times, a batch-1 step thirty times and a small
    CNN's step three to seven times slower than one thread, the spare thread only spinning.
    """
    if n <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_thread() -> contextlib.AbstractContextManager[None]:
    """:func:`torch_threads` (1): what the tiny MLPs of the dynamics studies always use."""
    return torch_threads(1)


# ---------------------------------------------------------------------------------------------
# one epoch


def _accuracy_count(output: torch.Tensor, target: torch.Tensor) -> tuple[float, int]:
    """Correct predictions and their number: argmax over the last axis against integer targets."""
    if output.dim() == target.dim():  # one output per target (e.g. a regression): no accuracy
        return 0.0, 0
    correct = (output.argmax(dim=-1) == target).sum().item()
    return float(correct), target.numel()


def _forward(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
             device: torch.device, amp: bool, input_transform: Callable | None,
             channels_last: bool = False):
    """Move a batch to ``device``, transform its inputs (then, with ``channels_last``, store
    image batches channels-last) and run the model and the loss on it."""
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if input_transform is not None:
        x = input_transform(x)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                        enabled=amp and device.type == "cuda"):
        output = model(x)
        loss = loss_fn(output, y)
    return x, y, output, loss


class _Totals:
    """Sample-weighted loss and, for ``metric="accuracy"``, the correct-prediction count."""

    def __init__(self, metric: str | None):
        self.metric = metric
        self.loss, self.correct, self.samples, self.targets = 0.0, 0.0, 0, 0

    def add(self, loss_value: float, output: torch.Tensor, y: torch.Tensor, batch: int) -> None:
        self.loss += loss_value * batch
        self.samples += batch
        if self.metric == "accuracy":
            correct, count = _accuracy_count(output.detach().float(), y)
            self.correct += correct
            self.targets += count

    def all_reduce(self) -> None:
        """Sum over every rank of the process group."""
        self.loss, self.correct, self.samples, self.targets = all_reduce_sum(
            [self.loss, self.correct, self.samples, self.targets])

    def means(self) -> dict[str, float]:
        out = {"loss": self.loss / max(self.samples, 1)}
        if self.metric == "accuracy":
            out["accuracy"] = self.correct / max(self.targets, 1)
        return out


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    loss_fn: Callable, device: str | torch.device, *,
                    metric: str | None = "accuracy", progress: Progress | None = None,
                    description: str = "train", amp: bool = False, scheduler=None,
                    grad_hook: Callable[[nn.Module], None] | None = None,
                    input_transform: Callable | None = None,
                    channels_last: bool = False) -> dict[str, float]:
    """One pass over ``loader``; returns the mean loss (and accuracy) over its samples.

    ``progress(loader, description=description)`` wraps the batches (e.g. ``ctx.progress``).
    ``grad_hook(model)`` runs after each backward pass, before the step (e.g. to record
    gradient norms). ``input_transform(x)`` runs on the device batch (e.g. augmentation, noise).
    Raises :class:`TrainingDiverged` as soon as a loss is NaN or Inf.

    With a DistributedDataParallel ``model`` the ranks stop together when any of them sees a
    NaN/Inf loss, and the returned loss and accuracy are over every rank's samples.
    """
    device = torch.device(device)
    lockstep = isinstance(model, nn.parallel.DistributedDataParallel) and is_distributed()
    model.train()
    totals = _Totals(metric)
    batches = progress(loader, description=description) if progress is not None else loader
    for step, (x, y) in enumerate(batches):
        x, y, output, loss = _forward(model, x, y, loss_fn, device, amp, input_transform,
                                      channels_last)
        loss_value = loss.item()
        diverged = not math.isfinite(loss_value)
        if lockstep:
            # a rank that stopped alone would leave the others waiting in backward()
            diverged = any_rank(diverged)
        if diverged:
            seen = (f"became {loss_value}" if not math.isfinite(loss_value)
                    else "became NaN/Inf on another rank")
            raise TrainingDiverged(f"the training loss {seen} at batch {step}; "
                                   "lower the learning rate (--set lr=...)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_hook is not None:
            grad_hook(model)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        totals.add(loss_value, output, y, x.shape[0])
    if lockstep:
        totals.all_reduce()
    return totals.means()


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable,
             device: str | torch.device, *, metric: str | None = "accuracy",
             amp: bool = False, input_transform: Callable | None = None,
             channels_last: bool = False) -> dict[str, float]:
    """Mean loss (and accuracy) over ``loader`` with the model in eval mode, without gradients."""
    device = torch.device(device)
    model.eval()
    totals = _Totals(metric)
    for x, y in loader:
        x, y, output, loss = _forward(model, x, y, loss_fn, device, amp, input_transform,
                                      channels_last)
        totals.add(loss.item(), output, y, x.shape[0])
    return totals.means()


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


def _read_resume_state(checkpoint: str | os.PathLike | None) -> dict | None:
    """The checkpoint to resume from, read on rank 0 and broadcast to every rank (or None).

    Only rank 0 writes checkpoints, so only its path can hold one; the other ranks must not
    look on disk (their run directory is not rank 0's) but receive the same state.
    """
    state = None
    if rank() == 0 and checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return broadcast_object(state)


def fit(model: nn.Module, train_loader: DataLoader, test_loader: DataLoader | None, *,
        optimizer: torch.optim.Optimizer, loss_fn: Callable, num_epochs: int,
        device: str | torch.device = "cpu", log: Log | None = None,
        progress: Progress | None = None, metric: str | None = "accuracy",
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        scheduler=None, scheduler_per: str = "step", amp: bool = False,
        channels_last: bool = False, grad_hook: Callable | None = None,
        input_transform: Callable | None = None, test_transform: Callable | None = None,
        on_epoch_end: Callable[[int, dict], None] | None = None) -> dict[str, list]:
    """Train for ``num_epochs`` and return the per-epoch history.

    Reporting: ``log(line)`` gets one line per epoch (and one on resume), ``progress(batches,
    description=)`` wraps each epoch's batches, ``on_epoch_end(epoch, history)`` runs after
    each epoch (``epoch`` counts from 0). A study passes ``log=ctx.log, progress=ctx.progress``.

    ``channels_last=True`` stores the model's weights and every image batch channels-last
    (NHWC) on any device: oneDNN's CPU convolutions and cuDNN's tensor-core ones both run
    faster in that layout (a small MNIST CNN's training step took about half the time on a
    2-core CPU). The numbers are the same as in the default layout, up to rounding.

    History keys: ``epoch``, ``train_loss``, ``test_loss``, ``epoch_time`` and, when ``metric``
    is "accuracy", ``train_accuracy`` and ``test_accuracy``. With ``checkpoint`` set, the state
    after each good epoch is saved there (atomically); ``resume=True`` continues from it. On a
    NaN/Inf loss the run stops with :class:`TrainingDiverged` and the last good checkpoint is
    left in place.

    Under torchrun the model is wrapped in DistributedDataParallel: ``batch_size`` of a
    :func:`make_loader` training loader is then per process, the reported train loss and
    accuracy are over all processes, BatchNorm statistics are rank 0's after each epoch,
    checkpoints are written by rank 0 and, on resume, read by rank 0 and sent to the others.
    """
    distributed = setup_distributed(device)
    device = local_device(device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    history: dict[str, list] = {"epoch": [], "train_loss": [], "test_loss": [], "epoch_time": []}
    if metric == "accuracy":
        history.update(train_accuracy=[], test_accuracy=[])
    start_epoch = 0
    if resume:
        state = _read_resume_state(checkpoint)
        if state is not None:
            _unwrap(model).load_state_dict(state["model"])
            if "optimizer" in state:
                optimizer.load_state_dict(state["optimizer"])
            start_epoch, history = int(state["epoch"]), state["history"]
            if log is not None:
                log(f"resumed from {Path(checkpoint).name if checkpoint else 'rank 0'} "
                    f"after epoch {start_epoch}")
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
                                    metric=metric, progress=progress, amp=amp,
                                    scheduler=step_scheduler,
                                    description=f"epoch {epoch + 1}/{num_epochs}",
                                    grad_hook=grad_hook, input_transform=input_transform,
                                    channels_last=channels_last)
        except TrainingDiverged as exc:
            kept = f"; the last good checkpoint is {checkpoint}" if checkpoint else ""
            raise TrainingDiverged(f"epoch {epoch + 1}: {exc}{kept}") from None
        if scheduler is not None and scheduler_per == "epoch":
            scheduler.step()
        if distributed:
            broadcast_buffers(model)  # every rank evaluates (and saves) the same model
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_time = time.perf_counter() - t0
        test = evaluate(model, test_loader, loss_fn, device, metric=metric, amp=amp,
                        input_transform=test_transform, channels_last=channels_last) \
            if test_loader is not None else {}
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
        if log is not None:
            log(message)
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
