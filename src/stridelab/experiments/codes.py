"""Measurements on the codes of an autoencoder, and PCA as their reference.

What the autoencoder studies share: the reconstruction error, a k-nearest-neighbour classifier
on the two-dimensional code (how well the code separates the digits, and which ones it mixes
up), PCA with two components (the best linear code, the reference every autoencoder is
compared with) and the principal angles between two subspaces; then what a figure of the code
or of the reconstructions shows, as numbers: where the digits lie in the plane
(:func:`code_geometry`: which overlap, which stand apart, whether they form arms) and how each
digit is reconstructed (:func:`reconstruction_by_digit`: its error, and which digit its
reconstructions resemble). NumPy, SciPy and scikit-learn only: the codes arrive as arrays.
"""

from __future__ import annotations

import numpy as np

from stridelab.experiments.plots import confusion_counts, confusion_summary, most_confused_pairs


def _flat(X) -> np.ndarray:
    """Images (N, ...) (an array or a CPU tensor) as float64 rows (N, D)."""
    return np.asarray(X, dtype=np.float64).reshape(len(X), -1)


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


def pca_reference(X_train, y_train, X_test, y_test, *, n_components: int = 2, k: int = 5,
                  X_test_input=None) -> dict:
    """PCA fitted on the training images: test reconstruction MSE and k-NN on its scores.

    With ``X_test_input`` the test images are projected from that (corrupted) copy and the
    error is measured against the clean ``X_test``. ``components`` has shape (784, n_components).
    """
    A = _flat(X_train)  # (N, 784)
    T = _flat(X_test)
    T_in = T if X_test_input is None else _flat(X_test_input)
    mean, V, variances = principal_components(A, n_components)
    scores_train = (A - mean) @ V  # (N, n_components)
    scores_test = (T_in - mean) @ V
    return {"mse": reconstruction_mse(scores_test @ V.T + mean, T),
            "knn_accuracy": knn_accuracy(scores_train, y_train, scores_test, y_test, k),
            "explained_variance_ratio": float(variances[:n_components].sum()
                                              / max(variances.sum(), 1e-300)),
            "scores_test": scores_test, "components": V, "mean": mean}


