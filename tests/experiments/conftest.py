"""Helpers shared by the study tests."""

import json
import pickle

import numpy as np
import pytest
import torch

from stridelab.data.dataset import Dataset


def _bar_digits(n_train=300, n_test=100, seed=0):
    """Fake digits: train images carry 0 at pixel (0, 0), test images 255, so any image can be
    traced back to its split."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n, dtype=np.int64) % 10
        X = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for k in range(10):  # a bright bar whose row says the digit: learnable
            X[y == k, 2 + 2 * k:4 + 2 * k, 4:24] = 220
        return X, y

    X_train, y_train = split(n_train)
    X_test, y_test = split(n_test)
    X_train[:, 0, 0] = 0
    X_test[:, 0, 0] = 255
    return Dataset("mnist-5k", X_train, y_train, X_test, y_test, [str(i) for i in range(10)],
                   source="test")



@pytest.fixture(scope="session")
def bar_digits():
    """``bar_digits(n_train=300, n_test=100, seed=0)``: a fake digit :class:`Dataset` whose
    images carry a bright bar in a row that says the digit (learnable), with pixel (0, 0) at 0
    in training images and 255 in test images, so any image can be traced to its split."""
    return _bar_digits


@pytest.fixture(scope="session")
def lessons_by_metric():
    """``lessons_by_metric(result)``: a run's judged lessons (``lessons.json``) by metric."""
    def read(result) -> dict:
        return {record["metric"]: record
                for record in json.loads((result.out / "lessons.json").read_text())}
    return read


def _seen(*, overlap=True, arms=False, misread=True, train_loss=0.05) -> dict:
    """Fabricated interpretation metrics of one autoencoder (``autoencoding.interpretation``
    and its history's final losses): digits 3 and 5 closest (apart by 0.4 or 1.6 spreads), 1
    the most isolated, 4 and 9 the pair the k-NN classifier on the code confuses most, 2 the
    worst and 1 the best reconstructed digit; with ``misread`` the reconstructions of 6 and 3
    look most like 8."""
    rows = [{"digit": d, "read_as": d, "fraction": 0.7, "own_fraction": 0.7,
             "original_own_fraction": 0.85} for d in range(10)]
    misread_rows = [{"digit": 6, "read_as": 8, "fraction": 0.32, "own_fraction": 0.06,
                     "original_own_fraction": 0.88},
                    {"digit": 3, "read_as": 8, "fraction": 0.34, "own_fraction": 0.23,
                     "original_own_fraction": 0.76}] if misread else []
    for r in misread_rows:
        rows[r["digit"]] = r
    return {"centroids": [[float(d), 0.0] for d in range(10)], "spread_by_digit": [1.0] * 10,
            "closest_pairs": [{"digits": [3, 5], "separation": 0.4 if overlap else 1.6},
                              {"digits": [4, 9], "separation": 0.5 if overlap else 1.7}],
            "most_isolated_digit": {"digit": 1, "nearest": 7, "separation": 3.25},
            "variance_by_axis": [0.56, 0.44], "main_axis_share": 0.83,
            "radial_share": 0.81 if arms else 0.46, "elongation": 0.88 if arms else 0.77,
            "radial_arms": arms, "arm_thresholds": {"radial_share": 0.7, "elongation": 0.7},
            "knn_confused_pairs": [{"classes": ["4", "9"], "labels": [4, 9], "count": 55,
                                    "a_as_b": 24, "b_as_a": 31, "fraction": 0.275}],
            "mse_by_digit": [0.047, 0.0198, 0.066, 0.058, 0.052, 0.056, 0.058, 0.047, 0.056,
                             0.04],
            "worst_reconstructed_digit": {"digit": 2, "mse": 0.066},
            "best_reconstructed_digit": {"digit": 1, "mse": 0.0198},
            "read_as_own_digit": 0.41, "originals_read_as_own_digit": 0.8,
            "read_as_by_digit": rows, "misread_digits": misread_rows,
            "read_as_pairs": [{"digit": 7, "read_as": 9, "count": 89, "fraction": 0.89}],
            "final_train_loss": train_loss, "final_test_loss": train_loss + 0.001}


@pytest.fixture(scope="session")
def fake_seen():
    """``fake_seen(overlap=True, arms=False, misread=True, train_loss=0.05)``: fabricated
    interpretation metrics of one autoencoder (see ``_seen``)."""
    return _seen


def _single_model_metrics(test_mse, pca_mse, knn, pca_knn, **extra) -> dict:
    recall = [0.5] * 10
    recall[1], recall[8] = 0.95, 0.1
    return {"test_mse": test_mse, "pca2_test_mse": pca_mse, "knn_accuracy": knn,
            "pca2_knn_accuracy": pca_knn, "dataset": "mnist-5k", "n_train": 4000,
            "n_test": 2000, "n_parameters": 16859, "knn_recall_by_digit": recall,
            "best_separated_digit": 1, "worst_separated_digit": 8,
            "most_confused": {"true": 4, "predicted": 9, "fraction": 0.3},
            **_seen(),
            "dead_relu_units": [{"in_features": 392, "out_features": 20, "dead": 3},
                                {"in_features": 2, "out_features": 20, "dead": 0},
                                {"in_features": 20, "out_features": 392, "dead": 11}],
            **extra}


@pytest.fixture(scope="session")
def single_model_metrics():
    """``single_model_metrics(test_mse, pca_mse, knn, pca_knn, **extra)``: fabricated metrics
    of ae-linear or ae-conv (digit 1 best separated, 8 worst, 4 read as 9 most often; 3, 0
    and 11 dead units in the three Linear layers feeding a ReLU)."""
    return _single_model_metrics


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
CIFAR_PER_BATCH = 64  # images in each generated batch: 5 x 64 = 320 train, 64 test


def write_cifar(root, n=CIFAR_PER_BATCH, seed=0):
    """cifar-10-batches-py/ under root/cifar10: five training batches, a test batch and
    batches.meta, as the CIFAR-10 python archive holds them. Returns the arrays (N, 32, 32, 3)."""
    d = root / "cifar10" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)  # (N, 1024 R + G + B)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {b"batch_label": f"generated {name}".encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
        arrays[name] = (data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), np.array(labels))
    meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_cases_per_batch": n,
            b"num_vis": 3072}
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    X_train = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
    y_train = np.concatenate([arrays[f"data_batch_{i}"][1] for i in range(1, 6)])
    X_test, y_test = arrays["test_batch"]
    return X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64)



@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A data directory holding generated CIFAR-10 python batches: (root, (X_train, y_train,
    X_test, y_test)), 320 training and 64 test images of uint8 (N, 32, 32, 3)."""
    root = tmp_path_factory.mktemp("cifar-data")
    return root, write_cifar(root)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
