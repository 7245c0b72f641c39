"""Checksums and verified downloads.

A download streams into a temporary file beside its destination and is renamed to
the final name only after its MD5 matches, so a corrupted or interrupted download
never lands under the name a loader looks for. Mirrors are tried in order.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from stridelab.errors import DataError, DataNotFound

CHUNK = 1 << 16  # bytes read per step, for hashing and for downloads
USER_AGENT = "stridelab (+https://pypi.org/project/stridelab/)"


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (``"md5"`` or ``"sha256"``), read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_md5(path: str | os.PathLike) -> str:
    return file_digest(path, "md5")


def _progress_bar():
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


def _fetch_one(url: str, tmp: Path, progress: bool, timeout: float) -> str:
    """Stream ``url`` into ``tmp``; return the MD5 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    h = hashlib.md5()
    with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        bar = _progress_bar() if progress else None
        try:
            if bar is not None:
                bar.start()
                task = bar.add_task(url.rsplit("/", 1)[-1], total=total)
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                h.update(chunk)
                if bar is not None:
                    bar.update(task, advance=len(chunk))
        finally:
            if bar is not None:
                bar.stop()
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest()


def download(
    urls: str | Sequence[str],
    dest: str | os.PathLike,
    md5: str,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download a file, verify its MD5, and only then move it to ``dest``.

    Parameters
    ----------
    urls : str or sequence of str
        One URL, or mirrors tried in order until one delivers a file with the right MD5.
    dest : path-like
        Final file name; its directory is created. An existing file is replaced only by
        a verified download.
    md5 : str
        Expected hex MD5 of the file.
    progress : bool
        Show a rich progress bar.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DataError
        Every mirror answered but at least one delivered a file whose MD5 does not match.
    DataNotFound
        No mirror could be reached (offline, or the file is gone).
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    if not urls:
        raise ValueError("download() needs at least one URL")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    md5 = md5.lower()
    failures: list[str] = []
    mismatch = False
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            got = _fetch_one(url, tmp, progress, timeout)
            if got != md5:
                mismatch = True
                failures.append(f"{url}: checksum mismatch (md5 {got}, expected {md5})")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as e:
            http = isinstance(e, urllib.error.HTTPError)
            reason = e if http else getattr(e, "reason", None) or e
            failures.append(f"{url}: {reason}")
        finally:
            tmp.unlink(missing_ok=True)
    detail = "; ".join(failures)
    if mismatch:
        raise DataError(
            f"{dest.name}: no mirror delivered a file with md5 {md5} ({detail}); "
            "try again later or place a good copy at " + str(dest)
        )
    err = DataNotFound(
        f"could not download {dest.name} ({detail}); when offline, place the file at {dest}"
    )
    err.failures = failures  # one "url: reason" per mirror, for callers that rephrase
    raise err
