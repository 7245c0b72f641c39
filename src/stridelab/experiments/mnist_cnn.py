"""mnist-cnn: a small CNN that must beat the RBF SVC, and what it learned.

TU Wien 4.2.2-4.2.5 (and Yale 4.2): a network with at least two convolutional layers that
outperforms the SVC of ``svc-baseline`` on the same test images; its learning curves, its
summary with every parameter count worked out, the activation of its last layer, ten
misclassified test images, the confusion matrix, feature-map heatmaps of the first and the last
convolution for one random test image, and the learned first-layer filters.

The SVC's accuracy comes from a finished ``svc-baseline`` run (``ctx.dependency``): the one
named by ``--set svc_run=DIR``, else the newest one made here in the same mode on the same
data, else one run now. The CNN is scored on the SVC's own test images as well as on its own.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import math
import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from stridelab.experiments.narrate import Lesson, Notes, compare, num
from stridelab.experiments.plots import (
    confusion_counts,
    confusion_figure,
    confusion_summary,
    confusion_text,
    image_grid_figure,
    integer_ticks,
    learning_curves_figure,
    most_confused_pairs,
    subsample,
    take,
    to_float,
)
from stridelab.experiments.registry import bounded, register
from stridelab.programs.mnist_cnn import random_affine  # the hand-in's augmentation
from stridelab.torch import schedules

# "Beats" is strictly better: on a tie the CNN does not beat the SVC. The metric beats_svc,
# the notes and lessons.json all read this one lesson.
BEATS_SVC = Lesson("The CNN beats the RBF SVC on the same test images",
                   "cnn_accuracy_on_svc_test", ">", quick="svc_accuracy", full="svc_accuracy",
                   label="CNN accuracy on the SVC's test images")


@dataclass
class CNNConfig:
    n_train: int = bounded(0, ge=0)  # training images, a stratified random subset (0: all)
    n_test: int = bounded(0, ge=0)  # test images, the first n of the test split (0: all)
    # filters of the convolutions in each block; (16, 32) trains at about a third of the cost
    # of (32, 64) and still reaches 0.995 on full MNIST (benchmarks/time_to_accuracy.py)
    channels: tuple[int, ...] = bounded((16, 32), ge=1)
    convs_per_block: int = bounded(2, ge=1)  # 3×3 convolutions (+ BatchNorm + ReLU) per block
    hidden: int = bounded(128, ge=0)  # units of the dense hidden layer (0: none)
    dropout: float = bounded(0.3, ge=0, lt=1)  # dropout rate before the output layer
    epochs: int = bounded(20, ge=1)  # passes over the training images
    batch_size: int = bounded(64, ge=1)  # images per step
    lr: float = bounded(3e-3, gt=0)  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = bounded(5e-4, ge=0)  # AdamW's decoupled weight decay
    shift: float = bounded(2.0, ge=0)  # random translation of training images (pixels, at most)
    rotate: float = bounded(10.0, ge=0)  # random rotation of training images (degrees, at most)
    # mirror a random half of the training images left-right: right for clothing
    # (Fashion-MNIST), wrong for digits (a mirrored 2 or 7 is not one)
    flip: bool = False
    n_maps: int = bounded(5, ge=1)  # filters shown per conv layer in the feature-map figure
    n_wrong: int = bounded(10, ge=1)  # misclassified test images shown
    svc_run: str = ""  # an svc-baseline run directory ("": the newest matching one, or run it)
    # CPU threads for training and prediction (0: PyTorch's default); one thread ran this CNN
    # three to seven times faster than two on a busy 2-core machine
    torch_threads: int = bounded(0, ge=0)


# ---------------------------------------------------------------------------------------------
# augmentation


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (global torch RNG, like
    :func:`random_affine`). x: (N, C, H, W)."""
    mirror = torch.rand(x.shape[0], device=x.device) < 0.5  # (N,)
    return torch.where(mirror[:, None, None, None], x.flip(-1), x)


