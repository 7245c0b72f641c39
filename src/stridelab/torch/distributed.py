"""Data-parallel training on several processes or machines, as started by ``torchrun``.

``torchrun`` starts one process per device and tells each its place through environment
variables: ``WORLD_SIZE`` (processes in all), ``RANK`` (this one's number, 0 … WORLD_SIZE-1),
``LOCAL_RANK`` (its number on this machine, which picks its GPU) and ``MASTER_ADDR`` /
``MASTER_PORT`` (where rank 0 listens; set by the rendezvous). :func:`setup_distributed`
joins the process group from them (gloo on CPU, nccl on CUDA); everything else here is a
no-op in a single process, so code calls it unconditionally.

Rules the rest of stridelab follows:

* every rank runs the same experiment code; only rank 0 writes files (``ctx.is_main``);
* a value rank 0 reads from disk (a checkpoint to resume from) reaches the other ranks by
  :func:`broadcast_object`, never through the file system;
* every collective (all-reduce, broadcast) is entered by every rank, in the same order,
  so a rank must never raise or return early on its own (see :func:`any_rank`);
* the process group is destroyed once at interpreter exit (:func:`cleanup_distributed`).

Importing this module does not import PyTorch (the command line asks :func:`rank` before it
knows whether a run needs torch); each function that needs it imports it.
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import atexit
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stridelab.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn


def _dist():
    import torch.distributed as dist

    return dist

# ---------------------------------------------------------------------------------------------
# where this process stands


def launched_world_size() -> int:
    """Processes torchrun started (``WORLD_SIZE``; 1 when not started by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    """This process's number on its machine (``LOCAL_RANK``), which picks its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    """Whether this process has joined a process group."""
    dist = sys.modules.get("torch.distributed")  # never imported: no group can have been joined
    return dist is not None and dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Processes in the joined group (1 before :func:`setup_distributed`, or alone)."""
    return _dist().get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank: from the group once joined, else from ``RANK`` (0 when unset)."""
    return _dist().get_rank() if is_distributed() else int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True on rank 0, the one process that writes files."""
    return rank() == 0


# ---------------------------------------------------------------------------------------------
# joining and leaving


def setup_distributed(device: str | torch.device) -> bool:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); idempotent.

    On CUDA it first makes GPU ``LOCAL_RANK`` the current device, so ``"cuda"`` means this
    process's own GPU from then on. The group is destroyed at interpreter exit. Returns True
    when training is data-parallel.
    """
    if is_distributed():
        return True
    if launched_world_size() <= 1:
        return False
    import torch

    dist = _dist()
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; "
                          "run without torchrun or install a PyTorch with distributed support")
    device = torch.device(device)
    if device.type == "cuda":
        if local_rank() >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank()} but only {torch.cuda.device_count()} "
                              "GPUs are visible; use --nproc_per_node <= the number of GPUs")
        torch.cuda.set_device(local_rank())
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)  # env:// rendezvous set up by torchrun
    atexit.register(cleanup_distributed)
    return True


def cleanup_distributed() -> None:
    """Leave the process group (registered with ``atexit`` by :func:`setup_distributed`)."""
    if is_distributed():
        _dist().destroy_process_group()


def local_device(device: str | torch.device) -> torch.device:
    """The device this process trains on: a bare ``"cuda"`` becomes ``cuda:LOCAL_RANK``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", local_rank())
    return device


# ---------------------------------------------------------------------------------------------
# collectives (no-ops in a single process)


def _collective_device() -> torch.device:
    # nccl moves only CUDA tensors; gloo only CPU ones
    import torch

    if is_distributed() and _dist().get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank gets here."""
    if is_distributed():
        _dist().barrier()


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank (any picklable object; ranks other than ``src``
    pass a placeholder, e.g. None)."""
    if not is_distributed():
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums of ``values`` over every rank (float64)."""
    if not is_distributed():
        return [float(v) for v in values]
    import torch

    dist = _dist()
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one rank.

    Lets all ranks stop together (e.g. on a NaN loss): a rank that stopped alone would leave
    the others waiting forever in the next gradient all-reduce.
    """
    if not is_distributed():
        return bool(flag)
    return all_reduce_sum([1.0 if flag else 0.0])[0] > 0


def broadcast_buffers(model: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank.

    DistributedDataParallel keeps parameters identical, and sends rank 0's buffers at the start
    of each forward pass, but after the last training step each rank holds the running
    statistics of its own shard; this makes the evaluated models identical too.
    """
    if not is_distributed():
        return
    for buffer in model.buffers():
        _dist().broadcast(buffer.data, src=src)
