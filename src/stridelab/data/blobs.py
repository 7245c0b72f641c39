"""Two-dimensional point sets for the clustering exercises.

* :func:`make_blob_data`: Gaussian blobs from scikit-learn's ``make_blobs`` with a fixed seed.
* :func:`three_blobs`: mlxtend's ``three_blobs_data`` (150 points, 3 clusters), the set the
  k-means worksheets use.
* :func:`stand_in_blobs`: three Gaussian blobs (150 points) drawn with a fixed seed, laid out
  so that samples lie right of x0 = 4: the stand-in for a course's ``blobs.csv`` whose sheet
  asks for initial means chosen among the samples with x0 > 4.
* :func:`load_points_csv`: your own points, a CSV with the header ``x0,x1`` or ``x0,x1,label``.
* :func:`load_points`: any of them by the name a study's ``--set data=`` gives.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from stridelab.errors import ConfigError, DataError


def make_blob_data(
    n_samples: int = 150,
    centers: int = 3,
    random_state: int | None = 0,
    cluster_std: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs in 2-D.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), float64
    y : ndarray of shape (n_samples,), int64
        The blob each point was drawn from.
    """
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=n_samples, n_features=2, centers=centers,
        cluster_std=cluster_std, random_state=random_state,
    )
    return X.astype(np.float64), y.astype(np.int64)


def three_blobs() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's three-blob data: X of shape (150, 2) float64 and y of shape (150,) int64."""
    from mlxtend.data import three_blobs_data

    X, y = three_blobs_data()
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


# Centres of the stand-in blobs: mlxtend's layout (one blob on the left, two on the right),
# with the lower right blob moved right of x0 = 4 and the upper one straddling it, so that
# the region x0 > 4 holds samples of two blobs and none of the third.
STAND_IN_CENTRES = ((-1.5, 2.9), (4.9, 1.0), (3.4, 4.35))


def stand_in_blobs(n_per_blob: int = 50, cluster_std: float = 0.5,
                   random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three isotropic Gaussian blobs around :data:`STAND_IN_CENTRES`, drawn with a fixed seed.

    Returns
    -------
    X : ndarray of shape (3 · n_per_blob, 2), float64
        The blobs one after the other.
    y : ndarray of shape (3 · n_per_blob,), int64
        The blob each point was drawn from (0, 1, 2 in the order of the centres).
    """
    rng = np.random.default_rng(random_state)
    X = np.concatenate([rng.normal(centre, cluster_std, size=(n_per_blob, 2))
                        for centre in STAND_IN_CENTRES])  # (3·n, 2)
    y = np.repeat(np.arange(len(STAND_IN_CENTRES), dtype=np.int64), n_per_blob)
    return X, y


HEADERS = (("x0", "x1"), ("x0", "x1", "label"))


def load_points_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read 2-D points from a CSV file whose first line is ``x0,x1`` or ``x0,x1,label``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), float64
    y : ndarray of shape (n_samples,), int64, or None without a label column

    Raises
    ------
    DataError
        A missing or wrong header, a row with the wrong number of fields, a value that is
        not a finite number, a label that is not an integer, or no rows at all; the message
        names the file and the line.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(i, row) for i, row in enumerate(csv.reader(f), start=1) if row]
    except FileNotFoundError as e:
        raise DataError(f"{path}: no such file; give the path of a CSV with columns x0,x1") from e
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read as CSV text ({e})") from e
    if not rows:
        raise DataError(f"{path}: empty file; the first line must be the header x0,x1[,label]")
    _, header = rows[0]
    header = tuple(h.strip() for h in header)
    if header not in HEADERS:
        raise DataError(
            f"{path}: line 1 is {','.join(header)!r}; the header must be x0,x1 or x0,x1,label"
        )
    if len(rows) == 1:
        raise DataError(f"{path}: the header is there but no data rows follow")
    has_label = len(header) == 3
    X = np.empty((len(rows) - 1, 2))  # (N, 2)
    y = np.empty(len(rows) - 1, dtype=np.int64)  # (N,)
    for k, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
            )
        for j in range(2):
            try:
                value = float(row[j])
            except ValueError:
                raise DataError(
                    f"{path}: line {line}: {header[j]} = {row[j].strip()!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise DataError(f"{path}: line {line}: {header[j]} = {row[j].strip()} is not finite")
            X[k, j] = value
        if has_label:
            try:
                y[k] = int(row[2])
            except ValueError:
                raise DataError(
                    f"{path}: line {line}: label {row[2].strip()!r} is not an integer"
                ) from None
    return X, (y if has_label else None)


def load_points(data: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The 2-D points named by ``data``: X (N, 2), true blob labels or None, a description.

    The description holds no numbers (the notes print counts from the metrics instead).
    """
    if data == "three-blobs":
        X, y = three_blobs()
        return X, y, "mlxtend's three blobs"
    if data == "make-blobs":
        X, y = make_blob_data()
        return X, y, "scikit-learn's make_blobs points"
    if data == "stand-in-blobs":
        X, y = stand_in_blobs()
        return X, y, "stridelab's stand-in blobs (three Gaussian blobs drawn with a fixed seed)"
    if data.lower().endswith(".csv"):
        X, y = load_points_csv(data)
        return X, y, "the points of the CSV file given as data"
    raise ConfigError(f"--set data={data}: expected stand-in-blobs, three-blobs, make-blobs or "
                      "the path of a CSV file with the header x0,x1[,label]")

