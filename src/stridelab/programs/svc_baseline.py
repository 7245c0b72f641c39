"""MNIST samples and an RBF support-vector classifier as a baseline (TU Wien, problem 4.2.1).

Plot one randomly selected training image of each digit, then train scikit-learn's SVC with an
RBF kernel and regularisation parameter C = 1 on pixels scaled to [0, 1] and report its accuracy
on the test images. An SVC's training time grows faster than linearly with the number of
images, so, as the sheet allows on a slow machine, it trains on the first 10,000 training
images by default (``--n-train 0`` takes all 60,000).

Run it as a program (``python svc_baseline.py --help``)::

    python svc_baseline.py --data mnist.npz

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz``, what
``keras.datasets.mnist.load_data()`` reads, works as it is). It needs NumPy, scikit-learn and
matplotlib.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.svm import SVC

###############################################################################
# Data


def load_mnist(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, y_train, X_test, y_test`` from an ``.npz`` file.

    Images are uint8 arrays of shape (N, 28, 28) (keys ``X_train``/``x_train`` and
    ``X_test``/``x_test``), labels integers 0-9 of shape (N,). Raises ValueError saying what is
    wrong with the file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:  # never unpickle a data file
            arrays = {key.lower(): data[key] for key in data.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    out = []
    for split in ("train", "test"):
        X, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if X is None or y is None:
            raise ValueError(f"{path}: needs arrays X_{split} and y_{split}")
        if X.dtype != np.uint8 or X.shape[1:] != (28, 28) or len(X) == 0:
            raise ValueError(f"{path}: X_{split} must be uint8 images of shape (N, 28, 28); "
                             f"got {X.dtype} {X.shape}")
        if y.shape != (len(X),) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise ValueError(f"{path}: y_{split} must hold one label 0-9 per image")
        out += [X, y.astype(np.int64)]
    return tuple(out)


def pixels(X: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) -> float32 feature vectors (N, H*W) in [0, 1].

    Scaling matters for an RBF kernel: exp(-gamma ||x - x'||^2) with raw 0-255 pixels would
    need a gamma 255^2 times smaller to see the same neighbourhoods.
    """
    return X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0)


###############################################################################
# The classifier


def make_svc(C: float = 1.0, gamma: str | float = "scale") -> SVC:
    """scikit-learn's SVC with an RBF kernel, regularisation ``C`` and kernel width ``gamma``
    ("scale": 1 / (n_features * Var(X)), scikit-learn's default)."""
    return SVC(kernel="rbf", C=C, gamma=gamma)


###############################################################################
# Figures


def samples_figure(X: np.ndarray, y: np.ndarray, path: str, seed: int = 0,
                   title: str = "One random training image of each digit") -> str:
    """One randomly selected image of each digit, saved as a PNG file."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 10, figsize=(12, 1.8))
    for digit, ax in enumerate(axes):
        ax.axis("off")
        candidates = np.flatnonzero(y == digit)
        if len(candidates):
            i = rng.choice(candidates)
            ax.imshow(X[i], cmap="gray_r")
            ax.set_title(f"{digit} (#{i})", fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    parser = _Parser(
        prog="svc_baseline.py",
        description="Plot one random MNIST training image of each digit, then train an RBF\n"
                    "SVC with C = 1 on the training images and report its test accuracy.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python svc_baseline.py --data mnist.npz --n-train 10000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--n-train", type=int, default=10_000, help="train on the first N "
                        "training images (default 10000, as the sheet allows; 0: all)")
    parser.add_argument("--C", type=float, default=1.0, help="regularisation parameter "
                        "(default 1, the sheet's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample drawing "
                        "(default 0)")
    parser.add_argument("--out", default="mnist_samples.png", help="where to save the figure "
                        "of samples (default mnist_samples.png)")
    args = parser.parse_args(argv)
    if args.n_train < 0 or not args.C > 0:
        parser.error("--n-train must not be negative and --C must be positive")
    try:
        X_train, y_train, X_test, y_test = load_mnist(args.data)
    except ValueError as e:
        parser.error(str(e))

    print(f"saved {samples_figure(X_train, y_train, args.out, args.seed)}")
    n = args.n_train or len(X_train)
    clf = make_svc(C=args.C)
    t0 = time.perf_counter()
    clf.fit(pixels(X_train[:n]), y_train[:n])
    print(f"fitted an RBF SVC (C={args.C:g}) on {min(n, len(X_train))} images in "
          f"{time.perf_counter() - t0:.1f} s; {int(clf.n_support_.sum())} support vectors")
    y_pred = clf.predict(pixels(X_test))
    print(f"test accuracy {np.mean(y_pred == y_test):.4f} on {len(y_test)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
