"""Run artifacts: the run directory, atomic writes and the context handed to each experiment.

A run is evidence: ``runs/<name>/`` holds ``config.json`` (the resolved config, seed, versions,
device, data set and its sha256), ``metrics.json``, ``figures/*.png``, ``log.txt``, ``notes.md``
and any model files. Every file is written to a temporary name in the same directory and then
renamed over the final name, so a run killed half-way never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stridelab.atomic import (  # noqa: F401  (re-exported for experiments)
    _to_jsonable,
    atomic_write,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

# ---------------------------------------------------------------------------------------------
# run directories


def new_run_dir(root: str | os.PathLike, name: str, *, force: bool = False) -> Path:
    """``root/name``, or ``root/name-2``, ``-3``... when it exists; ``force`` reuses ``root/name``.

    The directory is claimed with ``mkdir`` (atomic), so two runs started at once never share it.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if force:
        path = root / name
        path.mkdir(exist_ok=True)
        for stale in ("metrics.json", "log.txt", "notes.md", "status.json"):
            with contextlib.suppress(FileNotFoundError):
                (path / stale).unlink()
        return path
    for i in range(1, 10_000):
        path = root / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"too many runs named {name!r} in {root}")


def environment_record(device: str) -> dict[str, Any]:
    """Versions of the interpreter and the libraries that shape results, and the device."""
    record: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "device": device,
    }
    for module in ("scipy", "sklearn", "torch", "matplotlib"):
        mod = sys.modules.get(module)
        if mod is None:
            with contextlib.suppress(ImportError):
                mod = __import__(module)
        record[module] = getattr(mod, "__version__", None)
    from stridelab import __version__

    record["stridelab"] = __version__
    torch = sys.modules.get("torch")
    if torch is not None and device == "cuda" and torch.cuda.is_available():
        record["cuda_device"] = torch.cuda.get_device_name(0)
        record["cuda"] = torch.version.cuda
    return record


# ---------------------------------------------------------------------------------------------
# the context an experiment receives

class RunContext:
    """Where an experiment writes its artifacts, and what it was asked to do.

    Attributes: ``out`` (run directory), ``seed``, ``device`` ("cpu"/"cuda"), ``quick``,
    ``dataset`` (the ``--dataset`` value or None), ``data_dir``, ``is_main`` (False on
    non-zero distributed ranks, which write nothing).
    """

    def __init__(self, out: Path, *, name: str, config: Any, seed: int, device: str,
                 quick: bool = False, dataset: str | None = None, data_dir: str | None = None,
                 is_main: bool = True, echo: bool = True, console=None):
        self.out = Path(out)
        self.name = name
        self.config = config
        self.seed = seed
        self.device = device
        self.quick = quick
        self.dataset = dataset
        self.data_dir = data_dir
        self.is_main = is_main
        self.echo = echo
        self.console = console
        self.data_record: dict[str, Any] = {}
        self._log_lines: list[str] = []
        self._notes: list[str] = []
        self._figures: list[dict[str, str]] = []
        self._t0 = time.perf_counter()
        if self.is_main:
            (self.out / "figures").mkdir(parents=True, exist_ok=True)
            self.write_config()

    # -- records ---------------------------------------------------------------------------
    def write_config(self) -> None:
        if not self.is_main:
            return
        record = {
            "experiment": self.name,
            "config": self.config,
            "seed": self.seed,
            "quick": self.quick,
            "dataset": self.data_record or None,
            "environment": environment_record(self.device),
            "command": " ".join(sys.argv),
        }
        write_json_atomic(self.out / "config.json", record)

    def load_dataset(self, family: str = "mnist", name: str | None = None):
        """Load the data set asked for (``--dataset``), or the best one of ``family`` here.

        Records the name, source and sha256 in ``config.json``.
        """
        from stridelab.data import DATASET_NAMES, FAMILIES, choose_dataset, load_dataset

        requested = name or self.dataset
        if name is None and requested in DATASET_NAMES \
                and requested not in FAMILIES.get(family, DATASET_NAMES):
            # `run all --dataset fashion-mnist` must not hand fashion-mnist to a CIFAR study
            self.log(f"--dataset {requested} does not fit this experiment ({family} data); "
                     f"using the default {family} data set")
            requested = None
        resolved, notice = choose_dataset(requested, family=family, data_dir=self.data_dir)
        if notice:
            self.log(notice)
        ds = load_dataset(resolved, data_dir=self.data_dir)
        self.data_record = {"name": ds.name, "source": str(ds.source), "sha256": ds.sha256,
                            "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test))}
        self.write_config()
        self.log(f"data: {ds.name} ({len(ds.y_train)} train / {len(ds.y_test)} test, "
                 f"sha256 {ds.sha256[:12]}…)")
        return ds

    def log(self, message: str) -> None:
        """Append a line to ``log.txt`` (and echo it to the console)."""
        stamp = f"[{time.perf_counter() - self._t0:8.1f}s] {message}"
        if self.echo and self.console is not None:
            self.console.print(f"  [dim]{self.name}[/dim] {message}", highlight=False)
        if not self.is_main:
            return
        self._log_lines.append(stamp)
        write_text_atomic(self.out / "log.txt", "\n".join(self._log_lines) + "\n")

    def note(self, markdown: str) -> None:
        """A paragraph for the report (Markdown), collected in ``notes.md``."""
        self._notes.append(markdown.strip())
        if self.is_main:
            write_text_atomic(self.out / "notes.md", "\n\n".join(self._notes) + "\n")

    # -- files -----------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """A path inside the run directory (write it atomically: see :func:`atomic_write`)."""
        path = self.out / name
        if self.is_main:  # other ranks write nothing, so they make no directories either
            path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_text(self, name: str, text: str) -> Path | None:
        return write_text_atomic(self.path(name), text) if self.is_main else None

    def write_json(self, name: str, obj: Any) -> Path | None:
        return write_json_atomic(self.path(name), obj) if self.is_main else None

    def savefig(self, fig, name: str, caption: str = "", dpi: int = 110) -> Path | None:
        """Save a matplotlib figure as ``figures/<name>.png`` (atomically) and close it."""
        import matplotlib.pyplot as plt

        try:
            if not self.is_main:
                return None
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
            path = write_bytes_atomic(self.out / "figures" / f"{name}.png", buf.getvalue())
            self._figures = [f for f in self._figures if f["file"] != path.name]
            self._figures.append({"file": path.name, "caption": caption})
            write_json_atomic(self.out / "figures" / "index.json", self._figures)
            return path
        finally:
            plt.close(fig)

    def save_torch(self, obj: Any, name: str) -> Path | None:
        """``torch.save`` to ``name`` in the run directory, atomically."""
        if not self.is_main:
            return None
        import torch

        with atomic_write(self.path(name), "wb") as fh:
            torch.save(obj, fh)
        return self.out / name

    # -- progress --------------------------------------------------------------------------
    def progress(self, iterable: Iterable, total: int | None = None,
                 description: str = "") -> Iterator:
        """Iterate with a rich progress bar (silent when not on a terminal)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        enabled = self.echo and self.is_main and self.console is not None \
            and self.console.is_terminal
        if not enabled:
            yield from iterable
            return
        columns = (TextColumn(f"  {self.name} {description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            for item in iterable:
                yield item
                bar.advance(task)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0
