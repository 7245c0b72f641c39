"""Run a solve's tasks: compute every worked task, and reuse or run every experiment.

- :func:`compute_worked`: a worked task parsed by its command's own parser and answered through
  :mod:`stridelab.worked.commands`; figures drawn into the solution;
- :func:`obtain_run`: a finished run under ``--runs`` whose resolved config, seed, mode and data
  (name and sha256) are what this solve would run, or a new run;
- :func:`check_run`: every metric, figure, text and file a task names exists in its run.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any

from stridelab.errors import StridelabError
from stridelab.sheets.commands import worked_argv
from stridelab.sheets.loader import RUN_FIELDS, check_metric, parse_worked_args
from stridelab.sheets.model import FIGURE_OPTIONS, Sheet, Task
from stridelab.sheets.plan import SolveOptions, dataset_for
from stridelab.sheets.results import RunRecord, WorkedResult
from stridelab.sheets.values import value_at

__all__ = ["compute_worked", "obtain_run", "check_run", "figure_entry", "inside", "load_record",
           "find_reusable", "worked_checks", "DataCheck"]


# ---------------------------------------------------------------------------------------------
# worked tasks


def compute_worked(sheet: Sheet, task: Task, figures_dir: Path, spec_dir: Path) -> WorkedResult:
    """Parse the task's arguments with the command's own parser and build its answer."""
    t0 = time.perf_counter()
    spec_path = None
    if task.spec is not None:
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec_path = str(spec_dir / f"{task.id}.json")
        Path(spec_path).write_text(json.dumps(task.spec, indent=1), encoding="utf-8")
    args = parse_worked_args(sheet, task, spec_path)
    figures: list[Path] = []
    figures_dir.mkdir(parents=True, exist_ok=True)
    for option in FIGURE_OPTIONS:
        dest = option.lstrip("-")
        name = getattr(args, dest, None)
        if name:
            setattr(args, dest, str(figures_dir / name))
            figures.append(figures_dir / name)
    if getattr(args, "image", None) and hasattr(args, "out") and not args.out:
        # a photo's answer is its figure; keep it with the solution, not in the working directory
        args.out = str(figures_dir / f"{task.id}-{task.command}.png")
        figures.append(Path(args.out))
    from stridelab.worked.commands import answer_from_args

    try:
        answer = answer_from_args(task.command, args)
        data, markdown = answer.to_dict(), answer.to_markdown()
    except StridelabError as exc:
        raise sheet.error(task, "args", f"stridelab {task.command}: "
                          f"{str(exc).splitlines()[0]}") from None
    # the figure options point into the solution being built: say "figures/NAME" instead
    markdown = markdown.replace(str(figures_dir), "figures")
    data = json.loads(json.dumps(data, default=str).replace(json.dumps(str(figures_dir))[1:-1],
                                                             "figures"))
    return WorkedResult(task, answer, data, markdown, worked_argv(task, f"{task.id}.json"), args,
                        [p for p in figures if p.is_file()], time.perf_counter() - t0)


def worked_checks(data: Any) -> list[bool]:
    """Every ``passed`` flag of a worked answer's second checks."""
    found: list[bool] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "passed" and isinstance(v, bool):
                found.append(v)
            else:
                found += worked_checks(v)
    elif isinstance(data, list):
        for v in data:
            found += worked_checks(v)
    return found



# ---------------------------------------------------------------------------------------------
# experiment tasks: reuse or run


def _json_plain(obj: Any) -> Any:
    from stridelab.atomic import _to_jsonable

    return json.loads(json.dumps(_to_jsonable(obj)))


class DataCheck:
    """Which data set a run of an experiment would load here, and its sha256 (cached)."""

    def __init__(self, options: SolveOptions):
        self.options = options
        self._sha: dict[str, str | None] = {}

    def sha256(self, name: str) -> str | None:
        if name not in self._sha:
            from stridelab.data import load_dataset

            try:
                self._sha[name] = load_dataset(name, data_dir=self.options.data_dir).sha256
            except StridelabError:
                self._sha[name] = None
        return self._sha[name]

    def acceptable(self, experiment, config) -> set[str]:
        from stridelab.data import choose_dataset

        names: set[str] = set()
        requested = dataset_for(experiment, self.options.dataset)
        if requested:
            names.add(requested)
        elif experiment.needs:
            with contextlib.suppress(StridelabError):
                names.add(choose_dataset(None, family=experiment.needs,
                                         data_dir=self.options.data_dir)[0])
        configured = getattr(config, "dataset", None)  # a study that names its data set
        if isinstance(configured, str) and configured:
            names.add(configured)
        return names

    def matches(self, experiment, config, record: dict | None) -> bool:
        if not record:
            return True  # the run loaded no data set
        name, sha = record.get("name"), record.get("sha256")
        return name in self.acceptable(experiment, config) and sha is not None \
            and self.sha256(name) == sha


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def find_reusable(experiment, config, options: SolveOptions, data: DataCheck) -> Path | None:
    """The newest finished run under ``options.runs`` that is what this solve would run."""
    from stridelab.experiments.artifacts import read_finished_run

    root = Path(options.runs)
    if not root.is_dir():
        return None
    wanted = _json_plain(config)
    pattern = re.compile(rf"{re.escape(experiment.name)}(-\d+)?")
    found = []
    for run_dir in root.iterdir():
        if not pattern.fullmatch(run_dir.name) or not run_dir.is_dir():
            continue
        try:
            record = read_finished_run(run_dir, experiment.name)
        except StridelabError:
            continue
        cfg = record["config"]
        mode = cfg.get("mode", "quick" if cfg.get("quick") else "full")
        if cfg.get("config") != wanted or cfg.get("seed") != options.seed \
                or mode != options.mode:
            continue
        if not data.matches(experiment, config, cfg.get("dataset")):
            continue
        found.append(((run_dir / "metrics.json").stat().st_mtime, run_dir.name, run_dir))
    return max(found)[2] if found else None


