"""Run one experiment, or all of them, and record the outcome in the run directory."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, DataNotFound, StridelabError
from stridelab.experiments.artifacts import RunContext, new_run_dir, write_json_atomic
from stridelab.experiments.registry import Experiment, all_experiments, get


@dataclass
class RunResult:
    name: str
    status: str  # "ok", "skipped" or "failed"
    out: Path | None
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why it was skipped or failed
    user_error: bool = False  # failed on something the user asked for (a bad --dataset, file...)


def distributed_rank() -> int:
    """The process's rank under torchrun (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def launched_distributed() -> bool:
    """True when this process was started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


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


def run_experiment(name: str | Experiment, *, quick: bool = False, smoke: bool = False,
                   dataset: str | None = None, data_dir: str | None = None,
                   out: str | os.PathLike = "runs", seed: int = 0, device: str = "auto",
                   overrides: dict[str, str] | None = None, force: bool = False,
                   console=None, echo: bool = True) -> RunResult:
    """Run one experiment and write its artifacts under ``out/<name>``.

    Errors in what the user asked for (unknown name, bad ``--set``, device) raise before any
    directory is made. A missing data set gives status "skipped"; any other exception in the
    experiment gives status "failed" with the traceback in ``log.txt``.
    """
    experiment = name if isinstance(name, Experiment) else get(name)
    config = experiment.make_config(quick=quick, smoke=smoke, overrides=overrides)
    device = resolve_device(device)
    is_main = distributed_rank() == 0
    run_dir = new_run_dir(out, experiment.name, force=force) if is_main \
        else Path(out) / f".rank{distributed_rank()}-{experiment.name}"

    from stridelab.torch.loop import seed_everything

    if launched_distributed():
        # join the group (and pick this process's own GPU) before anything touches the device
        from stridelab.torch.distributed import setup_distributed

        setup_distributed(device)
    seed_everything(seed)
    ctx = RunContext(run_dir, name=experiment.name, config=config, seed=seed, device=device,
                     quick=quick or smoke, dataset=dataset, data_dir=data_dir, is_main=is_main,
                     echo=echo, console=console)
    t0 = time.perf_counter()
    status, reason, metrics, user_error = "ok", "", {}, False
    try:
        metrics = experiment.run(config, ctx) or {}
        if experiment.narrate is not None and is_main:
            notes = str(experiment.narrate(metrics, config)).strip()
            if notes:
                ctx.note(notes)
        if experiment.lessons and is_main:
            write_json_atomic(run_dir / "lessons.json",
                              [lesson.judge(metrics, quick=quick or smoke)
                               for lesson in experiment.lessons])
    except DataNotFound as exc:
        status, reason = "skipped", str(exc)
        ctx.log(f"skipped: {reason}")
    except StridelabError as exc:
        status, reason, user_error = "failed", str(exc), True
        ctx.log(f"failed: {reason}")
    except Exception as exc:  # one failing experiment must not stop `run all`
        if launched_distributed():
            raise  # the other ranks would wait forever in a collective: stop them all
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        ctx.log("failed:\n" + traceback.format_exc())
    seconds = time.perf_counter() - t0
    if is_main:
        if status == "ok":
            write_json_atomic(run_dir / "metrics.json", metrics)
        write_json_atomic(run_dir / "status.json", {
            "experiment": experiment.name, "status": status, "reason": reason,
            "seconds": round(seconds, 3), "key_metric": experiment.key_metric,
            "description": experiment.description, "order": experiment.order,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return RunResult(experiment.name, status, run_dir if is_main else None, seconds, metrics,
                     reason, user_error)


def run_all(*, quick: bool = False, names: list[str] | None = None, **kwargs) -> list[RunResult]:
    """Run every registered experiment (or ``names``) in the fixed order; never stops early."""
    experiments = all_experiments()
    if names is not None:
        experiments = [e for e in experiments if e.name in set(names)]
    on_start = kwargs.pop("on_start", None)
    on_done = kwargs.pop("on_done", None)
    results = []
    for i, experiment in enumerate(experiments):
        if on_start:
            on_start(i, len(experiments), experiment)
        result = run_experiment(experiment, quick=quick, **kwargs)
        if on_done:
            on_done(i, len(experiments), result)
        results.append(result)
    return results
