"""MNIST study: the data, a CNN that must beat the SVC and what it learned, why depth needs ReLU.

Three registered experiments on the digit-style sets (``--dataset mnist | mnist-5k |
fashion-mnist``):

* ``mnist-samples``: one random image per class, labelled;
* ``mnist-cnn``: a small CNN trained with the shared loop, compared with the RBF SVC on the
  same test set, with its learning curves, summary, mistakes, confusion matrix, feature maps
  and first-layer filters;
* ``depth-sweep``: the course's MLP with 1-3 hidden layers, sigmoid against ReLU, with the
  per-layer gradient norms that show the vanishing gradient, and remedies compared.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.plots import (
    confusion_counts,
    confusion_figure,
    image_grid_figure,
    learning_curves_figure,
    most_confused_pairs,
)
from stridelab.experiments.registry import register

# ---------------------------------------------------------------------------------------------
# shared helpers


def _pixels(X: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(X)).float().div_(255.0).unsqueeze(1)


def _take(n: int, available: int) -> int:
    """``n`` images, where 0 (or more than there are) means all of them."""
    return available if n <= 0 else min(n, available)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------------------------
# mnist-samples


@dataclass
class SamplesConfig:
    split: Literal["train", "test"] = "train"  # which split the samples are drawn from


@register("mnist-samples", SamplesConfig,
          description="One random image per class, labelled, and the class balance",
          quick={}, smoke={}, needs="mnist", key_metric="n_classes", order=20)
def run_samples(config: SamplesConfig, ctx) -> dict:
    ds = ctx.load_dataset(family="mnist")
    X = ds.X_train if config.split == "train" else ds.X_test
    y = ds.y_train if config.split == "train" else ds.y_test
    rng = np.random.default_rng(ctx.seed)
    picks = [int(rng.choice(np.flatnonzero(y == k))) for k in range(ds.n_classes)
             if np.any(y == k)]
    titles = [f"{ds.classes[y[i]]} (label {y[i]})\n{config.split} #{i}" for i in picks]
    fig = image_grid_figure([X[i] for i in picks], titles,
                            f"{ds.name}: one random {config.split} image per class "
                            "(grey level 0-255)", ncols=5, colorbar=True, vmin=0, vmax=255)
    ctx.savefig(fig, "samples", caption=f"One randomly chosen {config.split} image per class "
                "with its label")

    plt = _plt()
    train_counts = np.bincount(ds.y_train, minlength=ds.n_classes)
    test_counts = np.bincount(ds.y_test, minlength=ds.n_classes)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    pos = np.arange(ds.n_classes)
    ax.bar(pos - 0.2, train_counts, width=0.4, label=f"train ({train_counts.sum()})")
    ax.bar(pos + 0.2, test_counts, width=0.4, label=f"test ({test_counts.sum()})")
    ax.set_xticks(pos, ds.classes, rotation=30 if len(ds.classes[0]) > 2 else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(f"{ds.name}: images per class")
    ax.legend()
    fig.tight_layout()
    ctx.savefig(fig, "class_counts", caption="Images per class in each split")

    pixels = ds.X_train.astype(np.float64) / 255.0
    ctx.log("samples: " + ", ".join(f"{ds.classes[y[i]]}=#{i}" for i in picks))
    ctx.note(f"{ds.name} holds {len(ds.y_train):,} training and {len(ds.y_test):,} test images "
             f"of {ds.image_shape[0]}×{ds.image_shape[1]} grey pixels in {ds.n_classes} "
             f"classes ({train_counts.min()}–{train_counts.max()} training images per class). "
             f"Pixels scaled to [0, 1] have mean {pixels.mean():.4f} and standard deviation "
             f"{pixels.std():.4f}: most of each image is background.")
    return {"dataset": ds.name, "split": config.split, "n_classes": ds.n_classes,
            "indices": picks, "labels": [int(y[i]) for i in picks],
            "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
            "train_counts": train_counts, "test_counts": test_counts,
            "pixel_mean": float(pixels.mean()), "pixel_std": float(pixels.std())}


# ---------------------------------------------------------------------------------------------
# mnist-cnn: configuration, augmentation, the SVC to beat

# Test accuracy the issue asks of the full configuration, per data set.
CNN_TARGETS = {"mnist": 0.994, "fashion-mnist": 0.93, "mnist-5k": 0.975}


@dataclass
class CNNConfig:
    n_train: int = 0  # training images used, the first n (0: all)
    n_test: int = 0  # test images used, the first n (0: all)
    channels: tuple[int, ...] = (32, 64)  # filters of the convolutions in each block
    convs_per_block: int = 2  # 3×3 convolutions (+ BatchNorm + ReLU) per block
    hidden: int = 128  # units of the dense hidden layer
    dropout: float = 0.3  # dropout rate before the output layer
    epochs: int = 20  # passes over the training images
    batch_size: int = 64  # images per step
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 5e-4  # AdamW's decoupled weight decay
    shift: float = 2.0  # random translation of training images, up to this many pixels
    rotate: float = 10.0  # random rotation of training images, up to this many degrees
    svc_n_train: int = 2000  # SVC training images when no svc-baseline run is found
    n_maps: int = 5  # filters shown per conv layer in the feature-map figure


def random_affine(x: torch.Tensor, shift: float, rotate: float) -> torch.Tensor:
    """Shift each image by up to ``shift`` pixels and rotate it by up to ``rotate`` degrees.

    x: (N, C, H, W) on any device, background 0 (the pixels brought in are 0). Uses the
    global torch RNG, which the runner seeds.
    """
    if shift <= 0 and rotate <= 0:
        return x
    n, _, h, w = x.shape
    angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(rotate)  # (N,)
    shift_xy = (torch.rand(n, 2, device=x.device) * 2 - 1) * shift  # (N, 2) pixels
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, 2 * shift_xy[:, 0] / w], dim=1),
                         torch.stack([sin, cos, 2 * shift_xy[:, 1] / h], dim=1)], dim=1)
    grid = nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                     align_corners=False)  # (N, C, H, W)


def find_svc_run(runs_root: Path, dataset: str, n_test: int) -> dict | None:
    """The newest successful svc-baseline run under ``runs_root`` on the same test set.

    Returns its metrics with ``run`` (the directory name) added, or None.
    """
    found = []
    for run_dir in Path(runs_root).glob("svc-baseline*"):
        try:
            status = json.loads((run_dir / "status.json").read_text())
            metrics = json.loads((run_dir / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
        if status.get("status") != "ok" or metrics.get("dataset") != dataset \
                or metrics.get("n_test") != n_test or "test_accuracy" not in metrics:
            continue
        found.append(((run_dir / "metrics.json").stat().st_mtime, run_dir.name, metrics))
    if not found:
        return None
    _, name, metrics = max(found, key=lambda t: t[0])
    return {**metrics, "run": name}


def _svc_accuracy(ctx, ds, n_test: int, n_train: int) -> tuple[float, str]:
    """(accuracy, where it came from): an svc-baseline run on the same test set, or a new fit."""
    found = find_svc_run(ctx.out.parent, ds.name, n_test)
    if found is not None:
        return float(found["test_accuracy"]), (f"svc-baseline run {found['run']} "
                                              f"({found.get('n_train', '?')} training images)")
    from stridelab.experiments.svc import SVCConfig, fit_svc

    n_train = _take(n_train, len(ds.y_train))
    ctx.log(f"no svc-baseline run on {ds.name} with {n_test} test images in "
            f"{ctx.out.parent}; fitting the RBF SVC on {n_train} images")
    result = fit_svc(ds.X_train[:n_train], ds.y_train[:n_train], ds.X_test[:n_test],
                     ds.y_test[:n_test], SVCConfig(n_train=n_train))
    return result["test_accuracy"], f"RBF SVC fitted here on {n_train} training images"


# ---------------------------------------------------------------------------------------------
# mnist-cnn: figures of what the network learned


def _misclassified_figure(X, y, y_hat, proba, classes, rng, title: str, n: int = 10):
    wrong = np.flatnonzero(y_hat != y)
    chosen = np.sort(rng.choice(wrong, size=min(n, len(wrong)), replace=False)) \
        if len(wrong) else wrong
    titles = [f"#{i}: true {classes[y[i]]}\npred {classes[y_hat[i]]} "
              f"(p={proba[i, y_hat[i]]:.2f})" for i in chosen]
    return image_grid_figure([X[i] for i in chosen], titles, title, ncols=5), chosen


def _feature_maps(model, conv: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The output of ``conv`` for one input x (1, C, H, W): (F, H', W')."""
    captured = {}
    handle = conv.register_forward_hook(lambda m, i, o: captured.setdefault("out", o.detach()))
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return captured["out"][0].float().cpu().numpy()


