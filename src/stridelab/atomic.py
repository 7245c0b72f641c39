"""Atomic file writes: a temporary file in the same directory, then a rename.

A process killed half-way leaves the old file (or none), never a half-written one.
Imports NumPy only, so the report and the data layer can use it without PyTorch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; on success rename it to ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def _to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no NaN/Inf
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(_to_jsonable(obj), indent=2, sort_keys=False) + "\n")


# ---------------------------------------------------------------------------------------------
# can a directory be written in?

_WHY_NOT_WRITABLE = {
    getattr(errno, name): why for name, why in (
        ("EACCES", "permission denied"), ("EPERM", "permission denied"),
        ("EROFS", "read-only file system"), ("ENOSPC", "no space left"),
        ("EDQUOT", "disk quota exceeded")) if hasattr(errno, name)
}


def _probe(directory: Path) -> str | None:
    """Why no file can be created in the existing ``directory`` (None: one can)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return None
    except OSError as exc:
        return _WHY_NOT_WRITABLE.get(exc.errno, "it accepts no new files")


def directory_problem(path: str | os.PathLike) -> str | None:
    """What stops ``path`` from being used (and, if absent, created) as a directory to write in.

    Returns None when it can be, else one phrase naming the path at fault, e.g.
    "runs.txt is a file, not a directory" or "cannot create /proc/x: /proc is not writable
    (it accepts no new files)". Creates nothing: a probe file is made and removed at once.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            return f"{path} is a file, not a directory"
        why = _probe(path)
        return None if why is None else f"{path} is not writable ({why})"
    if path.is_symlink():
        return f"{path} is a broken symbolic link"
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {path}: {parent} is a file, not a directory"
    why = _probe(parent)
    return None if why is None else f"cannot create {path}: {parent} is not writable ({why})"
