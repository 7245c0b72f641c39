"""CIFAR-10 from its python pickle batches, read with a restricted unpickler.

Accepted layouts, searched in order: the unpacked ``cifar-10-batches-py`` directory under
``<data_dir>/cifar10`` or ``<data_dir>``, then the ``cifar-10-python.tar.gz`` archive in
the same places (read in memory, never extracted by a load). Each batch is a dict with
``b"data"`` (uint8, shape (N, 3072): 1024 red, 1024 green, 1024 blue values per image, row
by row) and ``b"labels"`` (N ints).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from stridelab.data.dataset import Dataset, as_data_dir
from stridelab.data.download import download, file_digest
from stridelab.data.safety import check_tar_members, open_tar, restricted_load, safe_extract
from stridelab.errors import DataError, DataNotFound

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
IMAGE_SHAPE = (32, 32, 3)  # channel-last
BATCH_DIR = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
MD5 = "c58f30108f718f92721af3b95e74349a"  # published with the archive
# MD5 of each unpacked batch, as torchvision lists them.
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


@dataclass(frozen=True)
class CifarLocation:
    kind: str  # "dir" or "tar"
    path: Path


def parse_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pickled batch into images (N, 32, 32, 3) uint8 and labels (N,) int64."""
    batch = restricted_load(data, source=source, encoding="bytes")
    if not isinstance(batch, dict):
        raise DataError(f"{source}: expected a dict batch, found {type(batch).__name__}")
    get = lambda key: batch.get(key.encode(), batch.get(key))
    X, y = get("data"), get("labels")
    if X is None or y is None:
        raise DataError(f"{source}: a CIFAR batch needs 'data' and 'labels' entries")
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8:
        kind = X.dtype if isinstance(X, np.ndarray) else type(X).__name__
        raise DataError(f"{source}: 'data' has type {kind}, expected a uint8 array")
    if X.ndim != 2 or X.shape[1] != 3 * 32 * 32:
        raise DataError(f"{source}: 'data' has shape {X.shape}, expected (N, 3072)")
    try:
        y = np.asarray(y)
    except (TypeError, ValueError) as e:
        raise DataError(f"{source}: 'labels' is not a list of integers") from e
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: 'labels' must be a list of integers, got {y.dtype} {y.shape}")
    if len(y) != len(X):
        raise DataError(f"{source}: {len(X)} images but {len(y)} labels; the batch is corrupt")
    if len(y) and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise DataError(f"{source}: labels span [{y.min()}, {y.max()}], expected 0..9")
    X = X.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    return np.ascontiguousarray(X), y.astype(np.int64)