def _feature_map_figure(image, maps: dict[str, np.ndarray], n_maps: int, title: str):
    """Rows: one conv layer each; columns: the input, then its ``n_maps`` most active filters."""
    plt = _plt()
    fig, axes = plt.subplots(len(maps), n_maps + 1, figsize=(2.5 * (n_maps + 1),
                                                             2.5 * len(maps)), squeeze=False)
    shown = {}
    for row, (name, fmap) in enumerate(maps.items()):
        ax = axes[row, 0]
        im = ax.imshow(image, cmap="gray")
        ax.set_title("input", fontsize=9)
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel(f"{name}\ny (pixel)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        strongest = np.argsort(-np.abs(fmap).mean(axis=(1, 2)))[:n_maps]  # (n_maps,)
        shown[name] = [int(k) for k in strongest]
        for col, k in enumerate(strongest, start=1):
            ax = axes[row, col]
            lim = float(np.abs(fmap[k]).max()) or 1.0
            im = ax.imshow(fmap[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"filter {k} ({fmap.shape[1]}×{fmap.shape[2]})", fontsize=9)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            ax.tick_params(labelsize=6)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        for col in range(len(strongest) + 1, n_maps + 1):
            axes[row, col].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig, shown


def _logits_note(proba: np.ndarray, y_hat: np.ndarray, y: np.ndarray) -> str:
    """Why the network ends in logits, with numbers: float32 softmax underflows, log-softmax not."""
    z = torch.tensor([[0.0, 110.0]])  # (1, 2) logits with a large gap
    naive = torch.log(torch.softmax(z, dim=1))[0, 0].item()  # log(exp(-110)) underflows
    stable = torch.log_softmax(z, dim=1)[0, 0].item()
    right, wrong = y_hat == y, y_hat != y
    conf = proba.max(axis=1)
    conf_wrong = f"{conf[wrong].mean():.3f}" if wrong.any() else "n/a (no mistakes)"
    return (
        "**Final layer: logits, not softmax.** The output layer is linear and the model returns "
        "the 10 logits z; `nn.CrossEntropyLoss` computes −log softmax(z)_y = −z_y + "
        "log Σ_j exp(z_j) with the log-sum-exp shift (subtracting max z), which never "
        "overflows or underflows. A softmax layer followed by a separate log would: in float32, "
        f"for logits (0, 110) log(softmax) of the first class gives {naive} while log-softmax "
        f"gives {stable:.1f}, so the loss and its gradient (softmax(z) − onehot(y), computed "
        "directly from the logits) stay finite. Softmax is applied only to read probabilities: "
        f"the mean top probability is {conf[right].mean():.3f} on correctly classified test "
        f"images and {conf_wrong} on the misclassified ones.")


# ---------------------------------------------------------------------------------------------
# mnist-cnn


@register("mnist-cnn", CNNConfig,
          description="A small CNN (BatchNorm, augmentation, one-cycle AdamW) that must beat "
                      "the RBF SVC, and what it learned",
          quick={"n_train": 2000, "epochs": 6, "channels": (16, 32), "svc_n_train": 1000},
          smoke={"n_train": 128, "n_test": 64, "epochs": 1, "channels": (4, 8),
                 "hidden": 16, "svc_n_train": 100, "n_maps": 2},
          needs="mnist", order=30)
def run_cnn(config: CNNConfig, ctx) -> dict:
    from stridelab.torch.loop import fit, history_summary, make_loader, predict
    from stridelab.torch.models.classifiers import MnistCNN
    from stridelab.torch.summary import summarize

    for field_name in ("epochs", "batch_size"):
        if getattr(config, field_name) < 1:
            raise ConfigError(f"--set {field_name}: must be at least 1")
    if config.lr <= 0:
        raise ConfigError(f"--set lr={config.lr}: the learning rate must be positive")
    ds = ctx.load_dataset(family="mnist")
    if ds.X_train.ndim != 3:
        raise ConfigError(f"mnist-cnn needs grey 28×28 images; {ds.name} has shape "
                          f"{ds.image_shape}; use --dataset mnist, mnist-5k or fashion-mnist")
    n_train, n_test = _take(config.n_train, len(ds.y_train)), _take(config.n_test, len(ds.y_test))
    X_train, y_train = _pixels(ds.X_train[:n_train]), torch.from_numpy(ds.y_train[:n_train])
    X_test, y_test = _pixels(ds.X_test[:n_test]), torch.from_numpy(ds.y_test[:n_test])
    train_loader = make_loader(X_train, y_train, config.batch_size, shuffle=True, seed=ctx.seed)
    test_loader = make_loader(X_test, y_test, 512)

    # -- the network and its summary ------------------------------------------------------
    model = MnistCNN(config.channels, convs_per_block=config.convs_per_block,
                     hidden=config.hidden, dropout=config.dropout,
                     image_size=ds.image_shape[0], n_classes=ds.n_classes)
    summary = summarize(model, (1, *ds.image_shape))
    ctx.log("model summary:\n" + str(summary))
    ctx.write_text("model_summary.md", summary.to_markdown() + "\n")
    ctx.write_json("model_summary.json", summary.as_dict())

    # -- training ---------------------------------------------------------------------------
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=len(train_loader))
    augment = (lambda x: random_affine(x, config.shift, config.rotate)) \
        if config.shift > 0 or config.rotate > 0 else None
    ctx.log(f"training {summary.total_params:,} parameters on {n_train} images for "
            f"{config.epochs} epochs (device {ctx.device})")
    history = fit(model, train_loader, test_loader, optimizer=optimizer,
                  loss_fn=nn.CrossEntropyLoss(), num_epochs=config.epochs, device=ctx.device,
                  ctx=ctx, scheduler=scheduler, scheduler_per="step", input_transform=augment)
    ctx.write_json("history.json", history)
    ctx.save_torch(model.state_dict(), "model.pt")
    stats = history_summary(history)
    ctx.savefig(learning_curves_figure(history, f"CNN on {ds.name}: loss and accuracy per "
                                                "epoch (train with augmentation)"),
                "learning_curves", caption="Loss and accuracy on the training and test images "
                "per epoch")

    # -- evaluation -------------------------------------------------------------------------
    logits = predict(model, X_test, device=ctx.device)  # (N, n_classes)
    proba = torch.softmax(logits, dim=1).numpy()
    y_hat = logits.argmax(dim=1).numpy()
    y_true = y_test.numpy()
    accuracy = float(np.mean(y_hat == y_true))
    svc_accuracy, svc_source = _svc_accuracy(ctx, ds, n_test, config.svc_n_train)
    beats_svc = accuracy > svc_accuracy
    ctx.log(f"CNN test accuracy {accuracy:.4f} vs SVC {svc_accuracy:.4f} ({svc_source}): "
            f"beats_svc={beats_svc}")

    rng = np.random.default_rng(ctx.seed)
    X_show = ds.X_test[:n_test]
    fig, wrong_shown = _misclassified_figure(
        X_show, y_true, y_hat, proba, ds.classes, rng,
        f"CNN on {ds.name}: misclassified test images ({int(np.sum(y_hat != y_true))} of "
        f"{n_test})")
    ctx.savefig(fig, "misclassified", caption="Misclassified test images with the true and "
                "predicted class and the predicted probability")
    cm = confusion_counts(y_true, y_hat, ds.n_classes)
    pairs = most_confused_pairs(cm, ds.classes)
    ctx.savefig(confusion_figure(cm, ds.classes, f"CNN on {ds.name}: confusion matrix "
                                                 f"(test accuracy {accuracy:.4f})"),
                "confusion_matrix", caption="Confusion matrix, counts and row-normalised")

    # -- what it learned ----------------------------------------------------------------------
    convs = model.conv_layers()
    sample = int(rng.integers(n_test))
    x = X_test[sample:sample + 1].to(next(model.parameters()).device)  # (1, 1, H, W)
    maps = {"first conv": _feature_maps(model, convs[0], x),
            "last conv": _feature_maps(model, convs[-1], x)}
    fig, maps_shown = _feature_map_figure(
        X_show[sample], maps, config.n_maps,
        f"Feature maps for test image #{sample} (true {ds.classes[y_true[sample]]}, "
        f"predicted {ds.classes[y_hat[sample]]}): the most active filters")
    ctx.savefig(fig, "feature_maps", caption="Outputs of the most active filters of the first "
                "and the last convolution for one random test image")
    W1 = convs[0].weight.detach().float().cpu().numpy()[:, 0]  # (F, KH, KW)
    lim = float(np.abs(W1).max())
    ctx.savefig(image_grid_figure(list(W1), [f"filter {k}" for k in range(len(W1))],
                                  f"First-layer filters ({W1.shape[1]}×{W1.shape[2]}; "
                                  "colour = weight)", ncols=8, cmap="RdBu_r", colorbar=True,
                                  vmin=-lim, vmax=lim),
                "first_layer_filters", caption="The learned 3×3 filters of the first "
                "convolution")

    # -- notes for the report ---------------------------------------------------------------
    n_params = summary.total_params
    first = summary.layers[0]
    first_out = int(np.prod(first.output_shape))
    dense_equiv = first_out * (int(np.prod(summary.input_shape)) + 1)
    target = CNN_TARGETS.get(ds.name)
    ctx.note(
        f"The CNN ({n_params:,} parameters, channels {tuple(config.channels)}) reaches "
        f"**{accuracy:.4f}** test accuracy on {ds.name} ({n_test} test images, {n_train} "
        f"training images, {config.epochs} epochs of {stats.get('epoch_time_s', 0):.2f} s "
        f"median on {ctx.device}); the RBF SVC reaches {svc_accuracy:.4f} on the same test "
        f"images ({svc_source}): beats_svc = **{str(beats_svc).lower()}**."
        + (f" The target for {ds.name} (full configuration) is {target}"
           + ("." if ctx.quick else f": {'met' if accuracy >= target else 'not met'}.")
           if target is not None else ""))
    ctx.note(
        "**Why a CNN rather than an SVC or MLP on pixels.** The SVC and an MLP treat an image as "
        f"a vector of {int(np.prod(summary.input_shape))} unrelated numbers: shifting a digit "
        "by two pixels moves that vector far away, and nothing tells them that neighbouring "
        "pixels belong together. A convolution looks at small neighbourhoods (locality) with "
        "the same filter everywhere (weight sharing), so what it learns about a stroke in one "
        "place holds in every place (translation equivariance; pooling adds tolerance to small "
        f"shifts). The first layer here produces {first_out:,} outputs "
        f"{first.output_shape} from {first.n_params} weights ({first.formula}); a dense layer "
        f"producing as many outputs from the {int(np.prod(summary.input_shape))} pixels would "
        f"need {dense_equiv:,} parameters.")
    ctx.note("**Model summary** (output shapes without the batch axis):\n\n"
             + summary.to_markdown())
    ctx.note(_logits_note(proba, y_hat, y_true))
    if pairs:
        listed = "; ".join(f"{p['true']} → {p['predicted']}: {p['count']} "
                           f"({100 * p['fraction_of_true']:.1f}% of {p['true']})" for p in pairs)
        ctx.note(f"Most-confused pairs (true → predicted): {listed}.")
    ctx.note("The feature maps show what the filters respond to: first-layer filters are "
             "oriented edge and stroke detectors (compare the Sobel filters of "
             "`fixed-filters`), while the last convolution's maps, "
             f"{maps['last conv'].shape[1]}×{maps['last conv'].shape[2]} after pooling, "
             "respond to larger parts of the digit.")

    metrics = {"test_accuracy": accuracy, "svc_accuracy": svc_accuracy, "svc_source": svc_source,
               "beats_svc": beats_svc, "dataset": ds.name, "n_train": n_train, "n_test": n_test,
               "epochs": config.epochs, "n_params": n_params, **stats,
               "total_train_time_s": float(np.sum(history["epoch_time"])),
               "confusion_matrix": cm, "most_confused": pairs,
               "misclassified_shown": wrong_shown, "feature_map_sample": sample,
               "feature_maps_shown": maps_shown}
    if target is not None and not ctx.quick:
        metrics.update(target=target, target_met=accuracy >= target)
    return metrics


# ---------------------------------------------------------------------------------------------
# depth-sweep: why depth needs ReLU

# Remedies for the vanishing gradient, applied to the deepest network:
# name -> (activation, batch_norm, init, optimizer)
REMEDIES = {
    "batchnorm": ("sigmoid", True, "default", "sgd"),  # re-centres z where σ' is largest
    "adam": ("sigmoid", False, "default", "adam"),  # per-weight step sizes undo the shrinking
    "xavier": ("sigmoid", False, "xavier", "sgd"),  # Glorot: variance kept through layers
    "he": ("relu", False, "he", "sgd"),  # He: variance 2/fan_in for ReLU
}


@dataclass
class DepthConfig:
    n_train: int = 0  # training images used, the first n (0: all)
    n_test: int = 0  # test images used, the first n (0: all)
    depths: tuple[int, ...] = (1, 2, 3)  # numbers of hidden layers compared
    activations: tuple[str, ...] = ("sigmoid", "relu")  # hidden activations compared
    remedies: tuple[str, ...] = ("batchnorm", "adam", "he")  # on the deepest net (see REMEDIES)
    width: int = 512  # units per hidden layer
    dropout: float = 0.2  # dropout after each hidden activation
    epochs: int = 10  # passes over the training images
    batch_size: int = 128  # images per step
    lr: float = 0.01  # plain SGD learning rate (no momentum)
    adam_lr: float = 1e-3  # Adam's learning rate, for the "adam" remedy


@dataclass
class _Variant:
    label: str  # e.g. "sigmoid, 3 hidden" or "sigmoid + batchnorm"
    depth: int
    activation: str
    batch_norm: bool = False
    init: str = "default"
    optimizer: str = "sgd"
    remedy: str | None = None


def _variants(config: DepthConfig) -> list[_Variant]:
    unknown = sorted(set(config.remedies) - set(REMEDIES))
    if unknown:
        raise ConfigError(f"--set remedies: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(REMEDIES)}")
    if not config.depths or min(config.depths) < 1:
        raise ConfigError(f"--set depths: need hidden-layer counts >= 1, got {config.depths}")
    variants = [_Variant(f"{a}, {d} hidden", d, a) for a in config.activations
                for d in config.depths]
    deepest = max(config.depths)
    for name in config.remedies:
        activation, batch_norm, init, optimizer = REMEDIES[name]
        variants.append(_Variant(f"{activation} + {name}, {deepest} hidden", deepest,
                                 activation, batch_norm, init, optimizer, name))
    return variants


class GradNormRecorder:
    """A ``grad_hook`` for :func:`stridelab.torch.loop.fit`: the Frobenius norm of each dense
    layer's weight gradient, ‖∂L/∂W_l‖, after every backward pass."""

    def __init__(self, layers: list[nn.Linear]):
        self.layers = layers
        self.norms: list[torch.Tensor] = []  # one (L,) tensor per step

    def __call__(self, model: nn.Module) -> None:
        with torch.no_grad():
            self.norms.append(torch.stack([m.weight.grad.norm() for m in self.layers]).cpu())

    def array(self) -> np.ndarray:
        """(n_steps, n_layers) gradient norms, first dense layer first, output layer last."""
        if not self.norms:
            return np.zeros((0, len(self.layers)))
        return torch.stack(self.norms).double().numpy()


@torch.no_grad()
def activation_slopes(model: nn.Module, X: torch.Tensor, device) -> list[float]:
    """Mean derivative of each hidden activation over the images X, in eval mode.

    Sigmoid: mean σ'(z) = mean σ(z)(1 − σ(z)) (at most 0.25); ReLU: the fraction of z > 0
    (its derivative is 1 there and 0 elsewhere).
    """
    slopes: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Sigmoid):
            slopes.append((output * (1 - output)).mean())
        elif isinstance(module, nn.ReLU):
            slopes.append((output > 0).float().mean())
        elif isinstance(module, nn.Tanh):
            slopes.append((1 - output ** 2).mean())

    acts = [m for m in model.modules() if isinstance(m, (nn.Sigmoid, nn.ReLU, nn.Tanh))]
    handles = [m.register_forward_hook(hook) for m in acts]
    try:
        model.eval()
        model(X.to(device))
    finally:
        for h in handles:
            h.remove()
    return [float(s) for s in slopes]