def augmentation(config: CNNConfig):
    """The training-image transform the config asks for, or None."""
    steps = []
    if config.shift > 0 or config.rotate > 0:
        steps.append(lambda x: random_affine(x, config.shift, config.rotate))
    if config.flip:
        steps.append(random_flip)
    if not steps:
        return None

    def augment(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x
    return augment


# ---------------------------------------------------------------------------------------------
# the network and its training recipe (also what benchmarks/time_to_accuracy.py trains)


def build_model(config: CNNConfig, *, image_size: int = 28, n_classes: int = 10) -> nn.Module:
    """The configured CNN for grey ``image_size``² images (the hand-in program's
    :class:`~stridelab.programs.mnist_cnn.MnistCNN`)."""
    from stridelab.programs.mnist_cnn import MnistCNN

    # each block's 2×2 pool halves the image: the one check the field bounds cannot state
    if not config.channels or image_size >> len(config.channels) < 1:
        from stridelab.errors import ConfigError

        raise ConfigError(f"--set channels={','.join(map(str, config.channels))}: need 1 to "
                          f"{image_size.bit_length() - 1} blocks for {image_size}×{image_size} "
                          "images, e.g. --set channels=16,32")
    return MnistCNN(config.channels, convs_per_block=config.convs_per_block,
                    hidden=config.hidden, dropout=config.dropout, image_size=image_size,
                    n_classes=n_classes)


def training_recipe(model: nn.Module, config: CNNConfig, steps_per_epoch: int):
    """(optimizer, scheduler stepped per batch, augmentation or None) for ``model``:
    AdamW with a one-cycle learning rate over ``config.epochs`` epochs and random shifts and
    rotations (and, with ``config.flip``, mirror images) of the training images."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = schedules.one_cycle(optimizer, config.epochs * steps_per_epoch)
    return optimizer, scheduler, augmentation(config)


# ---------------------------------------------------------------------------------------------
# what the network learned: measurements


def orientation_scores(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orientation selectivity and preferred angle of each 2-D filter, from its gradient.

    W: (F, KH, KW). With the filter's spatial gradient (gx, gy) (central differences inside,
    one-sided at the border) the structure tensor J = Σ [gx², gx·gy; gx·gy, gy²] over the
    filter gives the coherence (λ₁ − λ₂) / (λ₁ + λ₂) = √((Jxx − Jyy)² + 4 Jxy²) / (Jxx + Jyy):
    1 when every gradient is parallel (a straight edge or bar), 0 when no direction dominates.
    The angle (degrees, in (-90, 90]) is the dominant gradient direction, 0 = along x: a
    vertical edge. A constant filter (no gradient) scores 0.

    Returns (coherence (F,), angle_degrees (F,)).
    """
    W = np.asarray(W, dtype=np.float64)
    gy, gx = np.gradient(W, axis=(1, 2))  # (F, KH, KW) each
    jxx, jyy, jxy = (gx * gx).sum((1, 2)), (gy * gy).sum((1, 2)), (gx * gy).sum((1, 2))
    trace = jxx + jyy  # (F,)
    spread = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)
    coherence = np.divide(spread, trace, out=np.zeros_like(trace), where=trace > 0)
    angle = np.degrees(0.5 * np.arctan2(2 * jxy, jxx - jyy))
    return coherence, angle


def receptive_fields(features: nn.Sequential) -> list[int]:
    """Side of the input patch (pixels) that one output of each Conv2d in ``features`` sees.

    Walks the layers in order: a layer with kernel k, stride s and dilation d widens the field
    by (k − 1)·d·jump and multiplies the jump (input pixels between neighbouring outputs) by s.
    """
    field, jump, out = 1, 1, []
    for m in features:
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            d = m.dilation if isinstance(m.dilation, int) else m.dilation[0]
            field += (k - 1) * d * jump
            jump *= s
            if isinstance(m, nn.Conv2d):
                out.append(field)
    return out


def _captured(model: nn.Module, modules: list[nn.Module], x: torch.Tensor) -> list[np.ndarray]:
    """The outputs of ``modules`` for one input x (1, C, H, W), in eval mode: each (F, H', W')."""
    captured: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_hook(
        lambda mod, i, o, k=k: captured.setdefault(k, o.detach())) for k, m in enumerate(modules)]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return [captured[k][0].float().cpu().numpy() for k in range(len(modules))]


def _relu_after(features: nn.Sequential, conv: nn.Conv2d) -> nn.Module:
    """The first ReLU after ``conv`` in ``features`` (its BatchNorm, if any, in between)."""
    layers = list(features)
    return next(m for m in layers[layers.index(conv):] if isinstance(m, nn.ReLU))


