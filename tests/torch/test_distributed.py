"""Data-parallel training: two CPU processes joined with gloo train exactly like one process.

Two processes are spawned as torchrun would start them (WORLD_SIZE, RANK, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT) and each trains through the shared ``fit`` with a per-process batch
of 4; one process trains the same model on the same data with a batch of 8. The sampler of
``make_loader`` gives rank r the indices r, r+2, r+4, ... of one seeded permutation, so the
two shards of each step are exactly the single process's batch of that step, and
DistributedDataParallel averages their gradients into that batch's mean gradient.
"""

import os  # noqa: I001  (ruff takes tests/torch/ for `torch`)
import socket
import time

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DistributedSampler

from stridelab.errors import TrainingDiverged
from stridelab.torch import distributed
from stridelab.torch.loop import fit, make_loader, seed_everything

WORLD = 2
PER_RANK_BATCH = 4
N_SAMPLES = 40  # 5 steps of 8 per epoch, no padding of the shards
EPOCHS = 3
SEED = 3


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, 1, 8, 8)).astype(np.float32)  # (N, C, H, W)
    y = (X[:, 0, :4].sum(axis=(1, 2)) > X[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    return X, y


def _model(batchnorm: bool = False) -> nn.Module:
    seed_everything(SEED)
    layers = [nn.Conv2d(1, 3, 3)]  # (N, 3, 6, 6)
    if batchnorm:
        layers.append(nn.BatchNorm2d(3))
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 2)]
    return nn.Sequential(*layers)


def _fit(model, X, y, batch_size, *, distributed_loader=True):
    train = make_loader(X, y, batch_size, shuffle=True, seed=SEED,
                        distributed=distributed_loader)
    test = make_loader(X, y, 16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, train, test, optimizer=opt, loss_fn=nn.CrossEntropyLoss(),
               num_epochs=EPOCHS, device="cpu")


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    X, y = _data()
    result = {}

    model = _model()
    history = _fit(model, X, y, PER_RANK_BATCH)
    train_loader = make_loader(X, y, PER_RANK_BATCH, shuffle=True, seed=SEED)
    sampler = train_loader.sampler
    sampler.set_epoch(0)
    result.update(params=[p.detach().clone() for p in model.parameters()], history=history,
                  world_size=distributed.world_size(), rank=distributed.rank(),
                  sampler=(type(sampler).__name__, list(sampler)))

    bn_model = _model(batchnorm=True)
    _fit(bn_model, X, y, PER_RANK_BATCH)
    result["buffers"] = [b.clone() for b in bn_model.buffers()]

    # a NaN on rank 1 only: both ranks must stop, neither may wait for the other forever
    X_bad = X.copy()
    if rank == 1:
        X_bad[:] = np.nan
    try:
        _fit(_model(), X_bad, y, PER_RANK_BATCH)
        result["diverged"] = ""
    except TrainingDiverged as exc:
        result["diverged"] = str(exc)

    distributed.cleanup_distributed()
    result["joined_after_cleanup"] = distributed.is_distributed()
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(_worker, args=(_free_port(), str(out_dir)), nprocs=WORLD,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + 120
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail("the two training processes did not finish in 120 s (a hang in a "
                            "collective: one rank waiting for the other)")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def test_each_rank_joined_a_group_of_two(ranks):
    assert [r["world_size"] for r in ranks] == [WORLD, WORLD]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert [r["joined_after_cleanup"] for r in ranks] == [False, False]


def test_training_loader_shards_are_disjoint_halves_of_one_permutation(ranks):
    names = {r["sampler"][0] for r in ranks}
    assert names == {"DistributedSampler"}
    shard0, shard1 = ranks[0]["sampler"][1], ranks[1]["sampler"][1]
    assert len(shard0) == len(shard1) == N_SAMPLES // WORLD
    assert sorted(shard0 + shard1) == list(range(N_SAMPLES))
    g = torch.Generator().manual_seed(SEED + 0)  # DistributedSampler: seed + epoch
    permutation = torch.randperm(N_SAMPLES, generator=g).tolist()
    assert shard0 == permutation[0::2]
    assert shard1 == permutation[1::2]


def test_parameters_are_identical_across_ranks(ranks):
    for p0, p1 in zip(ranks[0]["params"], ranks[1]["params"]):
        assert torch.equal(p0, p1)


def test_two_ranks_equal_one_process_on_the_same_global_batch(ranks, one_thread):
    X, y = _data()
    initial = [p.detach().clone() for p in _model().parameters()]
    single = _model()
    # one replica: a DistributedSampler over the whole set draws the same permutation
    history = _fit(single, X, y, WORLD * PER_RANK_BATCH)
    for p_single, p_ddp, p_init in zip(single.parameters(), ranks[0]["params"], initial):
        assert (p_single.detach() - p_init).abs().max() > 1e-2  # it trained
        torch.testing.assert_close(p_ddp, p_single.detach(), atol=1e-5, rtol=1e-5)
    # train loss is all-reduced over the ranks: the mean over all 40 samples, as in one process
    assert ranks[0]["history"]["train_loss"] == ranks[1]["history"]["train_loss"]
    np.testing.assert_allclose(ranks[0]["history"]["train_loss"], history["train_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(ranks[0]["history"]["test_accuracy"], history["test_accuracy"])


def test_a_per_rank_batch_alone_would_differ(ranks, one_thread):
    """The comparison above can fail: one process with batch 4 ends somewhere else."""
    X, y = _data()
    small = _model()
    _fit(small, X, y, PER_RANK_BATCH)
    gap = max((p.detach() - q).abs().max().item()
              for p, q in zip(small.parameters(), ranks[0]["params"]))
    assert gap > 1e-3


def test_batchnorm_statistics_are_rank_zeros_after_each_epoch(ranks):
    buffers0, buffers1 = ranks[0]["buffers"], ranks[1]["buffers"]
    assert len(buffers0) == 3  # running_mean, running_var, num_batches_tracked
    for b0, b1 in zip(buffers0, buffers1):
        assert torch.equal(b0, b1)
    assert int(buffers0[2]) == EPOCHS * N_SAMPLES // (WORLD * PER_RANK_BATCH)


def test_a_nan_on_one_rank_stops_both(ranks):
    assert "nan" in ranks[1]["diverged"].lower()
    assert "another rank" in ranks[0]["diverged"]
    assert "epoch 1" in ranks[0]["diverged"]


def test_make_loader_outside_torchrun_is_not_sharded(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    X, y = _data()
    loader = make_loader(X, y, 8, shuffle=True, seed=SEED)
    assert not isinstance(loader.sampler, DistributedSampler)
    assert distributed.setup_distributed("cpu") is False
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.all_reduce_sum([1, 2.5]) == [1.0, 2.5]
    assert distributed.any_rank(False) is False


def test_rank_helpers_import_no_torch():
    import subprocess
    import sys

    code = ("import sys, stridelab.torch.distributed as d\n"
            "print(d.rank(), d.launched_world_size(), d.is_distributed(), d.local_rank(),\n"
            "      d.broadcast_object('x'), 'torch' in sys.modules)\n")
    env = {**os.environ, "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    # before joining a group, the place comes from torchrun's variables, and nothing loads torch
    assert out.stdout.split() == ["3", "4", "False", "1", "x", "False"]
