"""Writers of small generated data files for the loader tests (no network, no real data)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(X: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array, written out by hand (independent of the reader)."""
    X = np.asarray(X, dtype=np.uint8)
    magic = struct.pack(">BBBB", 0, 0, 0x08, X.ndim)
    dims = b"".join(struct.pack(">I", n) for n in X.shape)
    return magic + dims + X.tobytes()


def digit_arrays(n_train=12, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    X_train = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    X_test = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    y_train = np.arange(n_train, dtype=np.uint8) % 10
    y_test = (np.arange(n_test, dtype=np.uint8) * 3) % 10
    return X_train, y_train, X_test, y_test


def write_idx_set(directory: Path, gz: bool = False, n_train=12, n_test=4, seed=0):
    """Write the four MNIST files into ``directory``; return (X_train, y_train, X_test, y_test)."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = digit_arrays(n_train, n_test, seed)
    for stem, arr in zip(STEMS.values(), arrays):
        buf = idx_bytes(arr)
        if gz:
            (directory / (stem + ".gz")).write_bytes(gzip.compress(buf))
        else:
            (directory / stem).write_bytes(buf)
    return arrays


def cifar_batch(n: int, seed: int, protocol: int = 2) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A pickled CIFAR-style batch: (bytes, data (n, 3072) uint8, labels (n,))."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    batch = {
        b"batch_label": b"generated batch",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    return pickle.dumps(batch, protocol=protocol), data, np.array(labels)


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_cifar_dir(directory: Path, n: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The six batches (``n`` images each) in ``directory``; returns name -> (data, labels)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for seed, name in enumerate(CIFAR_BATCHES):
        buf, data, labels = cifar_batch(n, seed)
        (directory / name).write_bytes(buf)
        out[name] = (data, labels)
    return out