def softmax_stats(logits: torch.Tensor, y: np.ndarray, y_hat: np.ndarray) -> dict:
    """Why the last layer returns logits: float32 softmax underflows, log-softmax does not.

    logits: (N, K) float32. Counts the images where softmax rounds some class probability to
    exactly 0 (its log would be −∞ in a softmax-then-log network) and gives the smallest
    log-probability log-softmax computes instead, the largest logit spread, and the mean top
    probability on right and wrong predictions.
    """
    logits = logits.float()
    proba = torch.softmax(logits, dim=1)  # (N, K)
    log_proba = torch.log_softmax(logits, dim=1)
    top = proba.max(dim=1).values.numpy()
    right = y_hat == y
    return {"softmax_underflow_images": int((proba == 0).any(dim=1).sum()),
            "min_log_softmax": float(log_proba.min()),
            "max_logit_spread": float((logits.max(1).values - logits.min(1).values).max()),
            "mean_top_p_right": float(top[right].mean()) if right.any() else None,
            "mean_top_p_wrong": float(top[~right].mean()) if (~right).any() else None}


def _summary_record(summary) -> list[dict]:
    """The model summary's rows, each with the integers its parameter formula is built from."""
    rows = []
    for index, r in enumerate(summary.layers, start=1):
        rows.append({"index": index, "name": r.name, "type": r.kind, "output_shape": list(r.output_shape),
                     "params": r.n_params, "formula": r.formula if r.n_params else "",
                     "formula_numbers": [int(t) for t in re.findall(r"\d+", r.formula)]
                     if r.n_params else []})
    return rows


# ---------------------------------------------------------------------------------------------
# figures


def _misclassified_figure(X, y, y_hat, proba, classes, chosen, title: str):
    titles = [f"#{i}: true {classes[y[i]]}\npredicted {classes[y_hat[i]]} "
              f"(p={proba[i, y_hat[i]]:.2f})" for i in chosen]
    return image_grid_figure([X[i] for i in chosen], titles, title, ncols=5)


def _feature_map_figure(image, maps: dict[str, np.ndarray], shown: dict[str, list[int]],
                        fields: dict[str, int], title: str):
    """Rows: one conv layer each; columns: the input, then the most active filters' maps."""
    n_cols = 1 + max(len(v) for v in shown.values())
    fig, axes = plt.subplots(len(maps), n_cols, figsize=(9, 1.75 * len(maps) + 0.7),
                             squeeze=False)
    for row, (name, fmap) in enumerate(maps.items()):
        axes[row, 0].imshow(image, cmap="gray")
        axes[row, 0].set_title("input", fontsize=9)
        axes[row, 0].set_ylabel(f"{name}\n{fmap.shape[1]}×{fmap.shape[2]}, field "
                                f"{fields[name]}×{fields[name]}", fontsize=9)
        for col in range(1, n_cols):
            ax = axes[row, col]
            if col - 1 >= len(shown[name]):
                ax.axis("off")
                continue
            k = shown[name][col - 1]
            lim = float(np.abs(fmap[k]).max()) or 1.0
            ax.imshow(fmap[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"filter {k}", fontsize=9)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _filters_figure(W: np.ndarray, coherence: np.ndarray, title: str):
    """The first-layer filters W (F, KH, KW), each titled with its orientation score."""
    n = len(W)
    ncols = min(8, n)
    nrows = math.ceil(n / ncols)
    lim = float(np.abs(W).max()) or 1.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(9, 1.25 * nrows + 0.9), squeeze=False)
    im = None
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.axis("off")
            continue
        im = ax.imshow(W[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"{k}: {coherence[k]:.2f}", fontsize=9)
    fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02, label="weight")
    fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# measure


def _svc_reference(ctx, config: CNNConfig) -> dict:
    """The svc-baseline metrics this run compares with (a finished run, or one run now)."""
    svc = ctx.dependency("svc-baseline", run=config.svc_run or None)
    for key in ("test_accuracy", "n_test", "n_train"):
        if key not in svc:
            from stridelab.errors import ConfigError

            raise ConfigError(f"the svc-baseline run has no {key!r} in its metrics.json; "
                              "run `stridelab run svc-baseline` again")
    return svc