def _depth_figures(ctx, config: DepthConfig, results: dict[str, dict], ds_name: str) -> None:
    plt = _plt()
    colours = {a: f"C{i}" for i, a in enumerate(dict.fromkeys(
        [r["activation"] for r in results.values() if r["remedy"] is None]))}
    remedies = [r for r in results.values() if r["remedy"] is not None]
    deepest = max(config.depths)
    panels = [(f"{d} hidden layer{'s' if d > 1 else ''}",
               [r for r in results.values() if r["remedy"] is None and r["depth"] == d])
              for d in config.depths]
    if remedies:
        base = [r for r in results.values()
                if r["remedy"] is None and r["depth"] == deepest and r["activation"] == "sigmoid"]
        panels.append((f"remedies, {deepest} hidden layers", base + remedies))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), sharey=True,
                             squeeze=False)
    for p, (ax, (title, runs)) in enumerate(zip(axes[0], panels)):
        remedy_panel = p == len(config.depths)
        for i, r in enumerate(runs):
            colour = f"C{i + len(colours)}" if remedy_panel else colours[r["activation"]]
            epochs = r["history"]["epoch"]
            ax.plot(epochs, r["history"]["train_accuracy"], "o-", ms=3, color=colour,
                    label=f"{r['label']} train")
            ax.plot(epochs, r["history"]["test_accuracy"], "s--", ms=3, color=colour,
                    label=f"{r['label']} test")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("accuracy")
    fig.suptitle(f"MLP on {ds_name}: accuracy per epoch (solid train, dashed test; "
                 f"plain SGD lr {config.lr} unless noted)")
    fig.tight_layout()
    ctx.savefig(fig, "accuracy_curves", caption="Training and test accuracy per epoch for "
                "each depth and activation, and the remedies on the deepest network")

    runs = list(results.values())
    ncols = max(len(config.depths), len(remedies), 1)
    nrows = len(config.activations) + (1 if remedies else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), sharey=True,
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r in runs:
        if r["remedy"] is None:
            row = list(config.activations).index(r["activation"])
            col = list(config.depths).index(r["depth"])
        else:
            row, col = nrows - 1, remedies.index(r)
        ax = axes[row, col]
        ax.axis("on")
        g = np.asarray(r["grad_norms"])  # (steps, L)
        n_layers = g.shape[1]
        for layer in range(n_layers):
            name = "output" if layer == n_layers - 1 else f"hidden {layer + 1}"
            ax.plot(np.arange(1, len(g) + 1), g[:, layer], lw=0.8, label=name)
        ax.set_yscale("log")
        ax.set_title(r["label"], fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("‖∂L/∂W‖ (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="dense layer", title_fontsize=7)
    fig.suptitle(f"MLP on {ds_name}: gradient norm of each layer's weights per step")
    fig.tight_layout()
    ctx.savefig(fig, "gradient_norms", caption="Per-layer weight-gradient norms during "
                "training: with sigmoid the first layers receive far smaller gradients")

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in runs:
        if r["depth"] != deepest:
            continue
        profile = r["grad_norm_first_epoch"]
        ax.plot(range(1, len(profile) + 1), profile, "o-", label=r["label"])
    ax.set_yscale("log")
    ax.set_xticks(range(1, deepest + 2), [f"hidden {i}" for i in range(1, deepest + 1)]
                  + ["output"])
    ax.set_xlabel("dense layer (input side → output side)")
    ax.set_ylabel("mean ‖∂L/∂W‖ in epoch 1 (log scale)")
    ax.set_title(f"Gradient norm per layer, {deepest} hidden layers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.savefig(fig, "gradient_profile", caption="Mean gradient norm per layer over the first "
                "epoch for the deepest networks")


@register("depth-sweep", DepthConfig,
          description="The course's MLP with 1-3 hidden layers, sigmoid vs ReLU: accuracy, "
                      "per-layer gradient norms (vanishing gradient) and remedies",
          quick={"n_train": 2000, "n_test": 1000, "epochs": 3, "remedies": ("batchnorm", "adam")},
          smoke={"n_train": 256, "n_test": 128, "epochs": 1, "width": 32, "depths": (1, 2),
                 "remedies": ("adam",)},
          needs="mnist", key_metric="sigmoid_grad_ratio", order=40)
def run_depth(config: DepthConfig, ctx) -> dict:
    from stridelab.torch.loop import fit, make_loader
    from stridelab.torch.models.classifiers import MLP

    variants = _variants(config)
    ds = ctx.load_dataset(family="mnist")
    n_train, n_test = _take(config.n_train, len(ds.y_train)), _take(config.n_test, len(ds.y_test))
    X_train, y_train = _pixels(ds.X_train[:n_train]), torch.from_numpy(ds.y_train[:n_train])
    X_test, y_test = _pixels(ds.X_test[:n_test]), torch.from_numpy(ds.y_test[:n_test])
    in_features = int(np.prod(ds.image_shape))
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    results: dict[str, dict] = {}
    for v in variants:
        torch.manual_seed(ctx.seed)  # every variant starts from the same random state
        model = MLP(v.depth, config.width, v.activation, config.dropout, batch_norm=v.batch_norm,
                    init=v.init, in_features=in_features, n_classes=ds.n_classes)
        if v.optimizer == "adam":
            optimizer = torch.optim.Adam(model.parameters(), lr=config.adam_lr)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
        slopes_init = activation_slopes(model, X_test[:1000], "cpu")
        recorder = GradNormRecorder(model.linear_layers())
        t0 = time.perf_counter()
        history = fit(model, make_loader(X_train, y_train, config.batch_size, shuffle=True,
                                         seed=ctx.seed),
                      make_loader(X_test, y_test, 1000), optimizer=optimizer,
                      loss_fn=nn.CrossEntropyLoss(), num_epochs=config.epochs,
                      device=ctx.device, grad_hook=recorder)
        seconds = time.perf_counter() - t0
        g = recorder.array()  # (steps, L)
        first_epoch = g[:steps_per_epoch].mean(axis=0)
        slopes_end = activation_slopes(model, X_test[:1000], ctx.device)
        results[v.label] = {
            "label": v.label, "depth": v.depth, "activation": v.activation, "remedy": v.remedy,
            "optimizer": v.optimizer, "batch_norm": v.batch_norm, "init": v.init,
            "history": history, "grad_norms": g,
            "test_accuracy": history["test_accuracy"][-1],
            "train_accuracy": history["train_accuracy"][-1],
            "grad_norm_first_epoch": first_epoch, "grad_norm_mean": g.mean(axis=0),
            "first_last_ratio": float(first_epoch[0] / first_epoch[-1]),
            "activation_slope_init": slopes_init, "activation_slope_end": slopes_end,
            "seconds": seconds}
        ctx.log(f"{v.label:<30} test acc {history['test_accuracy'][-1]:.4f}  grad norm per layer "
                f"(epoch 1) {np.array2string(first_epoch, precision=4)}  first/output "
                f"{first_epoch[0] / first_epoch[-1]:.4f}  mean slope "
                f"{[round(s, 3) for s in slopes_init]} ({seconds:.1f}s)")
    ctx.write_json("results.json", results)
    _depth_figures(ctx, config, results, ds.name)

    # -- the explanation, in numbers --------------------------------------------------------
    deepest = max(config.depths)
    sig = results.get(f"sigmoid, {deepest} hidden")
    relu = results.get(f"relu, {deepest} hidden")
    metrics: dict = {"dataset": ds.name, "n_train": n_train, "n_test": n_test,
                     "epochs": config.epochs, "sigma_prime_max": 0.25,
                     "runs": {k: {kk: vv for kk, vv in r.items()
                                  if kk not in ("history", "grad_norms")}
                              for k, r in results.items()}}
    metrics["test_accuracy"] = {k: r["test_accuracy"] for k, r in results.items()}
    ctx.note(
        "**The vanishing gradient, in numbers.** Backpropagation multiplies the error signal "
        "by diag(f′(z))·Wᵀ once per layer. For the sigmoid σ′(z) = σ(z)(1 − σ(z)) ≤ 0.25 "
        "(its maximum, at z = 0), so every sigmoid layer shrinks the signal by at least a "
        "factor 4 unless the weights grow to compensate; ReLU's derivative is exactly 1 for "
        "every active unit.")
    if sig is not None:
        metrics["sigmoid_grad_ratio"] = sig["first_last_ratio"]
        text = (f"Measured with {deepest} hidden layers of {config.width} units: the mean "
                f"σ′(z) of the hidden layers at initialisation is "
                f"{', '.join(f'{s:.3f}' for s in sig['activation_slope_init'])} (input side "
                f"first), and in the first epoch the first layer's weight gradient is "
                f"{sig['first_last_ratio']:.4f} times the output layer's")
        if relu is not None:
            metrics["relu_grad_ratio"] = relu["first_last_ratio"]
            per_layer = np.asarray(sig["grad_norm_first_epoch"]) / np.asarray(
                relu["grad_norm_first_epoch"])
            metrics["sigmoid_over_relu_per_layer"] = per_layer
            text += (f", against {relu['first_last_ratio']:.4f} with ReLU (the same shapes; "
                     f"{relu['first_last_ratio'] / sig['first_last_ratio']:.1f}× larger). "
                     "Layer by layer the sigmoid network's gradients are "
                     f"{', '.join(f'{x:.3g}' for x in per_layer)} times the ReLU network's "
                     f"(hidden 1 … output); {100 * np.mean(relu['activation_slope_init']):.0f}% "
                     "of ReLU units are active (slope 1)")
        text += (f". After {config.epochs} epochs of plain SGD (lr {config.lr}) the test "
                 "accuracies are: " + "; ".join(f"{k} {r['test_accuracy']:.4f}"
                                                for k, r in results.items()
                                                if r["remedy"] is None) + ".")
        ctx.note(text)
    remedied = [r for r in results.values() if r["remedy"] is not None]
    if remedied:
        ctx.note("**Remedies** on the deepest network: " + "; ".join(
            f"{r['label']} ({'Adam lr ' + str(config.adam_lr) if r['optimizer'] == 'adam' else 'SGD'}): "
            f"test accuracy {r['test_accuracy']:.4f}, first/output gradient ratio "
            f"{r['first_last_ratio']:.4f}" for r in remedied)
            + ". Batch normalisation keeps each layer's z near zero with unit spread, where "
              "σ′ is largest; Adam divides each weight's step by the running size of its own "
              "gradient, so small gradients still give full-size steps; He initialisation "
              "(variance 2/fan_in) keeps the signal's variance constant through ReLU layers.")
    he = next((r for r in remedied if r["remedy"] == "he"), None)
    if he is not None and relu is not None:
        # PyTorch's default U(±1/√fan_in) has variance 1/(3·fan_in); a ReLU passes half the
        # second moment, so each layer scales it by fan_in · 1/(3·fan_in) · 1/2 = 1/6.
        ctx.note(
            "ReLU alone does not make depth free: with PyTorch's default initialisation "
            "(weights uniform in ±1/√fan_in, variance 1/(3·fan_in)) each ReLU layer multiplies "
            "the signal's second moment by fan_in · 1/(3·fan_in) · 1/2 = 1/6, forward and "
            f"backward, so the {deepest}-hidden-layer ReLU network's first-layer gradient in "
            f"epoch 1 is {relu['grad_norm_first_epoch'][0]:.4f} and it reaches "
            f"{relu['test_accuracy']:.4f}; with He initialisation (2/fan_in, factor "
            f"fan_in · 2/fan_in · 1/2 = 1) the same network's first-layer gradient is "
            f"{he['grad_norm_first_epoch'][0]:.4f} and it reaches {he['test_accuracy']:.4f}.")
    return metrics
