"""Safe readers for formats that can carry code: pickle and tar.

* :func:`restricted_load` unpickles only plain containers, numbers, strings, bytes and
  NumPy arrays. A pickle is a program; one that names any other callable (``os.system``,
  ``subprocess.Popen``, ``builtins.eval`` ...) is refused before anything runs.
* :func:`check_tar_members` / :func:`safe_extract` refuse an archive with an absolute
  path, a ``..`` component, a link or a device file *before* extracting anything.
"""

from __future__ import annotations

import io
import os
import pickle
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from stridelab.errors import DataError

# (module, name) pairs a pickle may look up. Containers, numbers, str and bytes have their
# own opcodes; these are what NumPy arrays, and bytes/sets written under protocols 2-3, need.
SAFE_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 out-of-band arrays
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocols 2-3 spell a bytes object
        *(
            (module, name)
            for module in ("builtins", "__builtin__")  # Python 3 and Python 2 spellings
            for name in ("set", "frozenset", "bytes", "bytearray", "complex")
        ),
    }
)


def _sized(ctor):
    """``bytes``/``bytearray`` that refuse a length argument: ``bytes(10**12)`` in a pickle
    would allocate (and zero) a terabyte; genuine pickles only pass contents."""

    def make(*args):
        if args and isinstance(args[0], int):
            raise pickle.UnpicklingError(f"{ctor.__name__}({args[0]}) would allocate by size")
        return ctor(*args)

    return make


_BUILTINS = {"bytes": _sized(bytes), "bytearray": _sized(bytearray)}


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`SAFE_GLOBALS`.

    ``source`` names the file in the error message.
    """

    def __init__(self, file, *, source: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise DataError(
                f"{self.source}: refused to unpickle {module}.{name}: only containers, numbers, "
                "strings, bytes and NumPy arrays are allowed; do not use this file"
            )
        if module.startswith(("numpy.core.", "numpy._core.")):
            # Resolved here rather than imported by name: NumPy 2 renamed numpy.core to
            # numpy._core, and the old name warns on import.
            import importlib

            import numpy as np

            core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
            submodule = importlib.import_module(f"{core}.{module.rsplit('.', 1)[1]}")
            return getattr(submodule, name)
        if name in _BUILTINS:
            return _BUILTINS[name]
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise DataError(f"{self.source}: refused a persistent reference in the pickle")


def restricted_load(data: bytes, source: str = "<pickle>", encoding: str = "bytes"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    ``encoding="bytes"`` reads Python 2 pickles (like the CIFAR batches) with their str
    keys as bytes. Corrupt or truncated data is a DataError naming ``source``.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source, encoding=encoding).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, UnicodeDecodeError) as e:
        raise DataError(f"{source}: not a readable pickle ({type(e).__name__}: {e})") from e


# ---- tar ------------------------------------------------------------------------------------

def _unsafe_reason(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if not name:
        return "an empty member name"
    if (
        name.startswith(("/", "\\"))
        or PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).is_absolute()
        or PureWindowsPath(name).drive
    ):
        return "an absolute path"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "a '..' component"
    if member.issym() or member.islnk():
        return f"a link (-> {member.linkname})"
    if not (member.isfile() or member.isdir()):
        return "a special file (device, FIFO or other)"
    return None


def check_tar_members(tar: tarfile.TarFile, source: str) -> list[tarfile.TarInfo]:
    """All members of ``tar``, or DataError if any is unsafe to extract."""
    try:
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(
            f"{source}: corrupt or truncated tar archive ({e}); download it again"
        ) from e
    for m in members:
        reason = _unsafe_reason(m)
        if reason:
            raise DataError(
                f"{source}: refused to extract: member {m.name!r} has {reason}; "
                "the archive is not a genuine data set"
            )
    return members


def open_tar(path: str | os.PathLike) -> tarfile.TarFile:
    """Open a (possibly compressed) tar archive, as a DataError if it is not one."""
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path}: not a readable tar archive ({e}); download it again") from e


def safe_extract(path: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract the regular files of a tar archive under ``dest``; return their paths.

    Every member is checked first (no absolute paths, no ``..``, no links, no devices);
    one bad member refuses the whole archive and nothing is written. Each file is written
    to a temporary name and renamed, so an interrupted extraction leaves no partial file.
    """
    dest = Path(dest)
    written = []
    with open_tar(path) as tar:
        members = check_tar_members(tar, str(path))
        dest.mkdir(parents=True, exist_ok=True)
        for m in members:
            target = dest.joinpath(*PurePosixPath(posixpath.normpath(m.name)).parts)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = None
            try:
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(m), out)
                os.replace(tmp, target)
                tmp = None
            except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
                raise DataError(
                    f"{path}: cannot extract {m.name!r} ({e}); download the archive again"
                ) from e
            finally:
                if tmp is not None:
                    Path(tmp).unlink(missing_ok=True)
            written.append(target)
    return written