def principal_angles_deg(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Principal angles in degrees between the column spaces of U (D, p) and V (D, q)."""
    from scipy.linalg import subspace_angles

    return np.degrees(subspace_angles(np.asarray(U, np.float64), np.asarray(V, np.float64)))



# ---------------------------------------------------------------------------------------------
# what a scatter of the two-dimensional code shows, as numbers

# A class whose spread runs along the line from the code's centre through its centroid, and
# mostly along one direction, is an "arm": ReLU encoders often lay the digits out as rays from
# one point, a code's magnitude then saying how typical an image is and its direction the digit.
ARM_RADIAL_SHARE = 0.7  # within-class variance along the radial direction, at least
ARM_ELONGATION = 0.7  # within-class variance along the class's own main axis, at least


def _variance_share(cov: np.ndarray, direction: np.ndarray) -> float:
    """Share of the variance of a 2-D covariance ``cov`` (2, 2) along the unit ``direction``."""
    total = float(np.trace(cov))
    return float(direction @ cov @ direction / total) if total > 0 else 0.0


def code_geometry(Z, y, n_classes: int = 10, top: int = 3) -> dict:
    """Where the digits lie in a two-dimensional code: which overlap, which stand apart, and
    how the plane is organised.

    Parameters
    ----------
    Z : ndarray of shape (N, 2)
        Codes of N images.
    y : ndarray of int, shape (N,)
        Their labels in [0, n_classes).
    n_classes : int
    top : int
        Pairs kept in ``closest_pairs``.

    Returns
    -------
    dict
        ``centroids`` (n_classes × 2, None for an absent class), ``spread_by_digit`` (RMS
        distance of a digit's codes to its centroid), ``closest_pairs`` (the ``top`` pairs with
        the smallest separation: centroid distance over the mean of the two spreads; below about
        1 their clouds overlap), ``most_isolated_digit`` ({"digit", "nearest", "separation"}: the
        digit whose nearest other digit is farthest, in the same units),
        ``variance_by_axis`` (share of the code's variance along z₁ and z₂),
        ``main_axis_share`` (share along the code's first principal axis: 0.5 for a round
        cloud, 1 for a line), ``radial_share`` and ``elongation`` (means over the digits of the
        share of a digit's own variance along the ray from the code's centre, the median code,
        through its centroid, and along its own main axis) and ``radial_arms`` (both at least
        :data:`ARM_RADIAL_SHARE` and :data:`ARM_ELONGATION`).
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y)
    centre = np.median(Z, axis=0)  # (2,) robust: where most codes crowd
    present = [c for c in range(n_classes) if np.any(y == c)]
    centroids = {c: Z[y == c].mean(axis=0) for c in present}  # each (2,)
    spread = {c: float(np.sqrt(np.mean(np.sum((Z[y == c] - centroids[c]) ** 2, axis=1))))
              for c in present}
    separation = {}
    for a_i, a in enumerate(present):
        for b in present[a_i + 1:]:
            scale = max((spread[a] + spread[b]) / 2, 1e-12)
            separation[a, b] = float(np.linalg.norm(centroids[a] - centroids[b]) / scale)
    closest = sorted(separation.items(), key=lambda kv: kv[1])[:top]

    def nearest(c: int) -> tuple[int, float]:
        others = [(b if a == c else a, s) for (a, b), s in separation.items() if c in (a, b)]
        return min(others, key=lambda t: t[1])

    isolated = None
    if len(present) > 1:
        digit = max(present, key=lambda c: nearest(c)[1])
        other, value = nearest(digit)
        isolated = {"digit": int(digit), "nearest": int(other), "separation": value}

    cov = np.cov(Z.T) if len(Z) > 1 else np.zeros((2, 2))  # (2, 2)
    total = float(np.trace(cov))
    eigen = np.linalg.eigvalsh(cov)  # ascending
    radial, elongation, weights = [], [], []
    for c in present:
        members = Z[y == c]
        if len(members) < 2:
            continue
        cov_c = np.cov(members.T)  # (2, 2)
        ray = centroids[c] - centre
        length = np.linalg.norm(ray)
        radial.append(_variance_share(cov_c, ray / length) if length > 0 else 0.5)
        eig_c = np.linalg.eigvalsh(cov_c)
        elongation.append(float(eig_c[-1] / eig_c.sum()) if eig_c.sum() > 0 else 0.5)
        weights.append(len(members))
    radial_share = float(np.average(radial, weights=weights)) if weights else 0.5
    elongation_mean = float(np.average(elongation, weights=weights)) if weights else 0.5
    return {
        "centroids": [centroids[c].tolist() if c in centroids else None
                      for c in range(n_classes)],
        "spread_by_digit": [spread.get(c) for c in range(n_classes)],
        "closest_pairs": [{"digits": [int(a), int(b)], "separation": s} for (a, b), s in closest],
        "most_isolated_digit": isolated,
        "variance_by_axis": ([float(cov[0, 0] / total), float(cov[1, 1] / total)] if total > 0
                             else [0.5, 0.5]),
        "main_axis_share": float(eigen[-1] / total) if total > 0 else 0.5,
        "radial_share": radial_share,
        "elongation": elongation_mean,
        "radial_arms": bool(radial_share >= ARM_RADIAL_SHARE
                            and elongation_mean >= ARM_ELONGATION),
    }


def code_confusion(y_test, y_pred, n_classes: int = 10, top: int = 3) -> list[dict]:
    """The ``top`` digit pairs a k-NN classifier on the code confuses most, both ways together
    (:func:`stridelab.experiments.plots.confusion_summary`'s ``confused_pairs``)."""
    cm = confusion_counts(y_test, y_pred, n_classes)  # (n_classes, n_classes)
    return confusion_summary(cm, list(range(n_classes)), top=top)["confused_pairs"]


# ---------------------------------------------------------------------------------------------
# reconstructions, digit by digit


def class_means(X, y, n_classes: int = 10) -> np.ndarray:
    """The mean image of each class, as rows (n_classes, D); a class without images is NaN."""
    A = _flat(X)  # (N, D)
    y = np.asarray(y)
    return np.stack([A[y == c].mean(axis=0) if np.any(y == c) else np.full(A.shape[1], np.nan)
                     for c in range(n_classes)])


def nearest_mean(X, means: np.ndarray) -> np.ndarray:
    """Label (N,) of the class mean (``means``, (K, D)) nearest to each image of X (N, ...)."""
    A = _flat(X)  # (N, D)
    d2 = ((A ** 2).sum(axis=1)[:, None] - 2 * A @ np.nan_to_num(means, nan=0.0).T
          + (np.nan_to_num(means, nan=0.0) ** 2).sum(axis=1)[None, :])  # (N, K)
    d2[:, np.isnan(means).any(axis=1)] = np.inf
    return np.argmin(d2, axis=1)


def reconstruction_by_digit(X_hat, X, y, means: np.ndarray, top: int = 3) -> dict:
    """Per-digit reconstruction error, and which digit each digit's reconstructions resemble.

    A reconstruction "resembles" the digit whose mean training image (``means``, from the
    originals: :func:`class_means`) is nearest to it. The same rule applied to the originals
    is the reference: a digit whose originals are mostly read as themselves but whose
    reconstructions are read as another digit was turned into that digit by the model.

    Parameters
    ----------
    X_hat, X : ndarray of shape (N, ...)
        Reconstructions and the images they were made from (or the clean images).
    y : ndarray of int, shape (N,)
    means : ndarray of shape (K, D)

    Returns
    -------
    dict
        ``mse_by_digit`` (K values, None for an absent digit), ``worst_reconstructed_digit`` and
        ``best_reconstructed_digit`` ({"digit", "mse"}), ``read_as_own_digit`` (fraction of
        reconstructions nearest their own digit's mean) against
        ``originals_read_as_own_digit`` (the same for the originals), ``read_as_by_digit``
        (per present digit: {"digit", "read_as", "fraction", "own_fraction",
        "original_own_fraction"}: the digit its reconstructions are most often read as, the
        share read so, the share read as itself, and the share of its originals read as
        itself), ``misread_digits`` (the rows whose ``read_as`` is another digit, most
        misread first) and ``read_as_pairs`` (the ``top`` most frequent digit → read-as pairs
        among the reconstructions, with counts and the fraction of the digit).
    """
    X_hat, X = _flat(X_hat), _flat(X)  # (N, D) each
    y = np.asarray(y)
    n_classes = len(means)
    err = np.mean((X_hat - X) ** 2, axis=1)  # (N,)
    present = [c for c in range(n_classes) if np.any(y == c)]
    mse = [float(err[y == c].mean()) if c in present else None for c in range(n_classes)]
    worst = max(present, key=lambda c: mse[c])
    best = min(present, key=lambda c: mse[c])
    read_hat = nearest_mean(X_hat, means)  # (N,)
    read_orig = nearest_mean(X, means)
    rows = []
    for c in present:
        mask = y == c
        counts = np.bincount(read_hat[mask], minlength=n_classes)
        rows.append({"digit": c, "read_as": int(np.argmax(counts)),
                     "fraction": float(counts.max() / mask.sum()),
                     "own_fraction": float(counts[c] / mask.sum()),
                     "original_own_fraction": float(np.mean(read_orig[mask] == c))})
    misread = sorted((r for r in rows if r["read_as"] != r["digit"]),
                     key=lambda r: -r["fraction"])
    cm = confusion_counts(y, read_hat, n_classes)
    pairs = most_confused_pairs(cm, list(range(n_classes)), top=top)
    return {"mse_by_digit": mse,
            "worst_reconstructed_digit": {"digit": int(worst), "mse": mse[worst]},
            "best_reconstructed_digit": {"digit": int(best), "mse": mse[best]},
            "read_as_own_digit": float(np.mean(read_hat == y)),
            "originals_read_as_own_digit": float(np.mean(read_orig == y)),
            "read_as_by_digit": rows, "misread_digits": misread,
            "read_as_pairs": [{"digit": int(p["true"]), "read_as": int(p["predicted"]),
                               "count": p["count"], "fraction": p["fraction_of_true"]}
                              for p in pairs]}
