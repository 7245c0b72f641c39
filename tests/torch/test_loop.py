"""The shared training loop: history, reproducibility, NaN stop, checkpoints and resume."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from stridelab.errors import TrainingDiverged
from stridelab.torch.loop import fit, load_checkpoint, make_loader, seed_everything


def _data(n=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def _train(seed, epochs=3, lr=0.1, checkpoint=None, resume=False, model=None):
    seed_everything(seed)
    X, y = _data()
    model = model or nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = fit(model, make_loader(X, y, 16, shuffle=True, seed=seed),
                  make_loader(X, y, 32), optimizer=opt, loss_fn=nn.CrossEntropyLoss(),
                  num_epochs=epochs, checkpoint=checkpoint, resume=resume)
    return model, history


def test_history_has_one_entry_per_epoch_and_learns():
    _, history = _train(0, epochs=5)
    assert history["epoch"] == [1, 2, 3, 4, 5]
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "epoch_time"):
        assert len(history[key]) == 5
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["test_accuracy"][-1] > 0.8


def test_same_seed_same_result_on_cpu():
    m1, h1 = _train(7)
    m2, h2 = _train(7)
    assert h1["train_loss"] == h2["train_loss"]
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    model, _ = _train(0, epochs=1, checkpoint=ckpt)
    good = {k: v.clone() for k, v in model.state_dict().items()}

    class Exploding(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) * float("nan")

    with pytest.raises(TrainingDiverged, match="nan"):
        _train(0, epochs=3, checkpoint=ckpt, model=Exploding(model))
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1
    for k, v in good.items():
        assert torch.equal(state["model"][k], v)


def test_resume_continues_where_it_stopped(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _, h_full = _train(1, epochs=4)
    _train(1, epochs=2, checkpoint=ckpt)
    # a fresh process would reseed; the data order of epochs 3-4 then differs from the
    # uninterrupted run, so compare the bookkeeping rather than the numbers
    model, h_resumed = _train(1, epochs=4, checkpoint=ckpt, resume=True)
    assert h_resumed["epoch"] == [1, 2, 3, 4]
    assert h_resumed["train_loss"][:2] == pytest.approx(h_full["train_loss"][:2])
    assert torch.load(ckpt, weights_only=True)["epoch"] == 4
    fresh = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    load_checkpoint(ckpt, fresh)
    for p, q in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, path)
    with pytest.raises(Exception):  # noqa: B017  (torch raises UnpicklingError)
        load_checkpoint(path, nn.Linear(1, 1))


def test_autoencoder_style_metric_none():
    seed_everything(0)
    X, _ = _data()
    loader = make_loader(X, X, 16, shuffle=True)
    model = nn.Linear(4, 4)
    history = fit(model, loader, make_loader(X, X, 32),
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                  loss_fn=nn.MSELoss(), num_epochs=2, metric=None)
    assert "train_accuracy" not in history
    assert all(math.isfinite(v) for v in history["test_loss"])


def test_fit_reports_through_log_progress_and_on_epoch_end():
    seed_everything(0)
    X, y = _data()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    lines, wrapped, ends = [], [], []

    def progress(batches, description=""):
        wrapped.append(description)
        yield from batches

    history = fit(model, make_loader(X, y, 16, shuffle=True), make_loader(X, y, 32),
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                  loss_fn=nn.CrossEntropyLoss(), num_epochs=2, log=lines.append,
                  progress=progress, on_epoch_end=lambda e, h: ends.append((e, len(h["epoch"]))))
    assert wrapped == ["epoch 1/2", "epoch 2/2"]
    assert ends == [(0, 1), (1, 2)]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: train loss ")
    assert f"{history['test_accuracy'][1]:.4f}" in lines[1]


def test_the_loop_imports_nothing_from_experiments():
    import subprocess
    import sys

    code = ("import sys, stridelab.torch.loop\n"
            "print(sorted(m for m in sys.modules if m.startswith('stridelab.experiments')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# the in-memory loader


def test_tensor_loader_covers_every_sample_once_per_epoch_in_a_new_order():
    X = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    y = torch.arange(10)
    loader = make_loader(X, y, 4, shuffle=True, seed=3)
    assert len(loader) == 3
    epochs = [[(xb.squeeze(1).long().tolist(), yb.tolist()) for xb, yb in loader]
              for _ in range(2)]
    for batches in epochs:
        assert [len(b[1]) for b in batches] == [4, 4, 2]
        assert sorted(i for b in batches for i in b[1]) == list(range(10))
        assert all(xs == ys for xs, ys in batches)  # inputs stay with their targets
    assert epochs[0] != epochs[1]  # each pass draws a new permutation
    again = make_loader(X, y, 4, shuffle=True, seed=3)
    assert [yb.tolist() for _, yb in again] == [b[1] for b in epochs[0]]  # the seed fixes it


def test_tensor_loader_unshuffled_slices_in_order_and_drop_last():
    X, y = torch.zeros(10, 2), torch.arange(10)
    assert [yb.tolist() for _, yb in make_loader(X, y, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                                [8, 9]]
    dropped = make_loader(X, y, 4, shuffle=True, drop_last=True)
    assert len(dropped) == 2 and [len(yb) for _, yb in dropped] == [4, 4]
    with pytest.raises(ValueError, match="differ in length"):
        make_loader(X, y[:9], 4)


def test_channels_last_training_matches_the_default_layout():
    """The same CNN trained with channels_last=True computes the same numbers."""
    def run(channels_last):
        seed_everything(0)
        X = torch.randn(32, 2, 8, 8)
        y = (X[:, 0].mean(dim=(1, 2)) > 0).long()
        model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.Flatten(), nn.Linear(256, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        history = fit(model, make_loader(X, y, 8, shuffle=True), make_loader(X, y, 16),
                      optimizer=opt, loss_fn=nn.CrossEntropyLoss(), num_epochs=2,
                      channels_last=channels_last)
        return history, model
    (h0, _), (h1, m1) = run(False), run(True)
    assert m1[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert np.allclose(h0["train_loss"], h1["train_loss"], rtol=1e-4)
    assert np.allclose(h0["test_accuracy"], h1["test_accuracy"])