def load_record(task: Task, run_dir: Path, reused: bool, seconds: float) -> RunRecord:
    status = _read_json(run_dir / "status.json") or {}
    index = _read_json(run_dir / "figures" / "index.json")
    lessons = _read_json(run_dir / "lessons.json")
    return RunRecord(task=task, status=str(status.get("status", "ok")), run_dir=run_dir,
                     reused=reused, seconds=float(status.get("seconds") or seconds),
                     metrics=_read_json(run_dir / "metrics.json") or {},
                     config=_read_json(run_dir / "config.json") or {},
                     lessons=lessons if isinstance(lessons, list) else [],
                     figures=[f for f in index if isinstance(f, dict) and "file" in f]
                     if isinstance(index, list) else [],
                     reason=str(status.get("reason", "")))


def obtain_run(task: Task, options: SolveOptions, data: DataCheck, console) -> RunRecord:
    """Reuse a matching finished run, or run the experiment (skips come back as status)."""
    from stridelab.experiments import registry
    from stridelab.experiments.runner import run_experiment

    experiment = registry.get(task.name)
    config = experiment.make_config(quick=options.quick, smoke=options.smoke, overrides=task.set)
    found = find_reusable(experiment, config, options, data)
    if found is not None:
        return load_record(task, found, reused=True, seconds=0.0)
    result = run_experiment(experiment, quick=options.quick, smoke=options.smoke,
                            overrides=task.set, out=options.runs,
                            dataset=dataset_for(experiment, options.dataset),
                            data_dir=options.data_dir, seed=options.seed, device=options.device,
                            console=console, echo=options.verbose)
    if result.out is not None and result.status == "ok":
        return load_record(task, Path(result.out), reused=False, seconds=result.seconds)
    return RunRecord(task=task, status=result.status,
                     run_dir=Path(result.out) if result.out else None, reused=False,
                     seconds=result.seconds, metrics=dict(result.metrics or {}),
                     lessons=list(getattr(result, "lessons", []) or []), reason=result.reason)


def figure_entry(record: RunRecord, name: str) -> dict | None:
    for f in record.figures:
        if name in (f["file"], Path(f["file"]).stem):
            return f
    return None


def inside(root: Path, name: str) -> Path | None:
    """``root/name`` when it is a regular file inside ``root`` (no links out, no ``..``)."""
    path = root / name
    try:
        resolved = path.resolve(strict=True)
        resolved.relative_to(root.resolve(strict=True))
    except (OSError, ValueError):
        return None
    return path if path.is_file() and not path.is_symlink() else None


def check_run(sheet: Sheet, task: Task, record: RunRecord) -> None:
    """Every metric, figure, text and file ``task`` names exists in its (finished) run."""
    if record.status != "ok" or record.run_dir is None:
        return
    known = set(record.metrics)
    for metric in task.metrics:
        head = metric.split(".")[0]
        if head in RUN_FIELDS:
            continue
        check_metric(sheet, task, "metrics", repr(metric), task, head, known)
        try:
            value_at(record.metrics, metric.split("."))
        except KeyError as exc:
            raise sheet.error(task, "metrics", f"{metric!r}: {exc.args[0]}") from None
    for name in task.figures:
        if figure_entry(record, name) is None:
            have = ", ".join(Path(f["file"]).stem for f in record.figures) or "none"
            raise sheet.error(task, "figures", f"{name!r}: {task.name} drew no such figure "
                              f"(its figures: {have})")
    for name in task.texts:
        if inside(record.run_dir, name) is None:
            raise sheet.error(task, "texts", f"{name!r}: no such file in the {task.name} run "
                              f"({record.run_dir})")
    for hand_in, run_file in task.files.items():
        if inside(record.run_dir, run_file) is None:
            raise sheet.error(task, f"files.{hand_in}", f"{run_file!r}: the {task.name} run "
                              f"({record.run_dir}) wrote no such file")
