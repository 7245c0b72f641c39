"""Writing figures for worked answers: validated path, atomic replace."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stridelab.errors import ConfigError

FIGURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def check_figure_path(path: str | os.PathLike) -> Path:
    """Validate the extension early, before any work is done."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ConfigError(
            f"cannot write a figure to {str(p)!r}: use a file name ending in "
            + ", ".join("." + f for f in FIGURE_FORMATS)
        )
    return p


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` atomically (a temporary file in the same folder, then rename).

    A reader never sees a half-written image, and an interrupted run leaves no partial file.
    """
    import matplotlib.pyplot as plt

    p = check_figure_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=p.suffix.lower().lstrip("."), bbox_inches="tight", dpi=120)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return p
