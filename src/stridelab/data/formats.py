"""Readers for the on-disk formats: IDX (raw or gzip) and Keras-style ``.npz``.

Every reader checks what it reads and raises :class:`~stridelab.errors.DataError`
naming the file and the problem; nothing is ever returned half-read.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from stridelab.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The magic numbers of the two MNIST file kinds: type 0x08 (ubyte), 3 or 1 dimensions.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's contents, decompressed when it is gzip (sniffed, not guessed from the name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e}); check the file") from e
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise DataError(
            f"{path}: truncated gzip file (the compressed stream ends early); download it again"
        ) from e
    except (OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip file ({e}); download it again") from e


def parse_idx(buf: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode one IDX buffer into a native-endian array of the shape its header states.

    Raises DataError for a bad magic number, a truncated body or trailing bytes.
    """
    if len(buf) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(buf)} bytes, no header)")
    zero, type_code, ndim = struct.unpack(">HBB", buf[:4])
    magic = int.from_bytes(buf[:4], "big")
    if zero != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}; this is not an IDX file "
            "(expected 0x00000803 for images or 0x00000801 for labels)"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{path}: truncated IDX header ({len(buf)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(buf) - header
    if body < expected:
        raise DataError(
            f"{path}: truncated file: the header promises shape {shape} ({expected} bytes of data) "
            f"but only {body} bytes follow; download it again"
        )
    if body > expected:
        raise DataError(
            f"{path}: {body - expected} unexpected bytes after the {expected} bytes of data "
            f"for shape {shape}; the file is corrupt"
        )
    X = np.frombuffer(buf, dtype=dtype, offset=header).reshape(shape)
    return X.astype(dtype.newbyteorder("="))


def read_idx(
    path: str | os.PathLike,
    magic: int | None = None,
    item_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Read an IDX file (raw or gzip).

    Parameters
    ----------
    path : path-like
    magic : int, optional
        Required magic number, e.g. :data:`IDX_IMAGES_MAGIC`; a different one is a DataError.
    item_shape : tuple of int, optional
        Required shape of one item, e.g. ``(28, 28)`` for MNIST images, ``()`` for labels.

    Returns
    -------
    ndarray of shape (n_items, *item_shape)
    """
    buf = read_bytes(path)
    if magic is not None and len(buf) >= 4 and int.from_bytes(buf[:4], "big") != magic:
        found = int.from_bytes(buf[:4], "big")
        kind = {IDX_IMAGES_MAGIC: "an image file", IDX_LABELS_MAGIC: "a label file"}
        hint = f" (that is {kind[found]})" if found in kind else ""
        raise DataError(
            f"{path}: wrong magic number 0x{found:08x}{hint}; expected 0x{magic:08x} "
            f"({kind.get(magic, 'IDX')}); check that the file has the right name"
        )
    X = parse_idx(buf, path)
    if item_shape is not None and X.shape[1:] != tuple(item_shape):
        raise DataError(
            f"{path}: items of shape {X.shape[1:]}, expected {tuple(item_shape)}; "
            "this file belongs to another data set"
        )
    return X


def write_idx(path: str | os.PathLike, X: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``X`` as an IDX file (gzip when ``compress`` or when the name ends in ``.gz``)."""
    path = Path(path)
    X = np.asarray(X)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = X.dtype.newbyteorder("=")
    if native not in codes:
        raise DataError(f"{path}: IDX cannot store dtype {X.dtype}")
    header = struct.pack(">HBB", 0, codes[native], X.ndim) + struct.pack(f">{X.ndim}I", *X.shape)
    buf = header + X.astype(native.newbyteorder(">")).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        buf = gzip.compress(buf, mtime=0)
    path.write_bytes(buf)
    return path


def read_npz(path: str | os.PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays from an ``.npz`` archive without ever unpickling.

    Raises DataError for a file that is not a readable npz, a missing key, or an
    object array (which would need pickle to load).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)}; an npz with "
                    f"{', '.join(keys)} is expected (found {', '.join(npz.files) or 'none'})"
                )
            return {k: npz[k] for k in keys}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e}); the file is corrupt") from e
    except ValueError as e:
        raise DataError(f"{path}: cannot read array ({e}); the file is corrupt or unsafe") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e}); check the file") from e
