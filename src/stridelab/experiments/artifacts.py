"""Run artifacts: the run directory, atomic writes and the context handed to each experiment.

A run is evidence: ``runs/<name>/`` holds ``config.json`` (the resolved config, seed, versions,
device, data set and its sha256), ``metrics.json``, ``figures/*.png``, ``log.txt``, ``notes.md``
and any model files. Every file is written to a temporary name in the same directory and then
renamed over the final name, so a run killed half-way never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stridelab.atomic import (  # noqa: F401  (re-exported for experiments)
    _to_jsonable,
    atomic_write,
    directory_problem,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from stridelab.errors import ConfigError, StridelabError
from stridelab.torch.distributed import broadcast_object  # (imports no torch)

# ---------------------------------------------------------------------------------------------
# run directories


def check_out_dir(root: str | os.PathLike) -> Path:
    """``root`` (``--out``) as a Path, refused with one line when runs cannot be written there.

    Nothing is created: an absent root must be creatable, an existing one a writable directory.
    """
    problem = directory_problem(root)
    if problem is not None:
        for named in (f"{Path(root)} is", f"cannot create {Path(root)}:"):  # say "it", once
            if problem.startswith(named):
                problem = problem.replace(str(Path(root)), "it", 1)
        raise ConfigError(f"--out {root}: {problem}; give a directory where runs can be written")
    return Path(root)


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


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def environment_record(device: str) -> dict[str, Any]:
    """Versions of the interpreter and the libraries that shape results, the machine and device.

    Machine: ``cpu`` (model name), ``cpu_count`` (logical cores), ``torch_threads`` (intra-op
    threads, when PyTorch is loaded) and, on CUDA, ``cuda_device``.
    """
    record: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "device": device,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
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
    if torch is not None:
        record["torch_threads"] = torch.get_num_threads()
    if torch is not None and device == "cuda" and torch.cuda.is_available():
        record["cuda_device"] = torch.cuda.get_device_name(0)
        record["cuda"] = torch.version.cuda
    return record


def read_finished_run(run_dir: Path, name: str) -> dict[str, Any]:
    """``{"run", "config", "metrics"}`` of a finished (status ok) run of ``name`` in ``run_dir``.

    Raises :class:`ConfigError` saying what is wrong when it is not one.
    """
    records = {}
    for part in ("status", "config", "metrics"):
        path = run_dir / f"{part}.json"
        try:
            records[part] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"{run_dir}: not a finished {name} run ({part}.json: "
                              f"{type(exc).__name__})") from None
        if not isinstance(records[part], dict):
            raise ConfigError(f"{run_dir}: {part}.json is not a JSON object")
    status = records["status"]
    if status.get("experiment") != name or status.get("status") != "ok":
        raise ConfigError(f"{run_dir}: not a finished {name} run (it is "
                          f"{status.get('experiment')!r}, status {status.get('status')!r})")
    return {"run": str(run_dir), "config": records["config"], "metrics": records["metrics"]}


# ---------------------------------------------------------------------------------------------
# the context an experiment receives

class RunContext:
    """Where an experiment writes its artifacts, and what it was asked to do.

    Attributes: ``out`` (run directory), ``seed``, ``device`` ("cpu"/"cuda"), ``quick`` (True
    for a quick or smoke run), ``smoke``, ``dataset`` (the ``--dataset`` value or None),
    ``data_dir``, ``is_main`` (False on non-zero distributed ranks, which write nothing).

    ``dataset_fallback`` (set by ``run all``): a ``--dataset`` that does not fit the family an
    experiment loads is replaced by the family's default, with a log line; otherwise it is a
    :class:`ConfigError`. ``run_dependency(name) -> RunResult`` is how :meth:`dependency`
    runs a missing dependency (the runner passes it).
    """

    def __init__(self, out: Path, *, name: str, config: Any, seed: int, device: str,
                 quick: bool = False, dataset: str | None = None, data_dir: str | None = None,
                 is_main: bool = True, echo: bool = True, console=None, smoke: bool = False,
                 overrides: dict[str, str] | None = None, dataset_fallback: bool = False,
                 depends: tuple[str, ...] = (),
                 run_dependency: Callable[[str], Any] | None = None):
        self.out = Path(out)
        self.name = name
        self.config = config
        self.seed = seed
        self.device = device
        self.quick = quick or smoke
        self.smoke = smoke
        self.dataset = dataset
        self.data_dir = data_dir
        self.is_main = is_main
        self.echo = echo
        self.console = console
        self.overrides = dict(overrides or {})
        self.dataset_fallback = dataset_fallback
        self.depends = tuple(depends)
        self._run_dependency = run_dependency
        self.dependencies: dict[str, dict[str, Any]] = {}
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
            "mode": self.mode,
            "overrides": self.overrides,
            "dataset": self.data_record or None,
            "dependencies": self.dependencies,
            "environment": environment_record(self.device),
            "command": " ".join(sys.argv),
        }
        write_json_atomic(self.out / "config.json", record)

    @property
    def mode(self) -> str:
        """"smoke", "quick" or "full": which registered configuration this run started from."""
        return "smoke" if self.smoke else "quick" if self.quick else "full"

    def load_dataset(self, family: str = "mnist", name: str | None = None):
        """Load the data set asked for (``--dataset``), or the best one of ``family`` here.

        Records the name, source and sha256 in ``config.json``.
        """
        from stridelab.data import DATASET_NAMES, FAMILIES, choose_dataset, load_dataset

        requested = name or self.dataset
        if name is None and requested in DATASET_NAMES \
                and requested not in FAMILIES.get(family, DATASET_NAMES):
            if not self.dataset_fallback:
                raise ConfigError(f"--dataset {requested} does not fit {self.name}, which reads "
                                  f"{family} data; choose one of: "
                                  f"{', '.join(FAMILIES.get(family, ()))}")
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

    # -- dependencies ----------------------------------------------------------------------
    def dependency(self, name: str, run: str | os.PathLike | None = None, *,
                   accept: Callable[[dict], bool] | None = None) -> dict:
        """The metrics of experiment ``name``, which this one declared in ``register(depends=)``.

        - ``run`` given (e.g. from a config field such as ``--set svc_run=DIR``): that run
          directory, which must hold a finished (status ok) run of ``name``;
        - else the newest finished run of ``name`` (``name``, ``name-2``, ...) under this run's
          ``--out`` root, made in the same mode (full/quick/smoke) on the same data (the sha256
          of the data set this run has loaded; call :meth:`load_dataset` first) and, when
          ``accept`` is given, with ``accept(metrics)`` true;
        - else ``name`` is run now, under the same root, seed, mode, device and data set, and
          its metrics are returned (whether or not ``accept`` holds: check them).

        The run used is recorded under ``"dependencies"`` in ``config.json``. Under torchrun,
        rank 0 looks for the run and tells the others; a missing one is run by every rank.
        """
        if name not in self.depends:
            raise ValueError(f"{self.name}: dependency {name!r} is not declared; add it to "
                             f"register(..., depends=({name!r},))")
        if run is not None:
            found = read_finished_run(Path(run), name)
            source = "given"
        else:
            found = self._find_dependency(name, accept) if self.is_main else None
            found = broadcast_object(found)  # rank 0's answer on every rank
            source = "found"
        if found is None:
            if self._run_dependency is None:
                raise StridelabError(f"{self.name} needs a finished {name} run under "
                                     f"{self.out.parent}; run `stridelab run {name}` first")
            self.log(f"no finished {name} run on this data in {self.out.parent}: running it")
            result = self._run_dependency(name)
            if result.status != "ok":
                raise StridelabError(f"{self.name} needs {name}, whose run {result.status}: "
                                     f"{result.reason}")
            found = {"run": str(result.out) if result.out else "", "metrics": result.metrics}
            source = "ran"
        self.dependencies[name] = {"run": found["run"], "source": source}
        self.write_config()
        self.log(f"{name}: metrics from {found['run']} ({source})")
        return dict(found["metrics"])

    def _find_dependency(self, name: str, accept: Callable[[dict], bool] | None) -> dict | None:
        """The newest finished run of ``name`` under the root that matches this run."""
        pattern = re.compile(rf"{re.escape(name)}(-\d+)?")
        sha = (self.data_record or {}).get("sha256")
        candidates = []
        for run_dir in self.out.parent.iterdir() if self.out.parent.is_dir() else ():
            if not pattern.fullmatch(run_dir.name) or run_dir == self.out:
                continue
            try:
                found = read_finished_run(run_dir, name)
            except StridelabError:
                continue
            config = found["config"]
            data = config.get("dataset") or {}
            if config.get("mode", "quick" if config.get("quick") else "full") != self.mode:
                continue
            if sha is not None and data.get("sha256") != sha:
                continue
            if sha is None and self.dataset is not None and data.get("name") != self.dataset:
                continue
            if accept is not None and not accept(found["metrics"]):
                continue
            candidates.append(((run_dir / "metrics.json").stat().st_mtime, run_dir.name, found))
        return max(candidates, key=lambda c: c[:2])[2] if candidates else None

    def log(self, message: str, *, show: bool = True) -> None:
        """Append a line to ``log.txt`` (and echo it to the console unless ``show=False``)."""
        stamp = f"[{time.perf_counter() - self._t0:8.1f}s] {message}"
        if show and self.echo and self.console is not None:
            from rich.markup import escape

            self.console.print(f"  [dim]{self.name}[/dim] {escape(message)}", highlight=False)
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

    def save_array(self, array: np.ndarray, name: str) -> Path | None:
        """``np.save`` (no pickle) to ``name`` in the run directory, atomically."""
        if not self.is_main:
            return None
        buf = io.BytesIO()
        np.save(buf, np.asarray(array), allow_pickle=False)
        return write_bytes_atomic(self.path(name), buf.getvalue())

    def save_arrays(self, name: str, **arrays: np.ndarray) -> Path | None:
        """``np.savez_compressed`` of ``arrays`` (numbers or strings: nothing that needs a
        pickle to read) to ``name`` in the run directory, atomically."""
        if not self.is_main:
            return None
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        assert all(a.dtype != object for a in arrays.values()), "object arrays need a pickle"
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return write_bytes_atomic(self.path(name), buf.getvalue())

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
