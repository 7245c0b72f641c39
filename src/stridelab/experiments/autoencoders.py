"""Autoencoders on digit images: two-dimensional codes, convolutions, skips, denoising.

Six studies share this module (Yale CPSC 663, exercise II, Problems 5 and 6):

* ``ae-linear``: a fully connected autoencoder, four Linear layers down to a code of two
  numbers and four back up (the sheet's ``mnist_ae.pt``);
* ``ae-conv``: the sheet's convolutional autoencoder with a two-dimensional code
  (``mnist_cae.pt``);
* ``ae-conv-skip``: the same with skip connections, side by side with the plain one
  (``mnist-cae-skip.pt``);
* ``ae-denoise``: both convolutional models retrained on inputs corrupted by Gaussian noise;
* ``pca-vs-linear-ae``: an autoencoder without nonlinearities against PCA with two components;
* ``corruption-demo``: a two-dimensional data set before and after a corruption C(x̃ | x).

Each study is ``measure(config, ctx) -> metrics`` (training, evaluation, figures, model files)
and a pure ``narrate(metrics, config)`` that writes its notes from those numbers. Every model
is trained through :func:`stridelab.torch.loop.fit` with the per-pixel MSE against the clean
images, and scored by its test MSE per pixel and by the accuracy of a k-nearest-neighbour
classifier (k = ``knn_k``) on its code: fitted on the training codes, scored on the test codes.

The models the sheet asks for by name are saved twice: as a state dict (``.pt``, loaded into
:mod:`stridelab.torch.models.autoencoders`) and as a ``torch.export`` program (``.pt2``) that
plain PyTorch runs without stridelab::

    import torch
    model = torch.export.load("mnist_cae.pt2").module()
    x_hat = model(x)        # x: float32 (N, 1, 28, 28) in [0, 1] -> (N, 1, 28, 28)
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, claim, num
from stridelab.experiments.plots import confusion_counts, most_confused_pairs, take, to_float
from stridelab.experiments.registry import register
from stridelab.torch import schedules
from stridelab.torch.loop import fit, history_summary, make_loader, predict, rank
from stridelab.torch.models.autoencoders import ConvAutoencoder, MLPAutoencoder

# ---------------------------------------------------------------------------------------------
# configs


@dataclass
class AEConfig:
    epochs: int = 20  # passes over the training set
    lr: float = 1e-3  # Adam learning rate
    cosine: bool = False  # anneal the learning rate to 0 along a cosine over the run
    warmup: float = 0.0  # with cosine: fraction of the steps spent rising from lr/25 to lr
    batch_size: int = 32  # images per step
    n_train: int = 0  # training images used, the first n of the split (0: all)
    n_test: int = 0  # test images used (0: all)
    n_show: int = 8  # test images shown in the reconstruction figures
    n_embed: int = 2000  # test images in the embedding scatter plots
    knn_k: int = 5  # neighbours of the k-NN classifier on the two-dimensional code


@dataclass
class ConvAEConfig(AEConfig):
    # The tiny convolutional model trains slowly through its 2-unit bottleneck: a larger
    # step annealed to 0 reaches a lower error than a constant 1e-3 in the same epochs, and
    # a short warm-up first (a one-cycle schedule) a lower one still (full MNIST, 10 epochs:
    # 0.0416 against 0.0429 for the cosine alone).
    epochs: int = 50  # passes over the training set
    lr: float = 3e-3  # peak Adam learning rate
    cosine: bool = True  # anneal the learning rate to 0 along a cosine over the run
    warmup: float = 0.15  # fraction of the steps spent rising from lr/25 to lr
    relu_bias: float = 1.0  # starting bias of the Linear layers that feed a ReLU


@dataclass
class DenoiseConfig(ConvAEConfig):
    noise_std: float = 0.3  # standard deviation σ of the additive Gaussian noise, pixel units
    export: bool = True  # also save both denoisers as torch.export programs (.pt2)


@dataclass
class LinearAEConfig:
    epochs: int = 60  # passes over the training set
    lr: float = 1e-3  # Adam learning rate at the start of the cosine
    cosine: bool = True  # anneal the learning rate to 0 along a cosine over the run
    warmup: float = 0.0  # with cosine: fraction of the steps spent rising from lr/25 to lr
    batch_size: int = 64  # images per step
    n_train: int = 0  # training images used (0: all)
    n_test: int = 0  # test images used (0: all)
    hidden: tuple[int, ...] = (128, 64, 12)  # hidden widths of the encoder (decoder: reversed)
    n_embed: int = 2000  # test images in the embedding scatter plots
    knn_k: int = 5  # neighbours of the k-NN classifier on the two-dimensional code
    variance_span: float = 0.99  # fraction of the variance held by the directions the
    #                              encoder's angles are also measured within


@dataclass
class CorruptionConfig:
    n_points: int = 300  # samples of the clean data set
    noise_std: float = 0.1  # standard deviation σ of the corruption, data units
    x_low: float = -1.0  # smallest x of the clean samples
    x_high: float = 1.0  # largest x of the clean samples
    n_arrows: int = 60  # corrupted points drawn with an arrow back to their clean point


def check_config(config) -> None:
    """Raise :class:`ConfigError` for values no study can run with."""
    positive = ("epochs", "batch_size", "knn_k", "n_points")
    for name in positive:
        value = getattr(config, name, 1)
        if value < 1:
            raise ConfigError(f"{name}={value}: must be at least 1 (--set {name}=...)")
    warmup = getattr(config, "warmup", 0.0)
    if not 0.0 <= warmup < 1.0:
        raise ConfigError(f"warmup={warmup}: must be a fraction of the steps in [0, 1) "
                          "(--set warmup=0.15)")
    for name in ("lr", "noise_std"):
        value = getattr(config, name, 1.0)
        if not np.isfinite(value) or value < 0 or (name == "lr" and value == 0):
            raise ConfigError(f"{name}={value}: must be a positive number (--set {name}=...)")
    if any(width < 1 for width in getattr(config, "hidden", ())):
        raise ConfigError(f"hidden={config.hidden}: every width must be at least 1 "
                          "(e.g. --set hidden=128,64,12)")
    span = getattr(config, "variance_span", 0.5)
    if not 0.0 < span <= 1.0:
        raise ConfigError(f"variance_span={span}: must be a fraction in (0, 1] "
                          "(--set variance_span=0.99)")
    if getattr(config, "x_low", 0.0) >= getattr(config, "x_high", 1.0):
        raise ConfigError(f"x_low={config.x_low} must be below x_high={config.x_high}")


# ---------------------------------------------------------------------------------------------
# data


def image_tensor(X: np.ndarray) -> torch.Tensor:
    """uint8 images (N, 28, 28) → float32 tensor (N, 1, 28, 28) in [0, 1]."""
    return torch.as_tensor(to_float(X)[:, None])


def _subset(ds, n_train: int, n_test: int):
    """The first ``n_train`` / ``n_test`` images of each split (0: all) as tensors, labels."""
    n_train, n_test = take(n_train, len(ds.y_train)), take(n_test, len(ds.y_test))
    return (image_tensor(ds.X_train[:n_train]), ds.y_train[:n_train],
            image_tensor(ds.X_test[:n_test]), ds.y_test[:n_test])


def corrupt(X: torch.Tensor, noise_std: float, seed: int) -> torch.Tensor:
    """A sample of C(x̃ | x) = N(x̃; x, σ² I) for every image, the same for the same seed.

    The noise is drawn on the CPU from its own generator, so a corrupted test set is identical
    on every device and every run. Values are not clipped to [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    return X + noise_std * torch.randn(X.shape, generator=generator, dtype=X.dtype)


class GaussianNoise:
    """``x ↦ x + ε`` with ε ~ N(0, σ² I): fresh noise for every batch, from a seeded generator.

    Used as ``input_transform`` of :func:`fit`, so the model sees a new corruption of each
    training image in every epoch while the targets stay clean. The generator lives on the
    batch's device and is created on the first call.
    """

    def __init__(self, noise_std: float, seed: int):
        self.noise_std = noise_std
        self.seed = seed
        self._generator: torch.Generator | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        noise = torch.randn(x.shape, generator=self._generator, device=x.device, dtype=x.dtype)
        return x + self.noise_std * noise


# ---------------------------------------------------------------------------------------------
# training and evaluation


def train_autoencoder(model: torch.nn.Module, X_train: torch.Tensor, X_test: torch.Tensor, *,
                      epochs: int, lr: float, batch_size: int, ctx,
                      X_test_input: torch.Tensor | None = None,
                      input_transform=None, cosine: bool = False, warmup: float = 0.0,
                      on_epoch_end=None) -> dict:
    """Adam on the per-pixel MSE between the model's output and the clean images.

    The loaders yield (input, target) = (clean image, clean image); ``input_transform``
    corrupts training inputs on the fly. The test loader yields ``X_test_input`` (e.g. a fixed
    corrupted copy of ``X_test``) against the clean ``X_test``. With ``cosine`` the learning
    rate follows a cosine from ``lr`` down to 0 over all steps; ``warmup > 0`` makes that a
    one-cycle schedule, which first rises from lr/25 to ``lr`` over that fraction of the steps.
    """
    train_loader = make_loader(X_train, X_train, batch_size, shuffle=True, seed=ctx.seed)
    test_in = X_test if X_test_input is None else X_test_input
    test_loader = make_loader(test_in, X_test, 512)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (schedules.cosine(optimizer, epochs * len(train_loader), warmup=warmup)
             if cosine else None)
    return fit(model, train_loader, test_loader, optimizer=optimizer, loss_fn=torch.nn.MSELoss(),
               num_epochs=epochs, device=ctx.device,
               log=ctx.log, progress=ctx.progress, metric=None,
               input_transform=input_transform, scheduler=sched, scheduler_per="step",
               on_epoch_end=on_epoch_end, channels_last=True)


@torch.no_grad()
def embed(model: torch.nn.Module, X: torch.Tensor, device, batch_size: int = 1024) -> np.ndarray:
    """The model's codes ``model.encode(x)``, shape (N, latent_dim), as float64 NumPy."""
    model.eval()
    parameter = next(model.parameters())
    out = [model.encode(X[i:i + batch_size].to(device, parameter.dtype)).double().cpu()
           for i in range(0, len(X), batch_size)]
    return torch.cat(out).numpy()


def reconstruction_mse(X_hat, X) -> float:
    """Mean squared error per pixel between two image stacks of the same shape."""
    X_hat = np.asarray(X_hat, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    return float(np.mean((X_hat - X) ** 2))


def knn_predict(Z_train: np.ndarray, y_train, Z_test: np.ndarray, k: int = 5) -> np.ndarray:
    """Labels (N_test,) a k-nearest-neighbour classifier fitted on (Z_train, y_train) predicts."""
    from sklearn.neighbors import KNeighborsClassifier

    k = min(k, len(Z_train))
    return KNeighborsClassifier(n_neighbors=k).fit(Z_train, y_train).predict(Z_test)


def knn_accuracy(Z_train: np.ndarray, y_train, Z_test: np.ndarray, y_test, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier fitted on the training codes."""
    return float(np.mean(knn_predict(Z_train, y_train, Z_test, k) == np.asarray(y_test)))


def code_separation(y_test, y_pred, n_classes: int = 10) -> dict:
    """Which digits the k-NN classifier on a code tells apart best and worst, and its most
    frequent confusion: what the scatter of the code shows, as numbers.

    Returns ``knn_recall_by_digit`` (list of n_classes fractions: the test images of each
    digit the classifier labels right), ``best_separated_digit``, ``worst_separated_digit``
    and ``most_confused`` ({"true", "predicted", "fraction"}: the largest off-diagonal entry
    of the row-normalised confusion matrix, or None when there is no mistake).
    """
    cm = confusion_counts(y_test, y_pred, n_classes)  # (n_classes, n_classes)
    present = cm.sum(axis=1) > 0
    recall = np.where(present, np.diag(cm) / np.maximum(cm.sum(axis=1), 1), np.nan)
    pairs = most_confused_pairs(cm, list(range(n_classes)), top=1)
    return {"knn_recall_by_digit": [float(r) for r in recall],
            "best_separated_digit": int(np.nanargmax(recall)),
            "worst_separated_digit": int(np.nanargmin(recall)),
            "most_confused": ({"true": int(pairs[0]["true"]),
                               "predicted": int(pairs[0]["predicted"]),
                               "fraction": pairs[0]["fraction_of_true"]} if pairs else None)}


def principal_components(A: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Mean (D,), top principal directions (D, n_components) and all variances of A (N, D).

    From the eigendecomposition of the D × D covariance matrix: exact, and cheap when
    N ≫ D as for images (D = 784).
    """
    mean = A.mean(axis=0)  # (D,)
    centred = A - mean  # (N, D)
    cov = centred.T @ centred / max(len(A) - 1, 1)  # (D, D)
    variances, vectors = np.linalg.eigh(cov)  # ascending
    order = np.argsort(variances)[::-1]
    return mean, vectors[:, order[:n_components]], variances[order]


def pca_reference(X_train: torch.Tensor, y_train, X_test: torch.Tensor, y_test, *,
                  n_components: int = 2, k: int = 5,
                  X_test_input: torch.Tensor | None = None) -> dict:
    """PCA fitted on the training images: test reconstruction MSE and k-NN on its scores.

    With ``X_test_input`` the test images are projected from that (corrupted) copy and the
    error is measured against the clean ``X_test``. ``components`` has shape (784, n_components).
    """
    A = X_train.reshape(len(X_train), -1).double().numpy()  # (N, 784)
    T = X_test.reshape(len(X_test), -1).double().numpy()
    T_in = T if X_test_input is None else X_test_input.reshape(len(T), -1).double().numpy()
    mean, V, variances = principal_components(A, n_components)
    scores_train = (A - mean) @ V  # (N, n_components)
    scores_test = (T_in - mean) @ V
    return {"mse": reconstruction_mse(scores_test @ V.T + mean, T),
            "knn_accuracy": knn_accuracy(scores_train, y_train, scores_test, y_test, k),
            "explained_variance_ratio": float(variances[:n_components].sum()
                                              / max(variances.sum(), 1e-300)),
            "scores_test": scores_test, "components": V, "mean": mean}


@torch.no_grad()
def dead_relu_units(model: ConvAutoencoder, X: torch.Tensor, device,
                    batch_size: int = 1024) -> dict[str, int]:
    """Units of each Linear layer feeding a ReLU whose pre-activation is ≤ 0 on every image.

    Such a unit outputs 0 for all of ``X`` and gets no gradient from it: it is dead. Keys
    name the layers, e.g. ``"392→20"``.
    """
    model.eval()
    layers = model.relu_linears()
    alive = [torch.zeros(layer.out_features, dtype=torch.bool, device=device) for layer in layers]

    def hook(i):
        def record(module, inputs, output):
            alive[i] |= (output > 0).any(dim=0)
        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        parameter = next(model.parameters())
        for i in range(0, len(X), batch_size):
            model(X[i:i + batch_size].to(device, parameter.dtype))
    finally:
        for handle in handles:
            handle.remove()
    return {f"{layer.in_features}→{layer.out_features}": int((~a).sum())
            for layer, a in zip(layers, alive)}


def _dead_units_record(model: ConvAutoencoder, dead: dict[str, int]) -> list[dict]:
    """:func:`dead_relu_units` as metrics rows: each layer's sizes beside its dead count."""
    return [{"in_features": layer.in_features, "out_features": layer.out_features,
             "dead": dead[f"{layer.in_features}→{layer.out_features}"]}
            for layer in model.relu_linears()]


def _score(model, X_train, y_train, X_test, y_test, ctx, *, k: int,
           X_train_input=None, X_test_input=None) -> dict:
    """Test MSE per pixel (against the clean images), k-NN accuracy, codes, outputs."""
    X_train_input = X_train if X_train_input is None else X_train_input
    X_test_input = X_test if X_test_input is None else X_test_input
    X_hat = predict(model, X_test_input, device=ctx.device)  # (N, 1, 28, 28)
    Z_train = embed(model, X_train_input, ctx.device)  # (N_train, 2)
    Z_test = embed(model, X_test_input, ctx.device)  # (N_test, 2)
    y_pred = knn_predict(Z_train, y_train, Z_test, k)  # (N_test,)
    return {"test_mse": reconstruction_mse(X_hat, X_test),
            "knn_accuracy": float(np.mean(y_pred == np.asarray(y_test))),
            "knn_pred": y_pred, "X_hat": X_hat.numpy(), "Z_test": Z_test}


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def export_program(model: torch.nn.Module, example: torch.Tensor):
    """``torch.export`` a CPU copy of ``model`` in eval mode, any batch size.

    ``example`` is a float32 batch (N, 1, 28, 28) with N ≥ 2 (a batch of 1 would let the
    exporter specialise the batch dimension); the program takes (B, 1, 28, 28) for any B ≥ 1.
    Training stores convolution weights channels-last (``fit(channels_last=True)``); the copy
    is put back in the standard layout, since ``torch.export.save`` takes a weight that does
    not cover its storage in order for a slice of a larger one (and warns "No complete tensor
    found in the group!").
    """
    cpu_model = copy.deepcopy(model).cpu().float().eval()
    cpu_model = cpu_model.to(memory_format=torch.contiguous_format)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    return torch.export.export(cpu_model, (example.cpu().float(),),
                               dynamic_shapes=({0: batch},))


def save_exported(ctx, model: torch.nn.Module, example: torch.Tensor, name: str) -> Path | None:
    """Save ``model`` as a ``torch.export`` program ``name`` (.pt2) in the run directory.

    Written to a temporary name beside it and renamed, so a killed run leaves no half file.
    Plain PyTorch runs it: ``torch.export.load(path).module()(x)``.
    """
    if not ctx.is_main:
        return None
    from stridelab.experiments.artifacts import atomic_write

    program = export_program(model, example)
    path = ctx.path(name)
    with atomic_write(path, "wb") as fh:
        torch.export.save(program, fh)
    ctx.log(f"saved {name}: torch.export program, input (B, 1, 28, 28) float32 in [0, 1]")
    return path


def _save_models(ctx, model: torch.nn.Module, example: torch.Tensor, stem: str,
                 export: bool = True) -> None:
    """``stem.pt`` (state dict) and, with ``export``, ``stem.pt2`` (torch.export program)."""
    ctx.save_torch(_cpu_state(model), f"{stem}.pt")
    if export:
        save_exported(ctx, model, example, f"{stem}.pt2")


# ---------------------------------------------------------------------------------------------
# figures


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def embedding_axes(ax, Z: np.ndarray, y, classes, title: str) -> None:
    """Scatter a two-dimensional code (N, 2) coloured by label (legend: see embeddings_figure)."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    y = np.asarray(y)
    for c, name in enumerate(classes):
        mask = y == c
        if mask.any():
            ax.scatter(Z[mask, 0], Z[mask, 1], s=5, alpha=0.6, color=cmap(c % 10),
                       label=str(name), rasterized=True)
    ax.set_xlabel("$z_1$", fontsize=10)
    ax.set_ylabel("$z_2$", fontsize=10)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)


def embeddings_figure(panels: list[tuple[np.ndarray, str]], y, classes, title: str):
    """One scatter per (code, subtitle), side by side, one legend of the digits to the right."""
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 1.0, 4.4), squeeze=False)
    for ax, (Z, subtitle) in zip(axes[0], panels):
        embedding_axes(ax, Z, y, classes, subtitle)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, title="label", markerscale=3, fontsize=9, title_fontsize=9,
               loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def rows_figure(rows: list[tuple[str, np.ndarray]], labels, title: str):
    """Image rows, one per (name, images (n, 1, 28, 28)), each row named on its left."""
    import matplotlib.pyplot as plt

    n = min(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.0 * n + 1.6, 1.05 * len(rows) + 0.8),
                             squeeze=False)
    for r, (name, images) in enumerate(rows):
        for j in range(n):
            ax = axes[r, j]
            ax.imshow(np.clip(np.asarray(images[j]).reshape(28, 28), 0.0, 1.0), cmap="gray",
                      vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"label {labels[j]}", fontsize=9)
        axes[r, 0].set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center",
                              labelpad=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def losses_figure(histories: list[tuple[str, dict]], title: str, reference=None):
    """Train (solid) and test (dashed) MSE per epoch for several models, legend outside."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.2, 4.2))
    for i, (name, history) in enumerate(histories):
        color = plt.get_cmap("tab10")(i)
        ax.plot(history["epoch"], history["train_loss"], "o-", color=color, ms=3,
                label=f"{name}: train")
        ax.plot(history["epoch"], history["test_loss"], "s--", color=color, ms=3,
                label=f"{name}: test")
    if reference is not None:
        value, name = reference
        ax.axhline(value, color="gray", ls=":", label=name)
    ax.set_yscale("log")  # skip models sit an order of magnitude below the others
    ax.set_xlabel("epoch", fontsize=10)
    ax.set_ylabel("MSE per pixel (log scale)", fontsize=10)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=9)
    _integer_epochs(ax)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# narration pieces shared by the studies

# Words that tell which branch of a claim a note took (the tests look for them, not for
# whole sentences).
BEATS_PCA, NOT_PCA = "separates the digits better", "separates the digits no better"
BYPASSED, RELIES = "bypasses the code", "still relies on its code"
DENOISES, NO_DENOISE = "brings that down", "does not improve on it"
SAME_PLANE, NOT_YET = "reaches it", "has not reached it"
OFF_CURVE, ON_CURVE = "off the curve", "hardly moves them"


def _schedule_text(config) -> str:
    """The learning-rate schedule, from the config's own values."""
    lr = num(config, "lr", "g")
    if not config.cosine:
        return f"learning rate {lr}"
    if config.warmup > 0:
        return (f"learning rate rising to {lr} over a fraction {num(config, 'warmup', 'g')} of "
                "the steps, then annealed to zero along a cosine")
    return f"learning rate {lr} annealed to zero along a cosine"


def _separation_text(metrics: dict, config) -> str:
    """What the code's scatter shows, from the k-NN classifier's recall per digit."""
    best, worst = metrics["best_separated_digit"], metrics["worst_separated_digit"]
    text = (f"On the code, the {num(config, 'knn_k')}-NN classifier labels "
            f"{num(metrics, f'knn_recall_by_digit.{best}', '.2f')} of the test images of digit "
            f"{num(metrics, 'best_separated_digit')} right (its best-separated digit) and "
            f"{num(metrics, f'knn_recall_by_digit.{worst}', '.2f')} of digit "
            f"{num(metrics, 'worst_separated_digit')} (its worst)")
    if metrics.get("most_confused"):
        text += (f"; the most frequent confusion is digit {num(metrics, 'most_confused.true')} "
                 f"read as {num(metrics, 'most_confused.predicted')} (a fraction "
                 f"{num(metrics, 'most_confused.fraction', '.2f')} of them)")
    return text + ": digits whose clusters overlap in the plane are the ones it mixes up."


# ---------------------------------------------------------------------------------------------
# ae-linear and ae-conv: one model, three figures


def _single_model_study(model: torch.nn.Module, config: AEConfig, ctx, *, label: str,
                        stem: str) -> dict:
    """Train one autoencoder, score it against PCA, draw it, save it; returns the metrics."""
    check_config(config)
    ds = ctx.load_dataset(family="mnist")
    X_train, y_train, X_test, y_test = _subset(ds, config.n_train, config.n_test)
    n_params = sum(p.numel() for p in model.parameters())
    ctx.log(f"{label}: {n_params} parameters, {len(X_train)} training images, "
            f"{config.epochs} epochs")
    history = train_autoencoder(model, X_train, X_test, epochs=config.epochs, lr=config.lr,
                                batch_size=config.batch_size, ctx=ctx, cosine=config.cosine,
                                warmup=config.warmup)
    _save_models(ctx, model, X_test[:2], stem)
    scores = _score(model, X_train, y_train, X_test, y_test, ctx, k=config.knn_k)
    pca = pca_reference(X_train, y_train, X_test, y_test, k=config.knn_k)
    ctx.write_json("history.json", history)

    n_show, n_embed = min(config.n_show, len(X_test)), min(config.n_embed, len(X_test))
    ctx.savefig(rows_figure([("original", X_test[:n_show].numpy()),
                             ("reconstruction", scores["X_hat"][:n_show])],
                            y_test[:n_show],
                            f"{label} on {ds.name}: test MSE {scores['test_mse']:.4f} per "
                            "pixel"),
                "reconstructions", caption="Test images (top row) and their reconstructions "
                "through the two-dimensional code (bottom row)")
    ctx.savefig(embeddings_figure(
        [(scores["Z_test"][:n_embed], f"{label}: {config.knn_k}-NN accuracy "
          f"{scores['knn_accuracy']:.3f}"),
         (pca["scores_test"][:n_embed], f"PCA, two components: {config.knn_k}-NN accuracy "
          f"{pca['knn_accuracy']:.3f}")],
        y_test[:n_embed], ds.classes,
        f"Codes of {n_embed} test images of {ds.name}, coloured by label"),
        "embeddings", caption="The two-dimensional code of a batch of test images, beside "
        "the first two principal components for reference")
    ctx.savefig(losses_figure([(label, history)], f"{label} on {ds.name}: MSE per pixel",
                              reference=(pca["mse"], "PCA, two components (test)")),
                "loss_curves", caption="Training and test reconstruction MSE per epoch")

    metrics = {"test_mse": scores["test_mse"], "knn_accuracy": scores["knn_accuracy"],
               "pca2_test_mse": pca["mse"], "pca2_knn_accuracy": pca["knn_accuracy"],
               **code_separation(y_test, scores["knn_pred"], len(ds.classes)),
               "dataset": ds.name, "n_train": len(X_train), "n_test": len(X_test),
               "n_parameters": n_params, **history_summary(history)}
    if isinstance(model, ConvAutoencoder):
        dead = dead_relu_units(model, X_test, ctx.device)
        metrics["dead_relu_units"] = _dead_units_record(model, dead)
    ctx.log(f"{label}: test MSE {scores['test_mse']:.4f} (PCA, two components "
            f"{pca['mse']:.4f}), {config.knn_k}-NN accuracy on the code "
            f"{scores['knn_accuracy']:.3f} (PCA {pca['knn_accuracy']:.3f})")
    return metrics


def _versus_pca(metrics: dict, config) -> list[str]:
    """The reconstruction and the k-NN accuracy of the code, each against PCA's, both ways."""
    k = num(config, "knn_k")
    mse = (f"test MSE **{num(metrics, 'test_mse', '.4f')}** per pixel against "
           f"{num(metrics, 'pca2_test_mse', '.4f')} for PCA with two components")
    return [
        claim(metrics["test_mse"] < metrics["pca2_test_mse"],
              f"It reconstructs the test images better than PCA's best plane: {mse}.",
              f"It reconstructs the test images no better than PCA's best plane: {mse}."),
        claim(metrics["knn_accuracy"] > metrics["pca2_knn_accuracy"],
              f"A {k}-NN classifier on its code reaches **{num(metrics, 'knn_accuracy')}** "
              f"test accuracy against {num(metrics, 'pca2_knn_accuracy')} on PCA's two scores: "
              f"the nonlinear encoder {BEATS_PCA} than two linear projections.",
              f"A {k}-NN classifier on its code reaches **{num(metrics, 'knn_accuracy')}** "
              f"test accuracy, not above the {num(metrics, 'pca2_knn_accuracy')} of PCA's two "
              f"scores: in this run the nonlinear encoder {NOT_PCA} than two linear "
              "projections."),
    ]


def measure_linear(config: AEConfig, ctx) -> dict:
    """ae-linear: the fully connected autoencoder of the sheet, saved as ``mnist_ae.pt(2)``."""
    model = MLPAutoencoder(hidden=(128, 64, 12), latent_dim=2, activation=True)
    return _single_model_study(model, config, ctx, label="MLP autoencoder", stem="mnist_ae")


def narrate_linear(metrics: dict, config: AEConfig) -> Notes:
    notes = Notes()
    notes.add(f"The fully connected autoencoder (four Linear layers down to a code of two "
              f"numbers and four back up, ReLU between them but none entering or leaving the "
              f"code; {num(metrics, 'n_parameters')} parameters) was trained for "
              f"{num(config, 'epochs')} epochs with Adam ({_schedule_text(config)}, batch "
              f"{num(config, 'batch_size')}) on {num(metrics, 'n_train')} images of "
              f"{metrics['dataset']}.", *_versus_pca(metrics, config))
    notes.add(_separation_text(metrics, config))
    return notes




def narrate_conv(metrics: dict, config: ConvAEConfig) -> Notes:
    notes = Notes()
    notes.add(f"The sheet's convolutional autoencoder ({num(metrics, 'n_parameters')} "
              "parameters: two convolutions with max pooling, two Linear layers down to a code "
              "of two numbers, then the mirror image with nearest-neighbour upsampling and a "
              f"sigmoid output) was trained for {num(config, 'epochs')} epochs with Adam "
              f"({_schedule_text(config)}, batch {num(config, 'batch_size')}) on "
              f"{num(metrics, 'n_train')} images of {metrics['dataset']}.",
              *_versus_pca(metrics, config))
    notes.add(_separation_text(metrics, config))
    dead = metrics["dead_relu_units"]
    parts = [f"{num(metrics, f'dead_relu_units.{i}.dead')} of "
             f"{num(metrics, f'dead_relu_units.{i}.out_features')} in the layer from "
             f"{num(metrics, f'dead_relu_units.{i}.in_features')}" for i in range(len(dead))]
    n_dead = sum(row["dead"] for row in dead)
    notes.add("Units that no test image activates (dead ReLUs), per Linear layer feeding a "
              "ReLU: " + ", ".join(parts) + ". "
              + claim(n_dead == 0, "None of them died, so every unit still takes part.",
                      "A dead unit outputs zero for every image and gets no gradient again, "
                      "so it no longer takes part in the code.")
              + f" Those layers start with bias {num(config, 'relu_bias', 'g')}, which keeps "
              "more of them alive through the first large Adam steps.")
    return notes


def measure_conv(config: ConvAEConfig, ctx) -> dict:
    """ae-conv: the sheet's convolutional autoencoder, saved as ``mnist_cae.pt(2)``."""
    model = ConvAutoencoder(latent_dim=2, skip=False, relu_bias=config.relu_bias)
    return _single_model_study(model, config, ctx, label="Convolutional autoencoder",
                               stem="mnist_cae")


_SMOKE = {"epochs": 1, "n_train": 256, "n_test": 128, "n_embed": 128, "n_show": 4}

register("ae-linear", AEConfig,
         description="Fully connected autoencoder 784→128→64→12→2→…→784: reconstructions, "
                     "two-dimensional code, k-NN on it",
         quick={"epochs": 8, "n_train": 4000, "n_test": 2000}, smoke=_SMOKE,
         needs="mnist", key_metric="test_mse", order=70, narrate=narrate_linear,
         lessons=(
             Lesson("The code of the fully connected autoencoder separates the digits better "
                    "than PCA's two scores", "knn_accuracy", ">", quick="pca2_knn_accuracy",
                    full="pca2_knn_accuracy", label="k-NN accuracy on the code"),
             Lesson("It reconstructs the test images better than PCA with two components",
                    "test_mse", "<", quick="pca2_test_mse", full="pca2_test_mse",
                    label="test MSE per pixel"),
         ))(measure_linear)

register("ae-conv", ConvAEConfig,
         description="Convolutional autoencoder (conv 1→4→8, pool, 392→20→2 and back): "
                     "reconstructions, two-dimensional code",
         # 12 epochs: after 6 the code's 5-NN accuracy (0.369) was still below PCA's (0.418)
         quick={"epochs": 12, "n_train": 4000, "n_test": 2000}, smoke=_SMOKE,
         needs="mnist", key_metric="test_mse", order=71, narrate=narrate_conv,
         lessons=(
             Lesson("The convolutional autoencoder's code separates the digits better than "
                    "PCA's two scores", "knn_accuracy", ">", quick="pca2_knn_accuracy",
                    full="pca2_knn_accuracy", label="k-NN accuracy on the code"),
             Lesson("It reconstructs the test images better than PCA with two components",
                    "test_mse", "<", quick="pca2_test_mse", full="pca2_test_mse",
                    label="test MSE per pixel"),
             Lesson("The course's target on full MNIST: a test MSE of at most 0.040 per pixel",
                    "test_mse", "<=", quick=None, full=0.040, label="test MSE per pixel"),
         ))(measure_conv)


# ---------------------------------------------------------------------------------------------
# ae-conv-skip: with and without skip connections


@torch.no_grad()
def bypass_scores(model: ConvAutoencoder, X: torch.Tensor, device) -> dict:
    """How much a skip model's output depends on its code and on its skips.

    ``mse_embedding_only``: decode from the code with the skips left out.
    ``mse_skips_only``: decode from the skips with every code replaced by the mean code, so
    the bottleneck carries no information about the image.
    """
    model.eval()
    parameter = next(model.parameters())
    X = X.to(device, parameter.dtype)
    z, pooled = model.encode_with_skips(X)  # z: (N, 2)
    z_mean = z.mean(dim=0, keepdim=True).expand_as(z)  # (N, 2)
    embedding_only = model.decode(z, None)
    skips_only = model.decode(z_mean, pooled)
    return {"mse_embedding_only": float(((embedding_only - X) ** 2).mean()),
            "mse_skips_only": float(((skips_only - X) ** 2).mean()),
            "X_embedding_only": embedding_only.cpu().numpy(),
            "X_skips_only": skips_only.cpu().numpy()}


def _skip_pair(config: ConvAEConfig, ctx, *, noise_std: float = 0.0):
    """Train the convolutional autoencoder without and with skips on the same data."""
    check_config(config)
    ds = ctx.load_dataset(family="mnist")
    X_train, y_train, X_test, y_test = _subset(ds, config.n_train, config.n_test)
    X_test_input = X_train_input = None
    transform = None
    if noise_std > 0:
        # fixed corruptions for evaluation; fresh ones for every training batch
        X_test_input = corrupt(X_test, noise_std, seed=ctx.seed + 1)
        X_train_input = corrupt(X_train, noise_std, seed=ctx.seed + 2)
    out = {"ds": ds, "X_train": X_train, "y_train": y_train, "X_test": X_test,
           "y_test": y_test, "X_test_input": X_test_input, "models": {}, "histories": {},
           "scores": {}}
    for skip in (False, True):
        name = "with skips" if skip else "no skips"
        model = ConvAutoencoder(latent_dim=2, skip=skip, relu_bias=config.relu_bias)
        if noise_std > 0:
            transform = GaussianNoise(noise_std, seed=ctx.seed + 3 + 1000 * rank())
        ctx.log(f"training the convolutional autoencoder {name}"
                + (f" on inputs with Gaussian noise σ = {noise_std:g}" if noise_std > 0 else ""))
        history = train_autoencoder(model, X_train, X_test, epochs=config.epochs, lr=config.lr,
                                    batch_size=config.batch_size, ctx=ctx, cosine=config.cosine,
                                    warmup=config.warmup,
                                    X_test_input=X_test_input, input_transform=transform)
        out["models"][name] = model
        out["histories"][name] = history
        out["scores"][name] = _score(model, X_train, y_train, X_test, y_test, ctx,
                                     k=config.knn_k, X_train_input=X_train_input,
                                     X_test_input=X_test_input)
    out["pca"] = pca_reference(X_train, y_train, X_test, y_test, k=config.knn_k,
                               X_test_input=X_test_input)
    return out


def _pair_embeddings_figure(pair: dict, config, title: str):
    plain, skip = pair["scores"]["no skips"], pair["scores"]["with skips"]
    n_embed = min(config.n_embed, len(pair["X_test"]))
    return embeddings_figure(
        [(plain["Z_test"][:n_embed], f"no skips: {config.knn_k}-NN accuracy "
          f"{plain['knn_accuracy']:.3f}"),
         (skip["Z_test"][:n_embed], f"with skips: {config.knn_k}-NN accuracy "
          f"{skip['knn_accuracy']:.3f}")],
        pair["y_test"][:n_embed], pair["ds"].classes, title)


def measure_skip(config: ConvAEConfig, ctx) -> dict:
    """ae-conv-skip: both models, the skip model saved as ``mnist-cae-skip.pt(2)``."""
    pair = _skip_pair(config, ctx)
    ds, X_test, y_test = pair["ds"], pair["X_test"], pair["y_test"]
    plain, skip = pair["scores"]["no skips"], pair["scores"]["with skips"]
    skip_model = pair["models"]["with skips"]
    _save_models(ctx, skip_model, X_test[:2], "mnist-cae-skip")
    bypass = bypass_scores(skip_model, X_test, ctx.device)
    ctx.write_json("history.json", pair["histories"])

    n_show = min(config.n_show, len(X_test))
    ctx.savefig(rows_figure(
        [("original", X_test[:n_show].numpy()),
         ("no skips", plain["X_hat"][:n_show]),
         ("with skips", skip["X_hat"][:n_show]),
         ("skips only\n(mean code)", bypass["X_skips_only"][:n_show]),
         ("code only\n(no skips)", bypass["X_embedding_only"][:n_show])],
        y_test[:n_show],
        f"Convolutional autoencoder on {ds.name}, without and with skips: test MSE "
        f"{plain['test_mse']:.4f} and {skip['test_mse']:.4f}"),
        "skip_reconstructions", caption="Originals, then reconstructions without and with "
        "skips; the last two rows feed the skip model's decoder only its skips (every code "
        "replaced by the mean code) or only its code")
    ctx.savefig(_pair_embeddings_figure(
        pair, config, f"Codes of test images of {ds.name}, coloured by label"),
        "skip_embeddings", caption="The bottleneck's code without and with skips")
    ctx.savefig(losses_figure(list(pair["histories"].items()),
                              f"Reconstruction MSE per epoch on {ds.name}",
                              reference=(pair["pca"]["mse"], "PCA, two components (test)")),
                "skip_losses", caption="Training and test MSE of both models")

    return {"test_mse": skip["test_mse"], "knn_accuracy": skip["knn_accuracy"],
            "test_mse_no_skip": plain["test_mse"], "knn_accuracy_no_skip":
            plain["knn_accuracy"], "mse_skips_only": bypass["mse_skips_only"],
            "mse_embedding_only": bypass["mse_embedding_only"],
            "pca2_test_mse": pair["pca"]["mse"],
            "pca2_knn_accuracy": pair["pca"]["knn_accuracy"], "dataset": ds.name,
            "n_train": len(pair["X_train"]), "n_test": len(X_test),
            "n_parameters": sum(p.numel() for p in skip_model.parameters()),
            "epoch_time_s": float(np.median(pair["histories"]["with skips"]["epoch_time"]))}


def narrate_skip(metrics: dict, config: ConvAEConfig) -> Notes:
    k = num(config, "knn_k")
    skip, plain = num(metrics, "test_mse", ".4f"), num(metrics, "test_mse_no_skip", ".4f")
    notes = Notes()
    notes.add("**What the skips do to the bottleneck.** Each pooled map is added to the input "
              "of its mirror upsampling layer (addition, so every layer and the parameter "
              f"count, {num(metrics, 'n_parameters')}, stay as in the plain model). Both were "
              f"trained alike for {num(config, 'epochs')} epochs on {num(metrics, 'n_train')} "
              f"images of {metrics['dataset']}.",
              claim(metrics["test_mse"] < metrics["test_mse_no_skip"],
                    f"With skips the test MSE is **{skip}** per pixel against **{plain}** "
                    "without: the decoder also receives the encoder's pooled maps, far more "
                    "than the code's two numbers.",
                    f"With skips the test MSE is **{skip}** per pixel, not below the **{plain}** "
                    "of the plain model: in this run the skips did not help the "
                    "reconstruction."))
    notes.add(claim(metrics["mse_skips_only"] < metrics["test_mse_no_skip"],
                    "With every image's code replaced by the mean code the skip model still "
                    f"reconstructs with an MSE of **{num(metrics, 'mse_skips_only', '.4f')}**, "
                    f"better than the plain model does with its own codes ({plain}): the "
                    f"decoder {BYPASSED}. Skips make a good image-to-image network "
                    "(a U-Net) but defeat the purpose of an autoencoder's bottleneck: the "
                    "reconstruction error no longer measures what the code has learned.",
                    "With every image's code replaced by the mean code the skip model's MSE "
                    f"rises to **{num(metrics, 'mse_skips_only', '.4f')}**, not below the plain "
                    f"model's {plain}: in this run the skip model {RELIES}."),
              "Decoding the code alone, skips left out, gives "
              f"{num(metrics, 'mse_embedding_only', '.4f')}.")
    notes.add(claim(metrics["knn_accuracy"] < metrics["knn_accuracy_no_skip"],
                    f"The code carries less of the digit's identity: {k}-NN accuracy on it is "
                    f"{num(metrics, 'knn_accuracy')} with skips against "
                    f"{num(metrics, 'knn_accuracy_no_skip')} without.",
                    f"In this run the code did not lose class information ({k}-NN accuracy "
                    f"{num(metrics, 'knn_accuracy')} with skips, "
                    f"{num(metrics, 'knn_accuracy_no_skip')} without), though nothing in the "
                    "training objective asks it to keep any."))
    return notes


register("ae-conv-skip", ConvAEConfig,
         description="Convolutional autoencoder with skip connections pooling→upsampling, "
                     "against the plain one",
         quick={"epochs": 4, "n_train": 4000, "n_test": 2000}, smoke=_SMOKE,
         needs="mnist", key_metric="test_mse", order=72, narrate=narrate_skip,
         lessons=(
             Lesson("Skip connections lower the reconstruction error", "test_mse", "<",
                    quick="test_mse_no_skip", full="test_mse_no_skip",
                    label="test MSE with skips"),
             Lesson("The skips bypass the code: with every code replaced by the mean code the "
                    "skip model still reconstructs better than the plain model with its own",
                    "mse_skips_only", "<", quick="test_mse_no_skip", full="test_mse_no_skip",
                    label="MSE with the mean code"),
         ))(measure_skip)


# ---------------------------------------------------------------------------------------------
# ae-denoise


def measure_denoise(config: DenoiseConfig, ctx) -> dict:
    """ae-denoise: both convolutional models on corrupted inputs, clean targets."""
    sigma = config.noise_std
    pair = _skip_pair(config, ctx, noise_std=sigma)
    ds, X_test, y_test = pair["ds"], pair["X_test"], pair["y_test"]
    X_noisy = pair["X_test_input"]
    plain, skip = pair["scores"]["no skips"], pair["scores"]["with skips"]
    _save_models(ctx, pair["models"]["no skips"], X_test[:2], "mnist_dae", config.export)
    _save_models(ctx, pair["models"]["with skips"], X_test[:2], "mnist-dae-skip",
                 config.export)
    ctx.write_json("history.json", pair["histories"])
    noisy_mse = reconstruction_mse(X_noisy, X_test)  # what the identity map scores
    clean_in = {name: reconstruction_mse(predict(m, X_test, device=ctx.device), X_test)
                for name, m in pair["models"].items()}
    to_noisy = {name: reconstruction_mse(s["X_hat"], X_noisy)
                for name, s in pair["scores"].items()}

    n_show = min(config.n_show, len(X_test))
    ctx.savefig(rows_figure(
        [("clean", X_test[:n_show].numpy()),
         (f"corrupted,\nσ = {sigma:g}", X_noisy[:n_show].numpy()),
         ("denoised,\nno skips", plain["X_hat"][:n_show]),
         ("denoised,\nwith skips", skip["X_hat"][:n_show])],
        y_test[:n_show],
        f"Denoising autoencoders on {ds.name}: MSE to the clean images {noisy_mse:.4f} "
        f"(corrupted), {plain['test_mse']:.4f} (no skips), {skip['test_mse']:.4f} (skips)"),
        "denoise_reconstructions", caption="Clean test images, their corrupted copies "
        r"x̃ = x + ε, ε ~ N(0, σ² I) (shown clipped to [0, 1]), and the outputs of both "
        "denoisers")
    ctx.savefig(_pair_embeddings_figure(
        pair, config, f"Codes of corrupted test images (σ = {sigma:g}), coloured by label"),
        "denoise_embeddings", caption="Codes of the corrupted test images without and "
        "with skips")
    ctx.savefig(losses_figure(list(pair["histories"].items()),
                              f"Denoising: MSE to the clean images per epoch on {ds.name}",
                              reference=(noisy_mse, "corrupted input itself (identity map)")),
                "denoise_losses", caption="Training and test MSE (against the clean images) "
                "of both denoisers")

    return {"test_mse": plain["test_mse"], "test_mse_skip": skip["test_mse"],
            "knn_accuracy": plain["knn_accuracy"], "knn_accuracy_skip": skip["knn_accuracy"],
            "noisy_input_mse": noisy_mse,
            "clean_input_mse": clean_in["no skips"],
            "clean_input_mse_skip": clean_in["with skips"],
            "output_to_noisy_mse": to_noisy["no skips"],
            "output_to_noisy_mse_skip": to_noisy["with skips"],
            "pca2_test_mse": pair["pca"]["mse"],
            "pca2_knn_accuracy": pair["pca"]["knn_accuracy"],
            "dataset": ds.name, "n_train": len(pair["X_train"]), "n_test": len(X_test)}


def narrate_denoise(metrics: dict, config: DenoiseConfig) -> Notes:
    k = num(config, "knn_k")
    noisy = num(metrics, "noisy_input_mse", ".4f")
    plain, skip = num(metrics, "test_mse", ".4f"), num(metrics, "test_mse_skip", ".4f")
    notes = Notes()
    notes.add("**Denoising.** Both convolutional autoencoders were retrained on inputs "
              f"corrupted by C(x̃ | x) = N(x̃; x, σ² I) with σ = {num(config, 'noise_std', 'g')} "
              "(fresh noise for every batch, clean targets) and evaluated on one fixed "
              f"corruption of the test set, whose images lie {noisy} per pixel from the clean "
              "ones.",
              claim(metrics["test_mse"] < metrics["noisy_input_mse"],
                    f"The plain denoiser {DENOISES} to **{plain}**,",
                    f"The plain denoiser {NO_DENOISE} (**{plain}**),"),
              claim(metrics["test_mse_skip"] < metrics["noisy_input_mse"],
                    f"the one with skips to **{skip}**",
                    f"nor does the one with skips (**{skip}**)"),
              f"(PCA's plane, projecting the corrupted images: "
              f"{num(metrics, 'pca2_test_mse', '.4f')}).")
    closer = (metrics["output_to_noisy_mse"] > metrics["test_mse"]
              and metrics["output_to_noisy_mse_skip"] > metrics["test_mse_skip"])
    notes.add("Compared with the corrupted images they were given, the outputs lie "
              f"{num(metrics, 'output_to_noisy_mse', '.4f')} (no skips) and "
              f"{num(metrics, 'output_to_noisy_mse_skip', '.4f')} (with skips) from them:",
              claim(closer, "both are closer to the clean image than to their own input, so "
                            "neither copies it.",
                    "at least one of them stays closer to its noisy input than to the clean "
                    "image, so it partly copies the noise."),
              f"On clean inputs they score {num(metrics, 'clean_input_mse', '.4f')} and "
              f"{num(metrics, 'clean_input_mse_skip', '.4f')}.",
              claim(metrics["test_mse_skip"] < metrics["test_mse"],
                    "The skips help here too: the decoder sees the corrupted image's pooled "
                    "maps and acts as a local denoiser made of its convolutions.",
                    "The skips did not help the denoising in this run."))
    notes.add("**Keeping an autoencoder from learning the identity.** A network that can copy "
              "its input reaches zero reconstruction error and learns nothing. Three design "
              "choices prevent it: an *undercomplete* bottleneck (here a code of two numbers "
              "per image), so copying is impossible and only the directions that explain most "
              "of the data survive; *denoising*, where the input is corrupted and the target "
              f"is clean, so the identity map scores the corruption's own error ({noisy} here) "
              "and the network must learn where digits lie to beat it; and penalties on the "
              "code, sparse (an L1 penalty on the activations) or contractive (a penalty on "
              "the encoder's Jacobian), for overcomplete codes. Skip connections undo the "
              "first: they hand the decoder the input's feature maps around the bottleneck.",
              claim(metrics["clean_input_mse_skip"] < metrics["clean_input_mse"],
                    "On clean inputs the skip denoiser reconstructs better "
                    f"({num(metrics, 'clean_input_mse_skip', '.4f')} against "
                    f"{num(metrics, 'clean_input_mse', '.4f')}).",
                    "On clean inputs the skip denoiser does not reconstruct better "
                    f"({num(metrics, 'clean_input_mse_skip', '.4f')} against "
                    f"{num(metrics, 'clean_input_mse', '.4f')})."),
              claim(metrics["test_mse_skip"] < metrics["noisy_input_mse"],
                    "Under denoising it still cannot win by copying, and it beats the "
                    f"identity's {noisy}.",
                    f"Under denoising it does not beat the identity's {noisy}."))
    notes.add(claim(metrics["knn_accuracy_skip"] < metrics["knn_accuracy"],
                    f"The codes of corrupted images separate the digits less with skips: "
                    f"{k}-NN accuracy {num(metrics, 'knn_accuracy_skip')} against "
                    f"{num(metrics, 'knn_accuracy')} without.",
                    f"The codes of corrupted images separate the digits at least as well with "
                    f"skips: {k}-NN accuracy {num(metrics, 'knn_accuracy_skip')} against "
                    f"{num(metrics, 'knn_accuracy')} without."))
    return notes


register("ae-denoise", DenoiseConfig,
         description="Denoising convolutional autoencoders (Gaussian noise σ=0.3), with and "
                     "without skips",
         # the denoisers are no file the sheet asks for: their .pt2 (two exports) in full runs
         quick={"epochs": 4, "n_train": 4000, "n_test": 2000, "export": False},
         smoke={**_SMOKE, "export": True},
         needs="mnist", key_metric="test_mse", order=73, narrate=narrate_denoise,
         lessons=(
             Lesson("The denoiser's output is closer to the clean image than its noisy input "
                    "is", "test_mse", "<", quick="noisy_input_mse", full="noisy_input_mse",
                    label="output against clean (no skips)"),
             Lesson("With skips, the output is closer to the clean image still",
                    "test_mse_skip", "<", quick="test_mse", full="test_mse",
                    label="output against clean (skips)"),
         ))(measure_denoise)


# ---------------------------------------------------------------------------------------------
# pca-vs-linear-ae

SAME_PLANE_DEG = 2.0  # largest principal angle (degrees) read as "the same plane as PCA's"


def principal_angles_deg(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Principal angles in degrees between the column spaces of U (D, p) and V (D, q)."""
    from scipy.linalg import subspace_angles

    return np.degrees(subspace_angles(np.asarray(U, np.float64), np.asarray(V, np.float64)))


def measure_pca_vs_linear(config: LinearAEConfig, ctx) -> dict:
    """pca-vs-linear-ae: the angles between the decoder's plane and PCA's, per epoch."""
    import matplotlib.pyplot as plt

    check_config(config)
    ds = ctx.load_dataset(family="mnist")
    X_train, y_train, X_test, y_test = _subset(ds, config.n_train, config.n_test)
    pca = pca_reference(X_train, y_train, X_test, y_test, k=config.knn_k)
    V = pca["components"]  # (784, 2): the PCA subspace
    model = MLPAutoencoder(hidden=tuple(config.hidden), latent_dim=2, activation=False)
    angle_history: list[list[float]] = []

    def record_angles(epoch: int, history: dict) -> None:
        _, _, B, _ = model.affine_maps()
        angle_history.append(principal_angles_deg(B.double().cpu().numpy(), V).tolist())

    history = train_autoencoder(model, X_train, X_test, epochs=config.epochs, lr=config.lr,
                                batch_size=config.batch_size, ctx=ctx, cosine=config.cosine,
                                warmup=config.warmup, on_epoch_end=record_angles)
    ctx.save_torch(_cpu_state(model), "mnist_linear_ae.pt")
    A, a, B, b = (t.double().cpu().numpy() for t in model.affine_maps())
    decoder_angles = principal_angles_deg(B, V)  # (2,)
    encoder_angles = principal_angles_deg(A.T, V)
    # The loss weighs the encoder's weights along each direction by the data's variance there,
    # so along directions of little or no variance (border pixels that are always 0) they are
    # barely constrained: compare the rows within the directions holding most of the variance.
    _, U, variances = principal_components(X_train.reshape(len(X_train), -1).double().numpy(),
                                           784)
    n_span = int(np.searchsorted(np.cumsum(variances) / variances.sum(), config.variance_span)
                 + 1)
    n_span = min(n_span, U.shape[1])
    span = U[:, :n_span]  # (784, n_span)
    encoder_angles_in_span = principal_angles_deg(span @ (span.T @ A.T), V)
    scores = _score(model, X_train, y_train, X_test, y_test, ctx, k=config.knn_k)
    # the AE's code is PCA's scores up to an invertible 2×2 map: fit it and measure the fit
    Z_test, S_test = scores["Z_test"], pca["scores_test"]  # (N, 2) each
    Z1 = np.column_stack([Z_test, np.ones(len(Z_test))])  # (N, 3)
    M, *_ = np.linalg.lstsq(Z1, S_test, rcond=None)  # (3, 2)
    r2 = 1.0 - np.sum((Z1 @ M - S_test) ** 2) / np.sum((S_test - S_test.mean(0)) ** 2)
    ctx.write_json("history.json", {**history, "principal_angles_deg": angle_history})

    n_embed = min(config.n_embed, len(X_test))
    ctx.savefig(embeddings_figure(
        [(Z_test[:n_embed], "linear autoencoder code"), (S_test[:n_embed], "PCA scores")],
        y_test[:n_embed], ds.classes,
        f"Linear autoencoder against PCA on {ds.name}: the same plane, other axes "
        f"(R² of a linear map between them: {r2:.4f})"),
        "embeddings", caption="The linear autoencoder's code and PCA's two scores")
    fig, axes = plt.subplots(1, 4, figsize=(9.6, 2.9))
    basis = [(V[:, 0], "PCA component 1"), (V[:, 1], "PCA component 2"),
             (B[:, 0], "decoder column 1"), (B[:, 1], "decoder column 2")]
    for ax, (v, name) in zip(axes, basis):
        im = ax.imshow(v.reshape(28, 28) / np.abs(v).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.02)
    fig.suptitle("Bases of the two planes (each image divided by its largest absolute entry; "
                 "red positive, blue negative)", fontsize=10)
    ctx.savefig(fig, "bases", caption="PCA's principal directions and the columns of the "
                "autoencoder's decoder map B: other vectors spanning (nearly) the same plane")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    angles = np.array(angle_history) if angle_history else np.zeros((0, 2))
    for j in range(angles.shape[1]):
        axes[0].semilogy(history["epoch"], np.maximum(angles[:, j], 1e-6), "o-", ms=3,
                         label=f"angle {j + 1}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("principal angle (degrees, log scale)")
    axes[0].set_title("Decoder's plane against PCA's", fontsize=10)
    axes[0].legend(fontsize=9, loc="upper right")
    axes[0].grid(alpha=0.3, which="both")
    axes[1].plot(history["epoch"], history["train_loss"], "o-", ms=3, label="autoencoder: train")
    axes[1].plot(history["epoch"], history["test_loss"], "s--", ms=3, label="autoencoder: test")
    axes[1].axhline(pca["mse"], color="gray", ls=":", label="PCA, two components: test")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("MSE per pixel")
    axes[1].set_title("Reconstruction error", fontsize=10)
    axes[1].legend(fontsize=9, loc="upper right")
    axes[1].grid(alpha=0.3)
    for ax in axes:
        _integer_epochs(ax)
    fig.suptitle(f"Linear autoencoder against PCA on {ds.name}", fontsize=11)
    fig.tight_layout()
    ctx.savefig(fig, "convergence", caption="Principal angles and reconstruction MSE per epoch")

    return {"max_angle_deg": float(decoder_angles.max()),
            "decoder_angles_deg": decoder_angles.tolist(),
            "encoder_angles_deg": encoder_angles.tolist(),
            "encoder_angles_in_span_deg": encoder_angles_in_span.tolist(),
            "span_dim": n_span,
            "test_mse": scores["test_mse"], "pca2_test_mse": pca["mse"],
            "mse_ratio": scores["test_mse"] / pca["mse"], "code_to_pca_r2": float(r2),
            "knn_accuracy": scores["knn_accuracy"], "pca2_knn_accuracy": pca["knn_accuracy"],
            "n_linear_per_half": sum(isinstance(m, torch.nn.Linear) for m in model.encoder),
            "dataset": ds.name, "n_train": len(X_train), "n_test": len(X_test),
            **history_summary(history)}


def narrate_pca_vs_linear(metrics: dict, config: LinearAEConfig) -> Notes:
    angles = (f"{num(metrics, 'decoder_angles_deg.0', '.2f')}° and "
              f"{num(metrics, 'decoder_angles_deg.1', '.2f')}°")
    notes = Notes()
    notes.add("**PCA against a linear autoencoder.** Without nonlinearities the autoencoder "
              f"({num(metrics, 'n_linear_per_half')} Linear layers per half, "
              f"{num(config, 'epochs')} epochs of Adam with {_schedule_text(config)}, on "
              f"{num(metrics, 'n_train')} images of {metrics['dataset']}) is an affine map "
              "x̂ = B(Ax + a) + b whose rank is the code's size. Minimising the squared error "
              "over such maps has the same optimum as PCA: the plane through the mean spanned "
              "by the top principal directions (Eckart–Young).",
              claim(metrics["max_angle_deg"] <= SAME_PLANE_DEG,
                    f"The trained decoder {SAME_PLANE}: the principal angles between the column "
                    f"space of its map B and PCA's plane are **{angles}**,",
                    f"The trained decoder {NOT_YET} in this run: the principal angles "
                    f"between the column space of its map B and PCA's plane are **{angles}**,"),
              f"and its test MSE is **{num(metrics, 'test_mse', '.5f')}** against PCA's "
              f"{num(metrics, 'pca2_test_mse', '.5f')}.")
    notes.add(claim(metrics["code_to_pca_r2"] >= 0.99,
                    "What differs is the basis: the autoencoder's code is PCA's scores after an "
                    "invertible linear map (a linear fit between them explains R² = "
                    f"{num(metrics, 'code_to_pca_r2', '.4f')}), so its axes are neither "
                    "orthogonal nor ordered by variance.",
                    "A linear fit from the autoencoder's code to PCA's scores explains only "
                    f"R² = {num(metrics, 'code_to_pca_r2', '.4f')}: the code has not yet become "
                    "PCA's scores in another basis."),
              "Gradient descent only approaches the plane that PCA computes in closed form "
              "from one eigendecomposition.")
    notes.add(f"The encoder's rows are at {num(metrics, 'encoder_angles_deg.0', '.2f')}° and "
              f"{num(metrics, 'encoder_angles_deg.1', '.2f')}° from PCA's plane. The squared "
              "error weighs the encoder's weights along each direction by the data's variance "
              "there, so along directions of little or no variance (border pixels that are "
              "always 0) nothing pulls them to PCA's values. Within the "
              f"{num(metrics, 'span_dim')} principal directions that hold a fraction "
              f"{num(config, 'variance_span', '.2f')} of the variance they are at "
              f"{num(metrics, 'encoder_angles_in_span_deg.0', '.2f')}° and "
              f"{num(metrics, 'encoder_angles_in_span_deg.1', '.2f')}°.")
    return notes


register("pca-vs-linear-ae", LinearAEConfig,
         description="Autoencoder without nonlinearities against PCA with two components: "
                     "principal angles between the planes, reconstruction errors",
         quick={"epochs": 25, "n_train": 4000, "n_test": 2000},
         smoke={"epochs": 1, "n_train": 256, "n_test": 128, "n_embed": 128},
         needs="mnist", key_metric="max_angle_deg", order=74, narrate=narrate_pca_vs_linear,
         lessons=(
             Lesson("The linear autoencoder's decoder spans PCA's plane: its largest principal "
                    "angle to it, in degrees", "max_angle_deg", "<=", quick=SAME_PLANE_DEG,
                    full=SAME_PLANE_DEG, label="largest principal angle (°)"),
             Lesson("Its reconstruction error is PCA's, within one percent", "mse_ratio", "<=",
                    quick=1.01, full=1.01, label="test MSE / PCA's"),
         ))(measure_pca_vs_linear)


# ---------------------------------------------------------------------------------------------
# corruption-demo


CORRUPTION_FORMULA = r"$C(\tilde{x}\mid x)=\mathcal{N}(\tilde{x};\,x,\,\sigma^{2}I)$"


def parabola_samples(n_points: int, x_low: float, x_high: float,
                     random_state: np.random.RandomState) -> np.ndarray:
    """(n_points, 2) points (x, x²) with x uniform on [x_low, x_high]."""
    x = random_state.uniform(x_low, x_high, size=n_points)
    return np.column_stack([x, x ** 2])


def distance_to_parabola(P: np.ndarray, x_low: float, x_high: float,
                         n_grid: int = 4001) -> np.ndarray:
    """Euclidean distance of each point (N, 2) to the curve y = x² (approximated on a grid)."""
    margin = 0.5 * (x_high - x_low)
    t = np.linspace(x_low - margin, x_high + margin, n_grid)
    curve = np.column_stack([t, t ** 2])  # (G, 2)
    d2 = ((P[:, None, :] - curve[None, :, :]) ** 2).sum(-1)  # (N, G)
    return np.sqrt(d2.min(axis=1))


def measure_corruption(config: CorruptionConfig, ctx) -> dict:
    """corruption-demo: samples of the parabola before and after C(x̃ | x)."""
    import matplotlib.pyplot as plt

    check_config(config)
    rs = np.random.RandomState(ctx.seed)
    X = parabola_samples(config.n_points, config.x_low, config.x_high, rs)  # (N, 2)
    X_tilde = X + config.noise_std * rs.standard_normal(X.shape)  # (N, 2)
    dist_clean = distance_to_parabola(X, config.x_low, config.x_high)
    dist_noisy = distance_to_parabola(X_tilde, config.x_low, config.x_high)
    measured = float(np.std(X_tilde - X))

    t = np.linspace(config.x_low, config.x_high, 200)
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.2), sharex=True, sharey=True)
    axes[0].scatter(X[:, 0], X[:, 1], s=8, color="tab:blue", label="clean samples x")
    axes[0].set_title("clean data: $x_2 = x_1^2$", fontsize=10)
    axes[1].scatter(X_tilde[:, 0], X_tilde[:, 1], s=8, color="tab:orange",
                    label=r"corrupted samples $\tilde{x}$")
    axes[1].set_title(f"corrupted, σ = {config.noise_std:g}", fontsize=10)
    n_arrows = min(config.n_arrows, config.n_points)
    axes[2].scatter(X_tilde[:n_arrows, 0], X_tilde[:n_arrows, 1], s=10, color="tab:orange",
                    label=r"corrupted $\tilde{x}$")
    axes[2].quiver(X_tilde[:n_arrows, 0], X_tilde[:n_arrows, 1],
                   X[:n_arrows, 0] - X_tilde[:n_arrows, 0], X[:n_arrows, 1] - X_tilde[:n_arrows, 1],
                   angles="xy", scale_units="xy", scale=1, width=0.003, color="tab:green",
                   label=r"denoising target $\tilde{x} \to x$")
    axes[2].set_title("what a denoiser learns:\nback to the curve", fontsize=10)
    for ax in axes:
        ax.plot(t, t ** 2, color="gray", lw=1, ls="--", label="$x_2 = x_1^2$")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.grid(alpha=0.3)
    # one legend below the panels: inside, it would cover the points
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"Corruption process {CORRUPTION_FORMULA}, σ = {config.noise_std:g} "
                 f"({config.n_points} points)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    ctx.savefig(fig, "corruption", caption="Samples of y = x² (left), after the corruption "
                f"C(x̃ | x) = N(x̃; x, σ² I) with σ = {config.noise_std:g} (middle), and the "
                "map back from x̃ to x that a denoiser is trained on (right)")
    return {"measured_noise_std": measured,
            "noise_std_relative_error": abs(measured - config.noise_std) / config.noise_std
            if config.noise_std > 0 else 0.0,
            "mean_distance_clean": float(dist_clean.mean()),
            "mean_distance_corrupted": float(dist_noisy.mean()),
            "mean_squared_displacement": float(np.mean(np.sum((X_tilde - X) ** 2, axis=1)))}


def narrate_corruption(metrics: dict, config: CorruptionConfig) -> Notes:
    sigma = num(config, "noise_std", "g")
    return Notes().add(
        f"**Corruption process.** {num(config, 'n_points')} clean points x = (x₁, x₁²) with x₁ "
        f"uniform on [{num(config, 'x_low', 'g')}, {num(config, 'x_high', 'g')}] are corrupted "
        f"by C(x̃ | x) = N(x̃; x, σ² I), that is x̃ = x + ε with ε ~ N(0, σ² I) and σ = {sigma}. "
        f"The measured standard deviation of x̃ − x is "
        f"{num(metrics, 'measured_noise_std', '.4f')} (σ = {sigma}), and the mean squared "
        f"displacement per point {num(metrics, 'mean_squared_displacement', '.4f')}, the sum "
        "of the two coordinates' variances.",
        claim(metrics["mean_distance_corrupted"] > metrics["mean_distance_clean"],
              f"The clean points lie on the curve (mean distance "
              f"{num(metrics, 'mean_distance_clean', '.2g')}); the corrupted ones lie on "
              f"average {num(metrics, 'mean_distance_corrupted', '.4f')} {OFF_CURVE}. A "
              "denoising "
              "autoencoder is trained to map x̃ back to x, so it has to learn where the data "
              "lie (the curve), not the identity.",
              f"The corrupted points lie no further from the curve on average "
              f"({num(metrics, 'mean_distance_corrupted', '.4f')}) than the clean ones "
              f"({num(metrics, 'mean_distance_clean', '.2g')}): at this σ the corruption "
              f"{ON_CURVE}."))


register("corruption-demo", CorruptionConfig,
         description="Samples of y = x² before and after the Gaussian corruption "
                     "C(x̃|x) = N(x̃; x, σ²I)",
         quick={}, smoke={"n_points": 100}, needs=None, key_metric="measured_noise_std",
         order=75, narrate=narrate_corruption,
         lessons=(
             Lesson("The corruption adds noise of the stated σ: relative error of the measured "
                    "standard deviation", "noise_std_relative_error", "<=", quick=0.1,
                    full=0.1, label="|measured σ − σ| / σ"),
         ))(measure_corruption)
