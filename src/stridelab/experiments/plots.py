"""Pieces shared by the experiments: figures (every one titled, axes labelled, colorbars where
values matter) and the small data helpers every study needs.

Figures shared by several studies: confusion matrices, learning and loss curves, image grids
and rows, scatters of two-dimensional codes (the autoencoders) and of clustered points (the
k-means studies).

Matplotlib is switched to its file-only Agg backend once, here at import and again by the
runner (:func:`use_agg`) before each ``measure``: a study imports ``matplotlib.pyplot`` and
never calls ``matplotlib.use`` itself. Data helpers: :func:`take` (how many of n items),
:func:`subsample` (a stratified random subset) and :func:`to_float` (uint8 pixels to float32
in [0, 1]).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import FigureBase  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FIG_WIDTH = 9.0  # inches: a figure this wide keeps 10 pt text legible at report width
CLUSTER_COLORS = plt.get_cmap("tab10").colors  # one colour per cluster or class


def use_agg() -> None:
    """Draw to files only (the Agg backend), whatever backend was configured; idempotent."""
    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")


# ---------------------------------------------------------------------------------------------
# data helpers


def take(n: int, available: int) -> int:
    """How many of ``available`` items to use for a config value ``n``: 0 (or more than there
    are) means all of them."""
    return available if n <= 0 else min(n, available)


def subsample(X: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified random subset of ``n`` samples: each class keeps its share of ``y``.

    Parameters
    ----------
    X : ndarray of shape (N, ...)
    y : ndarray of int, shape (N,)
    n : int
        Samples wanted; 0 or at least N returns ``X, y`` unchanged (all of them).
    seed : int
        Seed of the draw: the same ``seed`` gives the same subset.

    Returns
    -------
    X_sub : ndarray of shape (n, ...), y_sub : ndarray of shape (n,)
        In their original order. Class k gets ``n · N_k / N`` samples, rounded so the counts
        sum to ``n`` (largest remainders first), never more than ``N_k``.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if n <= 0 or n >= len(y):
        return X, y
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = n * counts / len(y)  # (K,) the share of each class
    quota = np.floor(exact).astype(np.int64)
    by_remainder = np.argsort(-(exact - quota), kind="stable")
    quota[by_remainder[: n - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == k), size=quota[k], replace=False)
              for k in range(len(classes))]
    idx = np.sort(np.concatenate(chosen))  # (n,)
    return X[idx], y[idx]


def to_float(X: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1] (``X / 255``), same shape."""
    X = np.asarray(X)
    if X.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 pixels, got {X.dtype}")
    return X.astype(np.float32) / np.float32(255.0)


# ---------------------------------------------------------------------------------------------
# figures


def integer_ticks(target):
    """Whole-number ticks on the x axis of an Axes, or of every Axes of a Figure (epochs,
    iterations, seeds); returns ``target``."""
    for ax in target.axes if isinstance(target, FigureBase) else [target]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    return target


