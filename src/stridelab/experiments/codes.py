"""Measurements on the codes of an autoencoder, and PCA as their reference.

What the autoencoder studies share: the reconstruction error, a k-nearest-neighbour classifier
on the two-dimensional code (how well the code separates the digits, and which ones it mixes
up), PCA with two components (the best linear code, the reference every autoencoder is
compared with) and the principal angles between two subspaces. NumPy, SciPy and scikit-learn
only: the codes arrive as arrays.
"""

from __future__ import annotations

import numpy as np

from stridelab.experiments.plots import confusion_counts, most_confused_pairs


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

