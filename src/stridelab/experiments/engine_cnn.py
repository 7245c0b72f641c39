"""engine-cnn: a LeNet-style CNN trained by stridelab.core alone (NumPy autograd, no torch).

The from-scratch engine builds the network, back-propagates through convolutions, pooling and
dense layers, and runs Adam; nothing here touches PyTorch. The study shows that an engine
written to be read is still exact and fast enough to train a real network on mnist-5k
(4,000 training and 1,000 test digits) on a laptop CPU; its lesson is the test accuracy that
reaches (0.97 for the full configuration).

``measure(config, ctx)`` trains and draws; ``narrate(metrics, config)`` writes the notes from
the recorded numbers.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import dataclass

import numpy as np

from stridelab.core import Adam, Tensor, cross_entropy, nn, no_grad
from stridelab.errors import TrainingDiverged
from stridelab.experiments.artifacts import write_bytes_atomic
from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.plots import (
    confusion_counts,
    confusion_figure,
    image_grid_figure,
    integer_ticks,
    learning_curves_figure,
    most_confused_pairs,
    take,
    to_float,
)
from stridelab.experiments.registry import bounded, register
from stridelab.torch.schedules import cosine_lr

# ---------------------------------------------------------------------- configuration


@dataclass
class EngineCNNConfig:
    epochs: int = bounded(20, ge=1)  # passes over the training set
    batch_size: int = bounded(64, ge=1)  # images per Adam step
    lr: float = bounded(3e-3, gt=0)  # peak Adam learning rate, cosine-annealed to 0 over all steps
    conv1_filters: int = 6  # 5x5 filters of the first convolution ("same" padding)
    conv2_filters: int = 16  # 5x5 filters of the second convolution (no padding)
    hidden: int = 120  # units of the hidden dense layer
    # dropout probability on the hidden layer while training
    dropout: float = bounded(0.25, ge=0, lt=1)
    shift: int = 1  # training digits move by up to this many pixels each way (0: no shifts)
    n_train: int = bounded(0, ge=0)  # training images used (0: the whole split)
    n_test: int = bounded(0, ge=0)  # test images used (0: the whole split)
    dataset: str = "mnist-5k"  # data set used unless --dataset names another
    eval_batch_size: int = bounded(500, ge=1)  # images per forward pass when evaluating
    blas_threads: int = 1  # NumPy BLAS threads (0: its default); 1 is fastest for GEMMs this small


# ---------------------------------------------------------------------- data


def standardise(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W) -> float32 (N, 1, H, W), zero mean and unit variance on the train split."""
    train, test = to_float(X_train)[:, None], to_float(X_test)[:, None]  # (N, 1, H, W)
    mean, std = train.mean(), train.std()
    return (train - mean) / std, (test - mean) / std


