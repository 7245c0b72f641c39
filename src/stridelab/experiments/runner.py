"""Run one experiment, or all of them, and record the outcome in the run directory.

Everything the user asked for is checked before a run directory is made
(:func:`check_request`): the experiment name, every ``--set`` value against its type and
bounds, the data set against the experiment's data family, ``--data-dir``, ``--out`` and
the device. A :class:`ConfigError` raised later, by a study's own check inside ``measure``,
removes the run directory the runner had just made, so a refused request leaves nothing
behind. A failure is written to ``log.txt`` and returned; the caller prints its reason
(once).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, DataNotFound, StridelabError
from stridelab.experiments.artifacts import (
    RunContext,
    check_out_dir,
    new_run_dir,
    write_json_atomic,
)
from stridelab.experiments.registry import Experiment, all_experiments, get
from stridelab.torch.distributed import launched_world_size, rank  # (imports no torch)


@dataclass
class RunResult:
    name: str
    status: str  # "ok", "skipped" or "failed"
    out: Path | None  # the run directory (None when nothing was kept, or on other ranks)
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why it was skipped or failed
    user_error: bool = False  # failed on something the user asked for (a bad --dataset, file...)
    lessons: list[dict] = field(default_factory=list)  # Lesson.judge records (lessons.json)


def resolve_device(requested: str = "auto") -> str:
    """``auto`` picks CUDA when a GPU is visible, else the CPU; ``cuda`` without a GPU is an error."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device {requested}: expected auto, cpu or cuda")
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise ConfigError("--device cuda: no CUDA device is visible; use --device cpu or auto")
    return "cpu"


# ---------------------------------------------------------------------------------------------
# what was asked for, checked before anything is made


def check_dataset(experiment: Experiment, dataset: str | None, *, fallback: bool = False) -> None:
    """Refuse an unknown ``--dataset``, or (unless ``fallback``, as in ``run all``) one outside
    the data families the experiment reads (``register(needs=...)``)."""
    if dataset is None:
        return
    from stridelab.data import DATASET_NAMES, FAMILIES

    if dataset not in DATASET_NAMES:
        raise ConfigError(f"--dataset {dataset}: unknown; choose one of: "
                          f"{', '.join(DATASET_NAMES)}")
    if fallback:
        return
    families = experiment.families()
    if not families:
        raise ConfigError(f"--dataset {dataset}: {experiment.name} reads no data set; "
                          "run it without --dataset")
    fits = [name for family in families for name in FAMILIES.get(family, (family,))]
    if dataset not in fits:
        raise ConfigError(f"--dataset {dataset} does not fit {experiment.name}, which reads "
                          f"{' or '.join(families)} data; choose one of: "
                          f"{', '.join(dict.fromkeys(fits))}")


def check_request(experiment: Experiment, *, quick: bool = False, smoke: bool = False,
                  overrides: dict[str, str] | None = None, dataset: str | None = None,
                  data_dir: str | os.PathLike | None = None, out: str | os.PathLike = "runs",
                  device: str = "auto", dataset_fallback: bool = False):
    """Everything about a run request that can be checked without running it.

    Returns ``(config, device)``: the resolved config and the resolved device. Raises
    :class:`ConfigError` (one line) for a bad value, data set, data dir, ``--out`` or device.
    Creates nothing.
    """
    from stridelab.data import check_data_dir

    config = experiment.make_config(quick=quick, smoke=smoke, overrides=overrides)
    check_dataset(experiment, dataset, fallback=dataset_fallback)
    check_data_dir(data_dir)
    check_out_dir(out)
    return config, resolve_device(device)


@contextlib.contextmanager
def _rng_state_kept():
    """Restore Python's, NumPy's and PyTorch's random state after the block."""
    import random

    import numpy as np
    import torch

    cuda = torch.cuda.is_available()
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
              torch.cuda.get_rng_state_all() if cuda else None)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda:
            torch.cuda.set_rng_state_all(states[3])