def measure(config: CNNConfig, ctx) -> dict:
    from stridelab.errors import ConfigError
    from stridelab.torch.loop import fit, history_summary, make_loader, predict, torch_threads
    from stridelab.torch.summary import summarize

    ds = ctx.load_dataset(family="mnist")
    if ds.X_train.ndim != 3:
        raise ConfigError(f"mnist-cnn needs grey 28×28 images; {ds.name} has shape "
                          f"{ds.image_shape}; use --dataset mnist, mnist-5k or fashion-mnist")
    svc = _svc_reference(ctx, config)
    X_train_u8, y_train_np = subsample(ds.X_train, ds.y_train, config.n_train, ctx.seed)
    n_test = take(config.n_test, len(ds.y_test))
    n_eval = max(n_test, min(int(svc["n_test"]), len(ds.y_test)))  # the SVC's images too
    X_train = torch.from_numpy(to_float(X_train_u8)).unsqueeze(1)  # (N, 1, H, W)
    y_train = torch.from_numpy(y_train_np)
    X_eval = torch.from_numpy(to_float(ds.X_test[:n_eval])).unsqueeze(1)  # (M, 1, H, W)
    y_eval = ds.y_test[:n_eval]
    train_loader = make_loader(X_train, y_train, config.batch_size, shuffle=True, seed=ctx.seed)
    test_loader = make_loader(X_eval[:n_test], torch.from_numpy(y_eval[:n_test]), 512)

    # -- the network and its summary ------------------------------------------------------
    model = build_model(config, image_size=ds.image_shape[0], n_classes=ds.n_classes)
    summary = summarize(model, (1, *ds.image_shape))
    ctx.log("model summary:\n" + str(summary))
    ctx.write_text("model_summary.md", summary.to_markdown() + "\n")
    ctx.write_json("model_summary.json", summary.as_dict())
    convs = model.conv_layers()
    W1_init = convs[0].weight.detach().float().cpu().numpy()[:, 0].copy()  # (F, KH, KW)

    # -- training ---------------------------------------------------------------------------
    optimizer, scheduler, augment = training_recipe(model, config, len(train_loader))
    ctx.log(f"training {summary.total_params:,} parameters on {len(y_train)} images for "
            f"{config.epochs} epochs (device {ctx.device})")
    with torch_threads(config.torch_threads):
        history = fit(model, train_loader, test_loader, optimizer=optimizer,
                      loss_fn=nn.CrossEntropyLoss(), num_epochs=config.epochs,
                      device=ctx.device, log=ctx.log, progress=ctx.progress,
                      scheduler=scheduler, scheduler_per="step", input_transform=augment,
                      channels_last=True)
        logits = predict(model, X_eval, device=ctx.device)  # (M, K)
    ctx.write_json("history.json", history)
    ctx.save_torch(model.state_dict(), "model.pt")
    fig = learning_curves_figure(history, f"CNN on {ds.name}: loss and accuracy per epoch "
                                          "(training images augmented)")
    integer_ticks(fig)
    ctx.savefig(fig, "learning_curves", caption="Loss and accuracy on the training and test "
                "images per epoch")

    # -- evaluation -------------------------------------------------------------------------
    y_hat_all = logits.argmax(dim=1).numpy()
    svc_n_test = min(int(svc["n_test"]), n_eval)
    on_svc_images = float(np.mean(y_hat_all[:svc_n_test] == y_eval[:svc_n_test]))
    logits, y_hat, y_true = logits[:n_test], y_hat_all[:n_test], y_eval[:n_test]
    proba = torch.softmax(logits, dim=1).numpy()
    accuracy = float(np.mean(y_hat == y_true))
    ctx.log(f"CNN test accuracy {accuracy:.4f}; on the SVC's {svc_n_test} test images "
            f"{on_svc_images:.4f} against the SVC's {float(svc['test_accuracy']):.4f}")

    rng = np.random.default_rng(ctx.seed)
    wrong = np.flatnonzero(y_hat != y_true)
    chosen = np.sort(rng.choice(wrong, size=min(config.n_wrong, len(wrong)), replace=False))
    X_show = ds.X_test[:n_test]
    ctx.savefig(_misclassified_figure(X_show, y_true, y_hat, proba, ds.classes, chosen,
                                      f"CNN on {ds.name}: misclassified test images "
                                      f"({len(wrong)} of {n_test})"),
                "misclassified", caption="Misclassified test images with the true and "
                "predicted class and the predicted probability")
    cm = confusion_counts(y_true, y_hat, ds.n_classes)
    pairs = most_confused_pairs(cm, ds.classes)
    for p in pairs:
        p["true_label"], p["predicted_label"] = (ds.classes.index(p["true"]),
                                                 ds.classes.index(p["predicted"]))
    ctx.savefig(confusion_figure(cm, ds.classes, f"CNN on {ds.name}: confusion matrix "
                                                 f"(test accuracy {accuracy:.4f})"),
                "confusion_matrix", caption="Confusion matrix, counts and row-normalised")

    # -- what it learned ----------------------------------------------------------------------
    fields = receptive_fields(model.features)
    sample = int(rng.integers(n_test))
    x = X_eval[sample:sample + 1].to(next(model.parameters()).device)  # (1, 1, H, W)
    first, last = convs[0], convs[-1]
    maps_first, maps_last, act_first, act_last = _captured(
        model, [first, last, _relu_after(model.features, first),
                _relu_after(model.features, last)], x)
    maps = {"first conv": maps_first, "last conv": maps_last}
    shown = {name: [int(k) for k in np.argsort(-np.abs(m).mean(axis=(1, 2)))[:config.n_maps]]
             for name, m in maps.items()}
    field_of = {"first conv": fields[0], "last conv": fields[-1]}
    ctx.savefig(_feature_map_figure(
        X_show[sample], maps, shown, field_of,
        f"Test image #{sample} (true {ds.classes[y_true[sample]]}, predicted "
        f"{ds.classes[y_hat[sample]]}): the most active filters' outputs"),
        "feature_maps", caption="Outputs of the most active filters of the first and the "
        "last convolution for one random test image (red positive, blue negative)")
    W1 = first.weight.detach().float().cpu().numpy()[:, 0]  # (F, KH, KW)
    coherence, angle = orientation_scores(W1)
    coherence_init, _ = orientation_scores(W1_init)
    # standard error of the difference of the two means (F filters each)
    change_se = float(np.sqrt((coherence.var(ddof=1) + coherence_init.var(ddof=1))
                              / len(coherence))) if len(coherence) > 1 else float("nan")
    ctx.savefig(_filters_figure(W1, coherence, f"First-layer filters ({W1.shape[1]}×"
                                               f"{W1.shape[2]}), titled with their "
                                               "orientation score"),
                "first_layer_filters", caption="The learned filters of the first convolution "
                "and each one's orientation score (1: a straight edge or bar)")

    # -- metrics ----------------------------------------------------------------------------
    n_inputs = int(np.prod(summary.input_shape))
    first_row = summary.layers[0]
    first_outputs = int(np.prod(first_row.output_shape))
    stats = history_summary(history)
    return {
        "test_accuracy": accuracy, "dataset": ds.name, "n_train": int(len(y_train)),
        "n_test": int(n_test), "epochs": config.epochs, "device": ctx.device,
        **stats, "total_train_time_s": float(np.sum(history["epoch_time"])),
        "svc_accuracy": float(svc["test_accuracy"]), "svc_n_test": svc_n_test,
        "svc_n_train": int(svc["n_train"]), "cnn_accuracy_on_svc_test": on_svc_images,
        "beats_svc": BEATS_SVC.holds({"cnn_accuracy_on_svc_test": on_svc_images,
                                      "svc_accuracy": float(svc["test_accuracy"])}),
        "n_params": summary.total_params, "n_conv_layers": len(convs),
        "summary_layers": _summary_record(summary), "n_inputs": n_inputs,
        "first_conv_outputs": first_outputs, "first_conv_params": first_row.n_params,
        "dense_equivalent_params": first_outputs * (n_inputs + 1),
        **softmax_stats(logits, y_true, y_hat),
        "n_errors": int(len(wrong)), "confusion_matrix": cm, "most_confused": pairs,
        **confusion_summary(cm, ds.classes),
        "misclassified_shown": chosen, "feature_map_sample": sample, "feature_maps_shown": shown,
        "first_conv_map_side": int(maps_first.shape[1]),
        "last_conv_map_side": int(maps_last.shape[1]),
        "first_conv_filters": int(maps_first.shape[0]),
        "last_conv_filters": int(maps_last.shape[0]),
        "first_conv_field": fields[0], "last_conv_field": fields[-1],
        "first_conv_active_fraction": float(np.mean(act_first > 0)),
        "last_conv_active_fraction": float(np.mean(act_last > 0)),
        "filter_orientation": coherence, "filter_angle_degrees": angle,
        "filter_orientation_mean": float(coherence.mean()),
        "filter_orientation_mean_init": float(coherence_init.mean()),
        "filter_orientation_change_se": change_se,
    }


