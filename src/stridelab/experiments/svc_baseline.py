"""svc-baseline: an RBF support-vector classifier on [0, 1]-scaled pixels, the bar for a CNN.

TU Wien 4.2.1: train an SVC with an RBF kernel and C = 1 on the training images and report its
test accuracy. The training images are the first ``n_train`` (10,000: the sheet's hint for a slow
machine), or with ``train_subset=stratified`` a stratified random subset of that size; the test
images are the first ``n_test`` of the test split, so that ``mnist-cnn`` can score itself on
exactly the same images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.plots import (
    confusion_counts,
    confusion_figure,
    confusion_summary,
    confusion_text,
    most_confused_pairs,
    subsample,
    take,
)
from stridelab.experiments.registry import bounded, register

# ---------------------------------------------------------------------------------------------
# config and fit


@dataclass
class SVCConfig:
    n_train: int = bounded(10_000, ge=0)  # training images (0: all)
    # which n_train: the first ones, as the sheet's hint has it, or a stratified random subset
    train_subset: Literal["first", "stratified"] = "first"
    n_test: int = bounded(0, ge=0)  # test images, the first n of the test split (0: all)
    C: float = bounded(1.0, gt=0)  # inverse regularisation strength
    gamma: str = "scale"  # RBF width: "scale" = 1 / (n_features · Var(X)), or a number


def fit_svc(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
            config: SVCConfig) -> dict:
    """Fit the SVC on pixels scaled to [0, 1] and predict the test images.

    X_train: uint8 (N, H, W); y_train: int (N,); X_test, y_test likewise (M, H, W), (M,).
    Returns ``test_accuracy``, ``y_pred`` (M,), ``fit_time_s``, ``predict_time_s`` and
    ``n_support_vectors``.
    """
    from stridelab.programs.svc_baseline import make_svc, pixels

    gamma: str | float = config.gamma
    if gamma not in ("scale", "auto"):
        gamma = float(gamma)
    X_train = pixels(X_train)  # (N, H·W) in [0, 1]
    X_test = pixels(X_test)  # (M, H·W)
    clf = make_svc(C=config.C, gamma=gamma)
    t0 = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    y_pred = clf.predict(X_test)
    predict_time = time.perf_counter() - t0
    return {"test_accuracy": float(np.mean(y_pred == y_test)), "y_pred": y_pred,
            "fit_time_s": fit_time, "predict_time_s": predict_time,
            "n_support_vectors": int(clf.n_support_.sum())}


def _check_gamma(gamma: str) -> None:
    from stridelab.errors import ConfigError

    if gamma in ("scale", "auto"):
        return
    try:
        ok = float(gamma) > 0
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"--set gamma={gamma}: expected scale, auto or a positive number")


# ---------------------------------------------------------------------------------------------
# measure


def measure(config: SVCConfig, ctx) -> dict:
    _check_gamma(config.gamma)
    ds = ctx.load_dataset(family="mnist")
    if config.train_subset == "first":
        n_train = take(config.n_train, len(ds.y_train))
        X_train, y_train = ds.X_train[:n_train], ds.y_train[:n_train]
    else:
        X_train, y_train = subsample(ds.X_train, ds.y_train, config.n_train, ctx.seed)
    n_test = take(config.n_test, len(ds.y_test))
    X_test, y_test = ds.X_test[:n_test], ds.y_test[:n_test]
    ctx.log(f"fitting RBF SVC (C={config.C}, gamma={config.gamma}) on {len(y_train)} images")
    result = fit_svc(X_train, y_train, X_test, y_test, config)
    cm = confusion_counts(y_test, result["y_pred"], ds.n_classes)
    ctx.savefig(confusion_figure(cm, ds.classes,
                                 f"RBF SVC on {ds.name}: confusion matrix "
                                 f"(test accuracy {result['test_accuracy']:.4f})"),
                "confusion_matrix", caption="Confusion matrix of the SVC on the test images")
    ctx.log(f"test accuracy {result['test_accuracy']:.4f} "
            f"(fit {result['fit_time_s']:.1f}s, predict {result['predict_time_s']:.1f}s)")
    pairs = most_confused_pairs(cm, ds.classes)
    for p in pairs:
        p["true_label"], p["predicted_label"] = (ds.classes.index(p["true"]),
                                                 ds.classes.index(p["predicted"]))
    n_features = int(np.prod(ds.image_shape))
    return {"test_accuracy": result["test_accuracy"], "dataset": ds.name,
            "n_train": int(len(y_train)), "n_test": int(n_test), "n_features": n_features,
            "train_subset": config.train_subset,
            "all_training_images": bool(len(y_train) == len(ds.y_train)),
            "n_support_vectors": result["n_support_vectors"],
            "support_vector_fraction": result["n_support_vectors"] / len(y_train),
            "fit_time_s": result["fit_time_s"], "predict_time_s": result["predict_time_s"],
            "n_errors": int(n_test - np.trace(cm)), "confusion_matrix": cm,
            "most_confused": pairs, **confusion_summary(cm, ds.classes)}


# ---------------------------------------------------------------------------------------------
# narrate


def narrate(metrics: dict, config: SVCConfig) -> Notes:
    """The SVC's accuracy, its support vectors and its most frequent confusion."""
    notes = Notes()
    notes.add(
        f"An RBF SVC with C = {num(config, 'C')} (gamma {config.gamma}) trained on "
        + notes.claim("all_training_images", metrics["all_training_images"],
                      f"all {num(metrics, 'n_train')} training images of {metrics['dataset']}",
                      f"the first {num(metrics, 'n_train')} training images of "
                      f"{metrics['dataset']}"
                      if metrics["train_subset"] == "first" else
                      f"a stratified random {num(metrics, 'n_train')} of the training images "
                      f"of {metrics['dataset']}")
        + ", each a vector of "
        f"{num(metrics, 'n_features')} pixel values scaled to the unit interval, reaches "
        f"**{num(metrics, 'test_accuracy', '.4f')}** test accuracy on "
        f"{num(metrics, 'n_test')} test images.",
        f"It keeps {num(metrics, 'n_support_vectors')} of the training images as support "
        f"vectors ({num(metrics, 'support_vector_fraction', '.1%')}); the fit took "
        f"{num(metrics, 'fit_time_s', '.1f')} s.",
        "The kernel compares whole pixel vectors: it does not know which pixels are "
        "neighbours, which is what a convolution adds.")
    pairs = metrics["most_confused"]
    notes.add(notes.claim(
        "mistakes", bool(pairs),
        (f"Its most frequent mistake: {pairs[0]['true']} read as {pairs[0]['predicted']}, "
         f"{num(pairs[0], 'count')} times ({num(pairs[0], 'fraction_of_true', '.1%')} of "
         f"the test images of {pairs[0]['true']}).") if pairs else "",
        "It classified every test image correctly."))
    if pairs:
        notes.add(confusion_text(notes, metrics))
    return notes


register("svc-baseline", SVCConfig,
         description="RBF SVC (C=1) on normalised pixels: the baseline the CNN must beat",
         quick={"n_train": 2000, "n_test": 1000},
         smoke={"n_train": 200, "n_test": 100},
         needs="mnist", order=10, narrate=narrate,
         lessons=(Lesson("An RBF SVC on raw pixels is already a strong digit classifier",
                         "test_accuracy", ">=", quick=0.92, full=0.93,
                         label="SVC test accuracy"),))(measure)