def _remove_new_run(run_dir: Path, root: Path, root_existed: bool) -> None:
    """Remove a run directory made for a request that was then refused (and a new empty root)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    if not root_existed:
        with contextlib.suppress(OSError):
            root.rmdir()  # only if empty


# ---------------------------------------------------------------------------------------------
# one run


def run_experiment(name: str | Experiment, *, quick: bool = False, smoke: bool = False,
                   dataset: str | None = None, data_dir: str | None = None,
                   out: str | os.PathLike = "runs", seed: int = 0, device: str = "auto",
                   overrides: dict[str, str] | None = None, force: bool = False,
                   console=None, echo: bool = True, dataset_fallback: bool = False) -> RunResult:
    """Run one experiment and write its artifacts under ``out/<name>``.

    Errors in what the user asked for (unknown name, bad ``--set``, a data set that does not
    fit, an unusable ``--out`` or ``--data-dir``, device) raise :class:`ConfigError` before any
    directory is made. A study's own :class:`ConfigError` inside ``measure`` gives status
    "failed" with ``user_error`` and removes the new run directory (``out`` is None). A missing
    data set gives status "skipped" (kept on disk only with ``dataset_fallback``, i.e. within
    ``run all``, where the report lists the skip). Any other exception gives status "failed"
    with the traceback in ``log.txt``. Nothing here prints the reason: the caller does, once.

    ``dataset_fallback`` (``run all``): a ``--dataset`` outside the experiment's family is
    replaced by the family's default instead of refused.
    """
    experiment = name if isinstance(name, Experiment) else get(name)
    config, device = check_request(experiment, quick=quick, smoke=smoke, overrides=overrides,
                                   dataset=dataset, data_dir=data_dir, out=out, device=device,
                                   dataset_fallback=dataset_fallback)
    process = rank()
    is_main = process == 0
    root = Path(out)
    root_existed = root.exists()
    existed = (root / experiment.name).exists()
    run_dir = new_run_dir(root, experiment.name, force=force) if is_main \
        else root / f".rank{process}-{experiment.name}"
    made_here = is_main and not (force and existed)

    from stridelab.experiments.plots import use_agg
    from stridelab.torch.loop import seed_everything

    use_agg()
    if launched_world_size() > 1:
        # join the group (and pick this process's own GPU) before anything touches the device
        from stridelab.torch.distributed import setup_distributed

        setup_distributed(device)
    seed_everything(seed)

    def run_dependency(dep_name: str) -> RunResult:
        with _rng_state_kept():  # the dependent's random stream must not depend on this
            return run_experiment(dep_name, quick=quick, smoke=smoke,
                                  dataset=ctx.data_record.get("name") or dataset,
                                  data_dir=data_dir, out=out, seed=seed, device=device,
                                  console=console, echo=echo, dataset_fallback=True)

    ctx = RunContext(run_dir, name=experiment.name, config=config, seed=seed, device=device,
                     quick=quick, smoke=smoke, dataset=dataset, data_dir=data_dir,
                     is_main=is_main, echo=echo, console=console, overrides=overrides,
                     dataset_fallback=dataset_fallback, depends=experiment.depends,
                     run_dependency=run_dependency)
    t0 = time.perf_counter()
    status, reason, metrics, user_error, lessons = "ok", "", {}, False, []
    try:
        metrics = experiment.run(config, ctx) or {}
        if not isinstance(metrics, dict):
            raise TypeError(f"{experiment.name}: measure returned {type(metrics).__name__}, "
                            "expected a dict of metrics")
        if experiment.narrate is not None and is_main:
            notes = str(experiment.narrate(metrics, config)).strip()
            if notes:
                ctx.note(notes)
        lessons = [lesson.judge(metrics, quick=quick or smoke) for lesson in experiment.lessons]
        if lessons and is_main:
            write_json_atomic(run_dir / "lessons.json", lessons)
    except ConfigError as exc:  # the study's own check of its config or data
        status, reason, user_error = "failed", str(exc), True
        if made_here:
            _remove_new_run(run_dir, root, root_existed)
            return RunResult(experiment.name, status, None, time.perf_counter() - t0, {},
                             reason, user_error)
        ctx.log(f"failed: {reason}", show=False)
    except DataNotFound as exc:
        status, reason = "skipped", str(exc)
        if made_here and not dataset_fallback:  # a single run: nothing was measured
            _remove_new_run(run_dir, root, root_existed)
            return RunResult(experiment.name, status, None, time.perf_counter() - t0, {},
                             reason, user_error)
        ctx.log(f"skipped: {reason}", show=False)
    except StridelabError as exc:
        status, reason, user_error = "failed", str(exc), True
        ctx.log(f"failed: {reason}", show=False)
    except Exception as exc:  # one failing experiment must not stop `run all`
        if launched_world_size() > 1:
            raise  # the other ranks would wait forever in a collective: stop them all
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        ctx.log("failed:\n" + traceback.format_exc(), show=False)
    seconds = time.perf_counter() - t0
    if is_main:
        if status == "ok":
            write_json_atomic(run_dir / "metrics.json", metrics)
        write_json_atomic(run_dir / "status.json", {
            "experiment": experiment.name, "status": status, "reason": reason,
            "seconds": round(seconds, 3), "key_metric": experiment.key_metric,
            "description": experiment.description, "order": experiment.order,
            "mode": ctx.mode, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return RunResult(experiment.name, status, run_dir if is_main else None, seconds, metrics,
                     reason, user_error, lessons)


# ---------------------------------------------------------------------------------------------
# all of them


def run_order(experiments: list[Experiment]) -> list[Experiment]:
    """``experiments`` in `run all` order, each after the ones it ``depends`` on (when listed)."""
    by_name = {e.name: e for e in experiments}
    ordered: list[Experiment] = []
    placed: set[str] = set()

    def place(e: Experiment, chain: tuple[str, ...] = ()) -> None:
        if e.name in placed:
            return
        if e.name in chain:
            raise ConfigError(f"experiments depend on each other in a cycle: "
                              f"{' -> '.join(chain + (e.name,))}")
        for dep in e.depends:
            if dep in by_name:
                place(by_name[dep], chain + (e.name,))
        placed.add(e.name)
        ordered.append(e)

    for e in sorted(experiments, key=lambda e: (e.order, e.name)):
        place(e)
    return ordered


def run_all(*, quick: bool = False, names: list[str] | None = None, **kwargs) -> list[RunResult]:
    """Run every registered experiment (or ``names``) in the fixed order; never stops early.

    A dependency (``register(depends=...)``) in the list runs before the experiments that read
    it; one outside the list is run by the first experiment that needs it. A ``--dataset``
    that does not fit an experiment falls back to that experiment's default data set.
    """
    experiments = all_experiments()
    if names is not None:
        experiments = [e for e in experiments if e.name in set(names)]
    on_start = kwargs.pop("on_start", None)
    on_done = kwargs.pop("on_done", None)
    kwargs.setdefault("dataset_fallback", True)
    experiments = run_order(experiments)
    results = []
    for i, experiment in enumerate(experiments):
        if on_start:
            on_start(i, len(experiments), experiment)
        try:
            result = run_experiment(experiment, quick=quick, **kwargs)
        except ConfigError as exc:  # e.g. a registered quick config out of its own bounds
            result = RunResult(experiment.name, "failed", None, 0.0, reason=str(exc),
                               user_error=True)
        if on_done:
            on_done(i, len(experiments), result)
        results.append(result)
    return results