# ---------------------------------------------------------------------------------------------
# narrate


def _summary_table(rows: list[dict], total: int) -> str:
    lines = ["| layer | type | output shape | parameters | computed as |",
             "|---:|---|---|---:|---|"]
    for r in rows:
        shape = "×".join(str(s) for s in r["output_shape"])
        lines.append(f"| {r['index']} | {r['type']} | {shape} | {r['params']:,} | "
                     f"{r['formula']} |")
    lines.append(f"| **total** | | | **{total:,}** | |")
    return "\n".join(lines)


def narrate(metrics: dict, config: CNNConfig) -> Notes:
    """The CNN against the SVC, its curves, summary, last layer, mistakes and feature maps."""
    m = metrics
    notes = Notes()
    notes.add(
        f"The CNN ({num(m, 'n_params')} parameters, {num(m, 'n_conv_layers')} convolutional "
        f"layers) trained on {num(m, 'n_train')} `{m['dataset']}` images for "
        f"{num(config, 'epochs')} epochs reaches **{num(m, 'test_accuracy', '.4f')}** test "
        f"accuracy on {num(m, 'n_test')} test images.",
        f"On the {num(m, 'svc_n_test')} test images the RBF SVC was scored on (trained on "
        f"{num(m, 'svc_n_train')} images) "
        + compare(m, "cnn_accuracy_on_svc_test", "svc_accuracy", names=("the CNN", "the SVC"),
                  spec=".4f") + ":",
        notes.claim(
            "beats_svc", BEATS_SVC.holds(m), "the CNN outperforms the SVC, as the sheet asks.",
            "at this budget the CNN does **not** beat the SVC; train longer or on more "
            "images."))
    gap = m["final_train_accuracy"] - m["test_accuracy"]
    notes.add(
        f"**Learning curves.** After the last epoch the training accuracy (on augmented "
        f"images, with dropout on) is {num(m, 'final_train_accuracy', '.4f')} and the test "
        f"accuracy {num(m, 'test_accuracy', '.4f')};",
        notes.claim("no_overfitting", gap <= 0,
                    "the test images are classified at least as well as the training images: "
                    "no sign of overfitting.",
                    "the training images are classified better than the test images, the usual "
                    "sign of some overfitting."),
        f"The median epoch took {num(m, 'epoch_time_s', '.2f')} s on {m['device']}.")
    notes.add(
        "**Model summary** (output shapes without the batch axis; a convolution with F "
        "filters of KH×KW over C channels has F·(KH·KW·C + bias) parameters, a dense layer "
        "n_out·(n_in + bias), a BatchNorm a scale and a shift per channel):\n\n"
        + _summary_table(m["summary_layers"], m["n_params"]))
    notes.add(
        f"Why convolutions: the first one produces {num(m, 'first_conv_outputs')} outputs "
        f"from {num(m, 'first_conv_params')} weights, each filter looking at a small "
        "neighbourhood and reused at every position; a dense layer producing as many outputs "
        f"from the {num(m, 'n_inputs')} pixels would need "
        f"{num(m, 'dense_equivalent_params')} parameters.")
    underflow = m["softmax_underflow_images"] > 0
    notes.add(
        "**Last layer: logits, not softmax.** The output layer is linear and the loss "
        "(`nn.CrossEntropyLoss`) applies log-softmax to the logits itself, in the "
        "shifted log-sum-exp form.",
        notes.claim("softmax_underflows", underflow,
                    f"That matters here: for {num(m, 'softmax_underflow_images')} of the test "
                    "images a float32 softmax rounds some class probability to exactly zero, "
                    "whose log would be −∞ in a softmax-then-log network, while log-softmax gives "
                    f"finite values down to {num(m, 'min_log_softmax', '.1f')}.",
                    "No test image's float32 softmax underflowed here (the largest spread of "
                    f"logits is {num(m, 'max_logit_spread', '.1f')}), but nothing bounds that "
                    "spread, and log-softmax stays finite where softmax-then-log would not."),
        (f"Softmax is applied only to read probabilities: the mean top probability is "
         f"{num(m, 'mean_top_p_right', '.3f')} on correctly classified test images"
         + (f" and {num(m, 'mean_top_p_wrong', '.3f')} on misclassified ones."
            if m["mean_top_p_wrong"] is not None else " (there are no misclassified ones).")))
    pairs = m["most_confused"]
    notes.add(notes.claim(
        "mistakes", bool(pairs),
        (f"**Mistakes.** {num(m, 'n_errors')} of {num(m, 'n_test')} test images are "
         "misclassified; the most frequent confusions (true → predicted): "
         + "; ".join(f"{p['true']} → {p['predicted']}: {num(p, 'count')} "
                     f"({num(p, 'fraction_of_true', '.1%')} of {p['true']})"
                     for p in pairs) + ".") if pairs else "",
        "**Mistakes.** Every test image is classified correctly."))
    if pairs:
        notes.add(confusion_text(notes, m))
    notes.add(
        f"**Feature maps.** The first convolution's maps are {num(m, 'first_conv_map_side')}"
        f"×{num(m, 'first_conv_map_side')} and each value sees a "
        f"{num(m, 'first_conv_field')}×{num(m, 'first_conv_field')} patch of the input; "
        "the last convolution's "
        f"{num(m, 'last_conv_filters')} maps are {num(m, 'last_conv_map_side')}×"
        f"{num(m, 'last_conv_map_side')}, each value seeing "
        f"{num(m, 'last_conv_field')}×{num(m, 'last_conv_field')} pixels.",
        f"After the ReLU, {num(m, 'first_conv_active_fraction', '.1%')} of the first layer's "
        f"outputs and {num(m, 'last_conv_active_fraction', '.1%')} of the last layer's are "
        "active for this image:",
        notes.claim(
            "deeper_maps_sparser", m["last_conv_active_fraction"] < m["first_conv_active_fraction"],
            "the deeper maps are sparser, each filter firing on fewer, larger parts.",
            "the deeper maps are not sparser here."))
    change = m["filter_orientation_mean"] - m["filter_orientation_mean_init"]
    se = m["filter_orientation_change_se"]  # a change within two standard errors is noise
    notes.add(
        f"**First-layer filters.** Their mean orientation score (the coherence of each "
        f"filter's gradient: one for a straight edge, zero for no preferred direction) is "
        f"{num(m, 'filter_orientation_mean', '.2f')} after training against "
        f"{num(m, 'filter_orientation_mean_init', '.2f')} for the same filters at "
        "initialisation:",
        notes.claim(
            "more_oriented", change > 2 * se,
            "training made them more oriented, edge and stroke detectors like the Sobel "
            "filters of `fixed-filters`.",
            notes.claim("less_oriented", change < -2 * se,
                        "training made them less oriented (more blob-like) than random filters.",
                        "the change is within two standard errors (one is "
                        f"{num(m, 'filter_orientation_change_se', '.2f')}) of zero: "
                        "training did not make them measurably more oriented than random "
                        "filters of this size.")))
    return notes


register("mnist-cnn", CNNConfig,
         description="A small CNN (BatchNorm, augmentation, one-cycle AdamW) that must beat "
                     "the RBF SVC, and what it learned",
         quick={"epochs": 12, "torch_threads": 1},
         smoke={"n_train": 128, "n_test": 64, "epochs": 1, "channels": (4, 8),
                "hidden": 16, "n_maps": 2},
         needs="mnist", order=30, narrate=narrate, depends=("svc-baseline",),
         lessons=(
             BEATS_SVC,
             Lesson("A small CNN classifies digits almost perfectly",
                    "test_accuracy", ">=", quick=0.98, full=0.975,
                    label="CNN test accuracy"),
         ))(measure)