def confusion_counts(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def most_confused_pairs(cm: np.ndarray, classes, top: int = 5) -> list[dict]:
    """The largest off-diagonal counts of a confusion matrix, as (true, predicted, count)."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    pairs = []
    for flat in order:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] == 0:
            break
        pairs.append({"true": str(classes[i]), "predicted": str(classes[j]),
                      "count": int(off[i, j]),
                      "fraction_of_true": float(off[i, j] / max(cm[i].sum(), 1))})
    return pairs


def confusion_summary(cm: np.ndarray, classes, top: int = 3) -> dict:
    """What a confusion matrix says, as numbers a note or an answer can name.

    Parameters
    ----------
    cm : ndarray of int, shape (K, K)
        Counts, row = true class, column = predicted class (:func:`confusion_counts`).
    classes : sequence of K names
    top : int
        Pairs kept in ``confused_pairs``.

    Returns
    -------
    dict
        ``recall_by_class`` (K fractions of each true class classified right; None for a class
        with no sample), ``precision_by_class`` (K fractions of each predicted class that are
        right; None for a class never predicted), ``best_recognised`` and ``worst_recognised``
        ({"class", "label", "recall"}: the highest and lowest recall), ``confused_pairs`` (the
        ``top`` unordered pairs {a, b} with the most confusions both ways together, each
        {"classes", "labels", "count", "a_as_b", "b_as_a", "fraction"}: count over the test
        samples of both classes; only pairs with a confusion) and ``most_predicted_wrongly``
        ({"class", "label", "count"}: the class most often predicted for a sample of another
        class; None without any mistake).
    """
    cm = np.asarray(cm, dtype=np.int64)
    n_true, n_pred = cm.sum(axis=1), cm.sum(axis=0)  # (K,) each
    diag = np.diag(cm)

    def rates(n: np.ndarray) -> list[float | None]:
        return [float(d / m) if m > 0 else None for d, m in zip(diag, n)]

    recall = rates(n_true)
    present = [i for i, r in enumerate(recall) if r is not None]
    best = max(present, key=lambda i: recall[i], default=None)
    worst = min(present, key=lambda i: recall[i], default=None)

    def record(i: int | None) -> dict | None:
        return None if i is None else {"class": str(classes[i]), "label": int(i),
                                       "recall": recall[i]}

    both_ways = cm + cm.T  # (K, K) confusions of i and j in either direction
    i_upper, j_upper = np.triu_indices(len(cm), k=1)
    counts = both_ways[i_upper, j_upper]
    order = np.argsort(-counts, kind="stable")
    pairs = []
    for k in order[:top]:
        if counts[k] == 0:
            break
        i, j = int(i_upper[k]), int(j_upper[k])
        pairs.append({"classes": [str(classes[i]), str(classes[j])], "labels": [i, j],
                      "count": int(counts[k]), "a_as_b": int(cm[i, j]), "b_as_a": int(cm[j, i]),
                      "fraction": float(counts[k] / max(n_true[i] + n_true[j], 1))})
    wrong = n_pred - diag  # (K,) predictions of a class that were wrong
    sink = int(np.argmax(wrong))
    return {"recall_by_class": recall, "precision_by_class": rates(n_pred),
            "best_recognised": record(best), "worst_recognised": record(worst),
            "confused_pairs": pairs,
            "most_predicted_wrongly": ({"class": str(classes[sink]), "label": sink,
                                        "count": int(wrong[sink])} if wrong[sink] > 0 else None)}


def confusion_text(notes, metrics: dict) -> str:
    """What a confusion matrix shows, in sentences read from :func:`confusion_summary`'s keys
    in ``metrics``: the best and worst recognised classes, the pair confused most (both ways
    together, and whether mostly one way: claim ``one_way``), the next pairs, and the class
    predicted most often by mistake. ``notes`` is the study's :class:`Notes`."""
    from stridelab.experiments.narrate import num

    best, worst = metrics["best_recognised"], metrics["worst_recognised"]
    text = (f"Recognised best: {best['class']} (recall {num(best, 'recall', '.3f')}); worst: "
            f"{worst['class']} (recall {num(worst, 'recall', '.3f')}).")
    pairs = metrics["confused_pairs"]
    if not pairs:
        return text
    p = pairs[0]
    a, b = p["classes"]
    major, minor = max(p["a_as_b"], p["b_as_a"]), min(p["a_as_b"], p["b_as_a"])
    source, target = (a, b) if p["a_as_b"] >= p["b_as_a"] else (b, a)
    text += (f" Both directions taken together, the pair confused most is {a} and {b}: "
             f"{num(p, 'count')} test images ({num(p, 'fraction', '.1%')} of the two classes), "
             f"{num(p, 'a_as_b')} of the {a}s read as {b} and {num(p, 'b_as_a')} of the {b}s "
             f"read as {a}; "
             + notes.claim("one_way", major >= 2 * minor,
                           f"mostly one way: {source} is commonly mislabelled as {target}.",
                           "about as often each way: neither is the usual mislabel of the "
                           "other."))
    if len(pairs) > 1:
        text += " Next: " + "; ".join(f"{q['classes'][0]} and {q['classes'][1]} "
                                      f"({num(q, 'count')})" for q in pairs[1:]) + "."
    sink = metrics["most_predicted_wrongly"]
    if sink:
        text += (f" The class predicted most often for an image of another class is "
                 f"{sink['class']} ({num(sink, 'count')} times).")
    return text


def confusion_figure(cm: np.ndarray, classes, title: str):
    """Counts and row-normalised rates side by side."""
    classes = [str(c) for c in classes]
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax, values, label, fmt in ((axes[0], cm, "count", "d"),
                                   (axes[1], rates, "fraction of the true class", ".2f")):
        im = ax.imshow(values, cmap="Blues")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
        ax.set_xticks(range(len(classes)), classes, rotation=45 if len(classes[0]) > 2 else 0,
                      ha="right" if len(classes[0]) > 2 else "center")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if len(classes) <= 12:
            threshold = values.max() / 2 if values.max() > 0 else 1
            for i in range(values.shape[0]):
                for j in range(values.shape[1]):
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center",
                            fontsize=7, color="white" if values[i, j] > threshold else "black")
    axes[0].set_title("counts")
    axes[1].set_title("row-normalised")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_curves_figure(history: dict, title: str):
    """Loss (and accuracy, when recorded) on train and test per epoch."""
    has_acc = bool(history.get("train_accuracy"))
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4))
    axes = np.atleast_1d(axes)
    epochs = history["epoch"]
    axes[0].plot(epochs, history["train_loss"], "o-", label="train")
    if any(np.isfinite(history.get("test_loss", [np.nan]))):
        axes[0].plot(epochs, history["test_loss"], "s-", label="test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_title("loss")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    if has_acc:
        axes[1].plot(epochs, history["train_accuracy"], "o-", label="train")
        axes[1].plot(epochs, history["test_accuracy"], "s-", label="test")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy")
        axes[1].set_title("accuracy")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid_figure(images, titles, title: str, ncols: int = 5, cmap: str = "gray",
                      colorbar: bool = False, vmin=None, vmax=None):
    """A grid of images (H, W) or (H, W, 3) with a title each."""
    images = list(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols + (0.6 if colorbar else 0),
                                                    2.4 * nrows), squeeze=False)
    im = None
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, t in zip(axes.ravel(), images, titles):
        im = ax.imshow(img, cmap=cmap if np.ndim(img) == 2 else None, vmin=vmin, vmax=vmax)
        ax.set_title(t, fontsize=9)
    if colorbar and im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    fig.suptitle(title)
    return fig


