"""What the notebook reads, copied into the hand-in folder, so that the folder stands alone.

The notebook reads nothing outside its own folder; the solve puts there:

- ``runs/<key>.json``: each run a task used — the experiment, mode, seed, resolved
  configuration, the data set (name and sha256), its metrics and, when the run wrote one, its
  per-epoch history (``<key>`` is the experiment's name, or ``<name>-<task id>`` when the sheet
  runs one experiment with different settings);
- ``runs/<key>/``: the figures and texts the task shows, as the run drew and wrote them;
- ``data/mnist_test_sample.npz``: the first test images of the data set the runs used (uint8
  ``X`` of shape (N, 28, 28) and labels ``y``), where a program's cell draws from data;
- ``data/blobs.csv``: the 2-D points k-means is shown on;
- models the notebook loads that the sheet does not name (e.g. ``prob4_cnn.pt``).

Each file is recorded in the :class:`~stridelab.sheets.handin.HandIn` with what it is.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from stridelab.atomic import write_bytes_atomic, write_text_atomic
from stridelab.sheets.handin import HandIn
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.results import RunRecord
from stridelab.sheets.run import figure_entry, inside

__all__ = ["run_key", "add_run", "add_mnist_sample", "add_blobs", "add_run_file",
           "SAMPLE", "BLOBS", "N_SAMPLE"]

SAMPLE = "data/mnist_test_sample.npz"
BLOBS = "data/blobs.csv"
N_SAMPLE = 500  # test images in the sample: enough for a confusion matrix and a scatter plot


def run_key(sheet: Sheet, task: Task) -> str:
    """The name of ``task``'s run record in the folder (``runs/<key>.json``)."""
    settings = {tuple(sorted(t.set.items())) for t in sheet.tasks
                if t.kind == "experiment" and t.name == task.name}
    return task.name if len(settings) == 1 else f"{task.name}-{task.id}"


def add_run(hand_in: HandIn, key: str, task: Task, record: RunRecord) -> dict:
    """Write ``runs/<key>.json`` (once per run) and copy the task's figures and texts.

    Returns the paths (relative to the folder) of the task's figures and texts.
    """
    assert record.run_dir is not None and record.status == "ok"
    run_dir = Path(record.run_dir)
    name = f"runs/{key}.json"
    if name not in hand_in.entries:
        record_json = {
            "experiment": task.name,
            "mode": record.config.get("mode"),
            "seed": record.config.get("seed"),
            "config": record.config.get("config", {}),
            "dataset": record.config.get("dataset"),
            "metrics": record.metrics,
        }
        history = inside(run_dir, "history.json")
        if history is not None:
            record_json["history"] = json.loads(history.read_text(encoding="utf-8"))
        hand_in.path("runs").mkdir(exist_ok=True)
        write_text_atomic(hand_in.path(name), json.dumps(record_json, indent=1, default=str))
        hand_in.record(name, f"the `{task.name}` run's configuration, data set and metrics")
    figures, texts = [], []
    for fig in task.figures:
        entry = figure_entry(record, fig) or {"file": fig}
        figures.append(_copy(hand_in, run_dir / "figures", entry["file"], key,
                             f"a figure of the `{task.name}` run"))
    for text in task.texts:
        texts.append(_copy(hand_in, run_dir, text, key, f"a text the `{task.name}` run wrote"))
    return {"figures": [f for f in figures if f], "texts": [t for t in texts if t]}


def _copy(hand_in: HandIn, root: Path, file: str, key: str, what: str) -> str | None:
    src = inside(root, file)
    if src is None:
        return None
    name = f"runs/{key}/{Path(file).name}"
    if name not in hand_in.entries:
        dest = hand_in.path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        hand_in.record(name, what)
    return name


def add_run_file(hand_in: HandIn, record: RunRecord, run_file: str, name: str,
                 what: str) -> str | None:
    """Copy ``run_file`` of the run into the folder as ``name`` (a model the notebook loads)."""
    if name in hand_in.entries:
        return name
    src = inside(Path(record.run_dir), run_file) if record.run_dir else None
    if src is None:
        return None
    hand_in.add_copy(name, src, what)
    return name


def add_mnist_sample(hand_in: HandIn, dataset: str, data_dir: str | None) -> str | None:
    """``data/mnist_test_sample.npz``: the first :data:`N_SAMPLE` test images of ``dataset``."""
    if SAMPLE in hand_in.entries:
        return SAMPLE
    import numpy as np

    from stridelab.data import load_dataset
    from stridelab.errors import StridelabError

    try:
        ds = load_dataset(dataset, data_dir)
    except StridelabError:
        return None
    X, y = np.asarray(ds.X_test[:N_SAMPLE]), np.asarray(ds.y_test[:N_SAMPLE])
    if X.ndim != 3 or X.dtype != np.uint8:
        return None
    buf = io.BytesIO()
    np.savez_compressed(buf, X=X, y=y.astype(np.int64))
    hand_in.path("data").mkdir(exist_ok=True)
    write_bytes_atomic(hand_in.path(SAMPLE), buf.getvalue())
    hand_in.record(SAMPLE, f"the first {len(X)} test images of {dataset} (uint8 X, labels y), "
                           "which the notebook's figures are drawn from")
    return SAMPLE


def add_blobs(hand_in: HandIn, data: str) -> str | None:
    """``data/blobs.csv``: the points the k-means runs used (``data``: their config's data)."""
    if BLOBS in hand_in.entries:
        return BLOBS
    from stridelab.data.blobs import load_points
    from stridelab.errors import StridelabError

    try:
        X, y, _ = load_points(data)
    except (StridelabError, OSError, ValueError):
        return None
    rows = ["x0,x1" + (",label" if y is not None else "")]
    for i, point in enumerate(X):
        rows.append(",".join(repr(float(v)) for v in point)
                    + (f",{int(y[i])}" if y is not None else ""))
    hand_in.path("data").mkdir(exist_ok=True)
    write_text_atomic(hand_in.path(BLOBS), "\n".join(rows) + "\n")
    hand_in.record(BLOBS, f"the {len(X)} points k-means is fitted to ({data})")
    return BLOBS