def _read_dir(d: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        path = d / name
        try:
            data = path.read_bytes()
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
        out[name] = parse_batch(data, str(path))
    return out


def _read_tar(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    wanted = {*TRAIN_BATCHES, TEST_BATCH}
    out = {}
    with open_tar(path) as tar:
        for m in check_tar_members(tar, str(path)):
            name = PurePosixPath(m.name).name
            if m.isfile() and name in wanted and name not in out:
                try:
                    data = tar.extractfile(m).read()
                except (OSError, EOFError) as e:
                    raise DataError(f"{path}: cannot read member {m.name!r} ({e})") from e
                out[name] = parse_batch(data, f"{path}:{m.name}")
    missing = sorted(wanted - set(out))
    if missing:
        raise DataError(f"{path}: the archive lacks {', '.join(missing)}; download it again")
    return out


@dataclass(frozen=True)
class CifarSource:
    name: str = "cifar10"
    description: str = "CIFAR-10 colour photos, 50,000 train / 10,000 test, 32x32x3, 10 classes"
    classes: tuple[str, ...] = CLASSES
    n_train: int = 50_000
    n_test: int = 10_000

    def fetch_dir(self, data_dir: str | os.PathLike | None = None) -> Path:
        return as_data_dir(data_dir) / self.name

    def _candidates(self, data_dir) -> list[Path]:
        root = as_data_dir(data_dir)
        return [root / self.name, root]

    def locate(self, data_dir: str | os.PathLike | None = None) -> CifarLocation | None:
        batches = (*TRAIN_BATCHES, TEST_BATCH)
        for base in self._candidates(data_dir):
            d = base / BATCH_DIR
            if all((d / b).is_file() for b in batches):
                return CifarLocation("dir", d)
        for base in self._candidates(data_dir):
            if (base / ARCHIVE).is_file():
                return CifarLocation("tar", base / ARCHIVE)
        return None

    def is_present(self, data_dir: str | os.PathLike | None = None) -> bool:
        return self.locate(data_dir) is not None

    def where(self, data_dir: str | os.PathLike | None = None) -> Path | None:
        """The batch directory or the archive; None when absent."""
        loc = self.locate(data_dir)
        return None if loc is None else loc.path

    def files(self, data_dir: str | os.PathLike | None = None) -> list[Path]:
        """The files a load reads (empty when absent)."""
        loc = self.locate(data_dir)
        if loc is None:
            return []
        if loc.kind == "tar":
            return [loc.path]
        return [loc.path / b for b in (*TRAIN_BATCHES, TEST_BATCH)]

    def not_found(self, data_dir: str | os.PathLike | None = None) -> DataNotFound:
        for base in self._candidates(data_dir):
            d = base / BATCH_DIR
            if d.is_dir():
                missing = [b for b in (*TRAIN_BATCHES, TEST_BATCH) if not (d / b).is_file()]
                return DataNotFound(
                    f"cifar10 is incomplete in {d}: missing {', '.join(missing)}; "
                    f"place {ARCHIVE} in {self.fetch_dir(data_dir)} or run "
                    "`stridelab data fetch cifar10`"
                )
        return DataNotFound(
            f"cifar10 not found: place {ARCHIVE} (from {URLS[0]}) or its unpacked {BATCH_DIR}/ "
            f"in {self.fetch_dir(data_dir)}, or run `stridelab data fetch cifar10` when online"
        )

    def load(self, data_dir: str | os.PathLike | None = None) -> Dataset:
        loc = self.locate(data_dir)
        if loc is None:
            raise self.not_found(data_dir)
        batches = _read_dir(loc.path) if loc.kind == "dir" else _read_tar(loc.path)
        X_train = np.concatenate([batches[b][0] for b in TRAIN_BATCHES])  # (N, 32, 32, 3)
        y_train = np.concatenate([batches[b][1] for b in TRAIN_BATCHES])  # (N,)
        X_test, y_test = batches[TEST_BATCH]
        return Dataset(
            self.name, X_train, y_train, X_test, y_test, list(self.classes), source=str(loc.path)
        )

    def verify(self, data_dir: str | os.PathLike | None = None) -> list[str]:
        """:meth:`verify_files` on the located set; DataNotFound when absent."""
        loc = self.locate(data_dir)
        if loc is None:
            raise self.not_found(data_dir)
        return self.verify_files(loc)

    def verify_files(self, loc: CifarLocation) -> list[str]:
        if loc.kind == "tar":
            got = file_digest(loc.path)
            if got != MD5:
                raise DataError(
                    f"{loc.path}: checksum mismatch (md5 {got}, published {MD5}); "
                    "delete it and run `stridelab data fetch cifar10`"
                )
            return [f"{loc.path.name}: md5 ok"]
        checked = []
        for name in (*TRAIN_BATCHES, TEST_BATCH):
            got = file_digest(loc.path / name)
            if got != BATCH_MD5[name]:
                raise DataError(
                    f"{loc.path / name}: checksum mismatch (md5 {got}, published "
                    f"{BATCH_MD5[name]}); delete {loc.path} and run `stridelab data fetch cifar10`"
                )
            checked.append(f"{name}: md5 ok")
        return checked

    def fetch(self, data_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
        """Download the archive (MD5-checked) and extract it safely; return the batch dir."""
        dest_dir = self.fetch_dir(data_dir)
        archive = dest_dir / ARCHIVE
        if not (archive.is_file() and file_digest(archive) == MD5):
            try:
                download(URLS, archive, MD5, progress)
            except DataNotFound as e:
                reasons = getattr(e, "failures", None) or [str(e)]
                raise DataNotFound(
                    f"could not download cifar10 ({reasons[0]}); when offline, place "
                    f"{ARCHIVE} (from {URLS[0]}) in {dest_dir}"
                ) from e
        safe_extract(archive, dest_dir)
        return dest_dir / BATCH_DIR


CIFAR10 = CifarSource()
