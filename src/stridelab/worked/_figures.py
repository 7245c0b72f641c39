"""Writing figures for worked answers: validated path, atomic replace."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stridelab.errors import ConfigError

FIGURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def _shown(p: Path | str) -> str:
    s = str(p)
    return repr(s) if len(s) <= 80 else repr(s[:80] + "…")


def check_figure_path(path: str | os.PathLike) -> Path:
    """Validate a figure path before any work is done; return it as a :class:`Path`.

    Refused with one line each (:class:`ConfigError`): an extension that is not a figure
    format; a path that is a folder; a path under a regular file (``FILE/fig.png``); a folder
    where no file can be created (``/proc/x/fig.png``, a read-only mount); a name the system
    cannot take (too long, a NUL byte). Missing folders are fine: :func:`save_figure` makes
    them. The check writes and removes one empty temporary file in the nearest existing folder.
    """
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ConfigError(
            f"cannot write a figure to {_shown(p)}: use a file name ending in "
            + ", ".join("." + f for f in FIGURE_FORMATS)
        )
    try:
        if p.is_dir():
            raise ConfigError(f"cannot write a figure to {_shown(p)}: it is a folder")
        folder = p.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise ConfigError(
                f"cannot write a figure to {_shown(p)}: {_shown(folder)} is a file, not a folder"
            )
        fd, probe = tempfile.mkstemp(prefix=".stridelab-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except ConfigError:
        raise
    except ValueError:  # an embedded NUL byte
        raise ConfigError(f"cannot write a figure to {_shown(p)}: not a valid file name") from None
    except OSError as e:
        where = f" in {_shown(folder)}" if "folder" in locals() else ""
        raise ConfigError(
            f"cannot write a figure to {_shown(p)}: no file can be created{where} "
            f"({e.strerror or e.__class__.__name__})"
        ) from None
    return p


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` atomically (a temporary file in the same folder, then rename).

    A reader never sees a half-written image, and an interrupted run leaves no partial file.
    A path that cannot be written is a one-line :class:`ConfigError`.
    """
    import matplotlib.pyplot as plt

    try:
        p = check_figure_path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        except OSError as e:
            raise ConfigError(
                f"cannot write a figure to {_shown(p)} ({e.strerror or e.__class__.__name__})"
            ) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fig.savefig(fh, format=p.suffix.lower().lstrip("."), bbox_inches="tight", dpi=120)
            os.replace(tmp, p)
        except BaseException as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(e, OSError):
                raise ConfigError(
                    f"cannot write a figure to {_shown(p)} ({e.strerror or e.__class__.__name__})"
                ) from None
            raise
    finally:
        plt.close(fig)
    return p