def random_shift(X: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Move each image by up to ``shift`` pixels in each direction, filling with the background.

    X: (B, 1, H, W) -> (B, 1, H, W). Each image is a window of the padded batch, picked through
    a sliding-window view (no loop over images).
    """
    if shift <= 0:
        return X
    B, _, H, W = X.shape
    background = X.min()
    padded = np.pad(X, ((0, 0), (0, 0), (shift, shift), (shift, shift)),
                    constant_values=background)                 # (B, 1, H + 2s, W + 2s)
    views = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, B))        # (B,) offsets
    return views[np.arange(B), :, dy, dx]                        # (B, 1, H, W)


# ---------------------------------------------------------------------- network


def build_lenet(config: EngineCNNConfig, image_size: tuple[int, int], n_classes: int,
                rng: np.random.Generator) -> nn.Sequential:
    """conv5(same)-ReLU-pool2, conv5-ReLU-pool2, dense-ReLU, dense: LeNet-5's shape."""
    c1, c2 = config.conv1_filters, config.conv2_filters
    features = [
        nn.Conv2d(1, c1, 5, padding="same", rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    ]
    with no_grad():
        n_flat = nn.Sequential(*features)(np.zeros((1, 1, *image_size), np.float32)).shape[1]
    head = [nn.Dense(n_flat, config.hidden, rng=rng), nn.ReLU()]
    if config.dropout > 0:
        head.append(nn.Dropout(config.dropout, rng=rng))
    return nn.Sequential(*features, *head, nn.Dense(config.hidden, n_classes, rng=rng))


# ---------------------------------------------------------------------- training


def train_one_epoch(model: nn.Module, opt: Adam, X: np.ndarray, y: np.ndarray,
                    config: EngineCNNConfig, rng: np.random.Generator, first_step: int,
                    total_steps: int, progress=lambda it, **kw: it) -> tuple[float, float]:
    """One pass over shuffled, shifted mini-batches; returns (mean loss, accuracy)."""
    model.train()
    order = rng.permutation(len(X))
    starts = range(0, len(X), config.batch_size)
    loss_sum, correct = 0.0, 0
    for k, start in enumerate(progress(starts, total=len(starts), description="train")):
        idx = order[start:start + config.batch_size]
        X_batch = random_shift(X[idx], config.shift, rng)        # (B, 1, H, W)
        opt.lr = cosine_lr(first_step + k, total_steps, config.lr)
        opt.zero_grad()
        logits = model(Tensor(X_batch))                          # (B, n_classes)
        loss = cross_entropy(logits, y[idx])
        if not np.isfinite(loss.item()):
            raise TrainingDiverged(
                f"engine-cnn: the loss became {loss.item()} at step {first_step + k}; "
                "lower --set lr=..."
            )
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += int((logits.data.argmax(axis=1) == y[idx]).sum())
    return loss_sum / len(X), correct / len(X)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray,
             batch_size: int) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and predictions, in eval mode and without a graph."""
    model.eval()
    loss_sum, predictions = 0.0, []
    with no_grad():
        for start in range(0, len(X), batch_size):
            logits = model(X[start:start + batch_size])
            loss_sum += cross_entropy(logits, y[start:start + batch_size]).item() * len(logits)
            predictions.append(logits.data.argmax(axis=1))
    y_pred = np.concatenate(predictions)
    return loss_sum / len(X), float(np.mean(y_pred == y)), y_pred


# ---------------------------------------------------------------------- figures


def filters_figure(weight: np.ndarray, title: str):
    """First-layer filters (F, 1, KH, KW) on one symmetric colour scale."""
    limit = float(np.abs(weight).max())
    return image_grid_figure([w[0] for w in weight], [f"filter {i}" for i in range(len(weight))],
                             title, ncols=min(4, len(weight)), cmap="RdBu_r", colorbar=True,
                             vmin=-limit, vmax=limit)


def feature_maps_figure(model: nn.Sequential, image: np.ndarray, title: str):
    """The input digit and what each first-layer filter (after ReLU) makes of it."""
    model.eval()
    with no_grad():
        maps = model[1](model[0](image[None])).data[0]           # (F, H, W)
    images = [image[0], *maps]
    titles = ["input", *(f"filter {i} + ReLU" for i in range(len(maps)))]
    return image_grid_figure(images, titles, title, ncols=min(4, len(images)), cmap="viridis",
                             colorbar=True)


# ---------------------------------------------------------------------- the study


def _blas_threads(n: int):
    if n <= 0:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def measure(config: EngineCNNConfig, ctx) -> dict:
    """Train the LeNet-style CNN with the engine; figures, history and model file."""
    ds = ctx.load_dataset(family="mnist", name=None if ctx.dataset else config.dataset)
    n_train = take(config.n_train, len(ds.y_train))
    n_test = take(config.n_test, len(ds.y_test))
    X_train, X_test = standardise(ds.X_train[:n_train], ds.X_test[:n_test])
    y_train, y_test = ds.y_train[:n_train], ds.y_test[:n_test]

    rng = np.random.default_rng(ctx.seed)
    model = build_lenet(config, X_train.shape[2:], len(ds.classes), rng)
    table = nn.summary(model, X_train.shape[1:])
    ctx.write_text("model_summary.txt", str(table) + "\n")
    ctx.log(f"model: {table.total_params:,} parameters\n{table}")
    opt = Adam(model.parameters(), lr=config.lr)

    steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    history = {key: [] for key in ("epoch", "train_loss", "train_accuracy", "test_loss",
                                   "test_accuracy", "epoch_time")}
    with _blas_threads(config.blas_threads):
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            train_loss, train_acc = train_one_epoch(
                model, opt, X_train, y_train, config, rng, (epoch - 1) * steps_per_epoch,
                total_steps, progress=ctx.progress)
            epoch_time = time.perf_counter() - t0
            test_loss, test_acc, y_pred = evaluate(model, X_test, y_test, config.eval_batch_size)
            for key, value in zip(history, (epoch, train_loss, train_acc, test_loss, test_acc,
                                            epoch_time)):
                history[key].append(value)
            ctx.log(f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f}, "
                    f"train acc {train_acc:.4f}, test loss {test_loss:.4f}, "
                    f"test acc {test_acc:.4f} ({epoch_time:.1f} s)")
    ctx.write_json("history.json", history)
    if ctx.is_main:
        buffer = io.BytesIO()
        np.savez(buffer, **model.state_dict())
        write_bytes_atomic(ctx.path("model.npz"), buffer.getvalue())

    test_acc = history["test_accuracy"][-1]
    epoch_time = float(np.median(history["epoch_time"]))
    cm = confusion_counts(y_test, y_pred, len(ds.classes))
    curves = learning_curves_figure(history, f"LeNet-style CNN trained by the NumPy engine on "
                                             f"{ds.name} (final test accuracy {test_acc:.4f})")
    ctx.savefig(integer_ticks(curves), "learning_curves",
                caption="Loss and accuracy per epoch, train and test")
    ctx.savefig(filters_figure(model[0].weight.data,
                               f"First-layer 5x5 filters after {config.epochs} epochs"),
                "first_layer_filters",
                caption="The learned first-layer filters (red positive, blue negative weights)")
    ctx.savefig(feature_maps_figure(model, X_test[0], "First-layer feature maps of a test "
                                                      f"digit (label {ds.classes[y_test[0]]})"),
                "first_layer_feature_maps",
                caption="A test digit and each first-layer filter's response after ReLU")
    ctx.savefig(confusion_figure(cm, ds.classes, f"Engine CNN on {ds.name}: confusion matrix"),
                "confusion_matrix", caption="Confusion matrix on the test split")

    classes = [str(c) for c in ds.classes]
    confused = most_confused_pairs(cm, classes)
    for pair in confused:  # the label index beside each name
        pair["true_index"] = classes.index(pair["true"])
        pair["predicted_index"] = classes.index(pair["predicted"])
    return {
        "test_accuracy": test_acc,
        "test_loss": history["test_loss"][-1],
        "train_accuracy": history["train_accuracy"][-1],
        "best_test_accuracy": float(max(history["test_accuracy"])),
        "best_epoch": int(history["epoch"][int(np.argmax(history["test_accuracy"]))]),
        "epoch_time_s": round(epoch_time, 3),
        "epoch_times_s": [round(t, 3) for t in history["epoch_time"]],
        "train_time_s": round(float(np.sum(history["epoch_time"])), 3),
        "epochs": config.epochs,
        "n_params": table.total_params,
        "dataset": ds.name,
        "n_train": n_train,
        "n_test": n_test,
        "n_errors": int(n_test - np.trace(cm)),
        "confusion_matrix": cm,
        "most_confused": confused,
    }


def narrate(metrics: dict, config: EngineCNNConfig) -> Notes:
    """Accuracy, speed and the most frequent confusion of the engine-trained CNN."""
    m = metrics
    notes = Notes()
    notes.add(
        f"A LeNet-style CNN ({num(m, 'n_params')} parameters) trained by the from-scratch NumPy "
        f"engine alone reaches **{num(m, 'test_accuracy', '.4f')}** test accuracy on "
        f"{m['dataset']} ({num(m, 'n_errors')} errors on {num(m, 'n_test')} test digits) after "
        f"{num(m, 'epochs')} epoch(s) of Adam on {num(m, 'n_train')} digits, at "
        f"{num(m, 'epoch_time_s', '.1f')} s per epoch (median; "
        f"{num(m, 'train_time_s', '.1f')} s of training).",
        notes.claim("earlier_epoch_better", m["best_test_accuracy"] > m["test_accuracy"],
                    f"Its best epoch was epoch {num(m, 'best_epoch')}, at "
                    f"{num(m, 'best_test_accuracy', '.4f')}.",
                    "No earlier epoch scored higher on the test digits."),
        f"Training accuracy in the last epoch is {num(m, 'train_accuracy', '.4f')}, measured "
        "while training: "
        + notes.claim(
            "shifted", config.shift > 0,
            f"on digits shifted by up to {num(config, 'shift')} pixel(s)",
            "on unshifted digits")
        + notes.claim(
            "dropout", config.dropout > 0, f" with dropout {num(config, 'dropout', 'g')}.",
            " without dropout."))
    if m["most_confused"]:
        top = m["most_confused"][0]
        notes.add(f"The most frequent confusion is a true {top['true']} read as "
                  f"{top['predicted']} ({num(top, 'count')} times).")
    notes.add(
        "Every gradient came from the engine's own backward passes: convolution weights from "
        "the input correlated with dZ, inputs from dZ fully convolved with the flipped kernel.")
    return notes


register("engine-cnn", EngineCNNConfig,
         description="LeNet-style CNN trained by the NumPy engine alone (no torch) on mnist-5k",
         quick={"epochs": 15},
         smoke={"epochs": 1, "n_train": 256, "n_test": 200},
         needs="mnist", order=20, narrate=narrate,
         lessons=(Lesson("A CNN trained by the from-scratch NumPy engine alone classifies "
                         "mnist-5k digits", "test_accuracy", ">=", quick=0.96, full=0.97,
                         label="engine CNN test accuracy"),))(measure)
