"""svc-baseline: an RBF support-vector classifier on normalised pixels, the bar a CNN must clear."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from stridelab.experiments.plots import confusion_counts, confusion_figure, most_confused_pairs
from stridelab.experiments.registry import register


@dataclass
class SVCConfig:
    n_train: int = 10_000  # training images used (the first n of the training split)
    n_test: int = 0  # test images used (0: the whole test split)
    C: float = 1.0  # inverse regularisation strength
    gamma: str = "scale"  # RBF width: "scale" = 1 / (n_features · Var(X))


# Targets from the course: RBF SVC on mnist-5k reaches at least 0.93.
TARGETS = {"mnist-5k": 0.93}


def fit_svc(X_train, y_train, X_test, y_test, config: SVCConfig) -> dict:
    """Fit the SVC on pixels scaled to [0, 1]; returns accuracy, predictions and timings."""
    from sklearn.svm import SVC

    X_train = X_train.reshape(len(X_train), -1).astype(np.float32) / 255.0  # (N, 784)
    X_test = X_test.reshape(len(X_test), -1).astype(np.float32) / 255.0
    clf = SVC(kernel="rbf", C=config.C, gamma=config.gamma)
    t0 = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    y_pred = clf.predict(X_test)
    predict_time = time.perf_counter() - t0
    return {"test_accuracy": float(np.mean(y_pred == y_test)), "y_pred": y_pred,
            "fit_time_s": fit_time, "predict_time_s": predict_time,
            "n_support_vectors": int(clf.n_support_.sum())}


@register("svc-baseline", SVCConfig,
          description="RBF SVC (C=1) on normalised pixels: the baseline the CNN must beat",
          quick={"n_train": 2000, "n_test": 1000},
          smoke={"n_train": 200, "n_test": 100},
          needs="mnist", order=10)
def run(config: SVCConfig, ctx) -> dict:
    ds = ctx.load_dataset(family="mnist")
    n_train = min(config.n_train, len(ds.y_train))
    n_test = len(ds.y_test) if config.n_test <= 0 else min(config.n_test, len(ds.y_test))
    ctx.log(f"fitting RBF SVC (C={config.C}, gamma={config.gamma}) on {n_train} images")
    result = fit_svc(ds.X_train[:n_train], ds.y_train[:n_train], ds.X_test[:n_test],
                     ds.y_test[:n_test], config)
    cm = confusion_counts(ds.y_test[:n_test], result["y_pred"], len(ds.classes))
    ctx.savefig(confusion_figure(cm, ds.classes,
                                 f"RBF SVC on {ds.name}: confusion matrix "
                                 f"(test accuracy {result['test_accuracy']:.4f})"),
                "confusion_matrix", caption="Confusion matrix of the SVC on the test split")
    ctx.log(f"test accuracy {result['test_accuracy']:.4f} "
            f"(fit {result['fit_time_s']:.1f}s, predict {result['predict_time_s']:.1f}s)")
    metrics = {k: v for k, v in result.items() if k != "y_pred"}
    metrics.update(dataset=ds.name, n_train=n_train, n_test=n_test,
                   confusion_matrix=cm, most_confused=most_confused_pairs(cm, ds.classes))
    target = TARGETS.get(ds.name)
    if target is not None and n_train == min(SVCConfig.n_train, len(ds.y_train)):
        metrics.update(target=target, target_met=result["test_accuracy"] >= target)
    ctx.note(f"An RBF SVC with C = {config.C} on {n_train} raw, [0, 1]-scaled pixel vectors "
             f"reaches **{result['test_accuracy']:.4f}** test accuracy on {ds.name} "
             f"({metrics['n_support_vectors']} support vectors; fit "
             f"{result['fit_time_s']:.1f} s). It sees each image as a point in "
             "784-dimensional space and knows nothing of which pixels are neighbours: the "
             "CNN's locality and weight sharing are what it has to beat.")
    return metrics