def losses_figure(histories: dict[str, dict], title: str, *, ylabel: str = "MSE per pixel",
                  log: bool = True, reference: tuple[float, str] | None = None):
    """Train (solid) and test (dashed) loss per epoch for several models, legend outside.

    ``histories`` maps a model's name to its ``fit`` history; ``reference`` = (value, name)
    draws a dotted horizontal line (e.g. PCA's error); ``log`` puts the loss on a log scale
    (skip models sit an order of magnitude below the others).
    """
    fig, ax = plt.subplots(figsize=(8.2, 4.2))
    for i, (name, history) in enumerate(histories.items()):
        color = plt.get_cmap("tab10")(i)
        ax.plot(history["epoch"], history["train_loss"], "o-", color=color, ms=3,
                label=f"{name}: train")
        ax.plot(history["epoch"], history["test_loss"], "s--", color=color, ms=3,
                label=f"{name}: test")
    if reference is not None:
        value, name = reference
        ax.axhline(value, color="gray", ls=":", label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch", fontsize=10)
    ax.set_ylabel(f"{ylabel} (log scale)" if log else ylabel, fontsize=10)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=9)
    integer_ticks(ax)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def embedding_axes(ax, Z: np.ndarray, y, classes, title: str) -> None:
    """Scatter a two-dimensional code (N, 2) coloured by label (legend: see embeddings_figure),
    each label written at the centroid of its codes, so overlapping digits can be named."""
    from matplotlib import patheffects

    cmap = plt.get_cmap("tab10")
    y = np.asarray(y)
    for c, name in enumerate(classes):
        mask = y == c
        if mask.any():
            ax.scatter(Z[mask, 0], Z[mask, 1], s=5, alpha=0.6, color=cmap(c % 10),
                       label=str(name), rasterized=True)
    for c, name in enumerate(classes):
        mask = y == c
        if mask.any():
            x0, x1 = Z[mask].mean(axis=0)
            ax.text(x0, x1, str(name), ha="center", va="center", fontsize=10,
                    fontweight="bold", color="black", zorder=5, path_effects=[
                        patheffects.withStroke(linewidth=3, foreground="white")])
    ax.set_xlabel("$z_1$", fontsize=10)
    ax.set_ylabel("$z_2$", fontsize=10)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)


def embeddings_figure(panels: list[tuple[np.ndarray, str]], y, classes, title: str):
    """One scatter per (code, subtitle), side by side, one legend of the digits to the right."""
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


def rows_figure(rows: list[tuple[str, np.ndarray]], labels, title: str,
                titles: list[str] | None = None):
    """Image rows, one per (name, images (n, 1, 28, 28)), each row named on its left; the
    columns are titled "label <label>", or with ``titles`` when given."""
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
                ax.set_title(titles[j] if titles else f"label {labels[j]}", fontsize=9)
        axes[r, 0].set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center",
                              labelpad=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def scatter_clusters(ax, X, labels, centers, *, title: str, next_centers=None, marks=None,
                     legend: bool = True):
    """Points coloured by cluster, centres as large crosses, optional arrows to the next centres.

    The legend (cluster sizes) sits below the axes, never on the points.
    """
    n_clusters = len(centers)
    counts = np.bincount(labels, minlength=n_clusters) if labels is not None else None
    for j in range(n_clusters):
        color = CLUSTER_COLORS[j % 10]
        if labels is not None:
            members = labels == j
            ax.scatter(X[members, 0], X[members, 1], s=12, color=color, alpha=0.6,
                       label=f"cluster {j} ({counts[j]})")
        ax.scatter(*centers[j], s=220, marker="X", color=color, edgecolor="black",
                   linewidth=1.5, zorder=5)
        if next_centers is not None and not np.allclose(centers[j], next_centers[j]):
            ax.annotate("", xy=next_centers[j], xytext=centers[j], zorder=6,
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
        if marks is not None:
            ax.annotate(marks[j], centers[j], textcoords="offset points", xytext=(9, 7),
                        fontsize=10, fontweight="bold", zorder=7)
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=12, color="0.5", alpha=0.6, label="samples")
    ax.set_title(title)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.grid(alpha=0.2)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(n_clusters, 3),
                  fontsize=9, frameon=False)

