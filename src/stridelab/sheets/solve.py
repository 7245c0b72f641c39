"""Solve a sheet: plan, run, render, hand in.

``solve_sheet(sheet, options)`` writes ``OUT/NAME/``:

- ``solution.html``: the model answers, one section per task in the sheet's order, figures
  inlined, formulas typeset by the bundled KaTeX (:mod:`stridelab.sheets.page`);
- ``hand-in/``: what the course asks to be handed in, flat, under the sheet's names
  (:mod:`stridelab.sheets.handin`): the PDF of the page printed by headless Chromium (e.g.
  ``452_riddletm_assignment2.pdf``), the executed notebook, the models and files the sheet
  names, each model with its ``torch.export`` copy (``.pt2``);
- ``<zip>``: the hand-in folder zipped, when the sheet asks for one;
- ``figures/``: the figures the worked commands drew.

The directory is built beside its final place and renamed into it at the end, so a solve that
fails leaves the previous solution as it was.

The order of the work (:mod:`stridelab.sheets.plan`, :mod:`stridelab.sheets.run`): the tasks to
show and the tasks they read from; every experiment request checked; every worked task computed
(seconds) and every reference into it checked; then each experiment runs, or a finished run under
``--runs`` is reused when it is what this solve would run; every metric, figure, text and file
the sheet names is checked against the runs; only then is anything rendered or written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from stridelab.errors import ConfigError, DataNotFound
from stridelab.sheets.handin import HAND_IN_DIR, HandIn
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.page import build_sections, print_page, title_rows, write_page
from stridelab.sheets.plan import SolveOptions, check_references, check_requests, select_tasks
from stridelab.sheets.results import RunRecord, WorkedResult
from stridelab.sheets.run import (
    DataCheck,
    check_run,
    compute_worked,
    obtain_run,
    worked_checks,
)
from stridelab.sheets.values import Values

__all__ = ["Solution", "solve_sheet"]


@dataclass
class Solution:
    """What a solve wrote (paths in the final directory)."""

    dir: Path
    html: Path
    hand_in: Path  # the hand-in folder
    pdf: Path | None  # in the hand-in folder, under the sheet's name for it
    pdf_reason: str | None  # why no PDF was printed (None when printed or not asked for)
    notebook: Path | None
    notebook_error: str | None
    zip: Path | None  # the zipped hand-in, when the sheet asks for one and it is complete
    pdf_name: str  # the names the sheet gives the PDF and the zip ("" when it asks for none)
    zip_name: str
    files: list[Path]  # every file in the hand-in folder
    missing: list[str]  # names the sheet asks for that the hand-in does not hold
    worked: dict[str, WorkedResult]
    runs: dict[str, RunRecord]
    failed: list[str]  # labels of tasks whose experiment failed
    seconds: float


class _Progress:
    """One console line per task as it is computed or run."""

    def __init__(self, console, total: int):
        self.console, self.total, self.i = console, total, 0

    def line(self, task: Task, what: str, outcome: str, seconds: float, colour: str = "green"):
        self.i += 1
        if self.console is not None:
            from rich.markup import escape

            self.console.print(f"[bold][{self.i}/{self.total}][/bold] {escape(task.label)}  "
                               f"[dim]{escape(what)}[/dim]  [{colour}]{escape(outcome)}[/] "
                               f"({seconds:.1f} s)", highlight=False)

    @contextlib.contextmanager
    def status(self, text: str):
        if self.console is not None and self.console.is_terminal:
            with self.console.status(text):
                yield
        else:
            yield


def solve_sheet(sheet: Sheet, options: SolveOptions, console=None) -> Solution:
    """Solve ``sheet`` into ``options.out / sheet.name`` (see the module docstring)."""
    t_start = time.perf_counter()
    shown, needed = select_tasks(sheet, options.tasks)
    check_requests(sheet, needed, options)
    out_root = Path(options.out)
    if out_root.exists() and not out_root.is_dir():
        raise ConfigError(f"--out {out_root}: not a directory")
    final = out_root / sheet.name
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out_root}: cannot make it ({exc.strerror or exc})") from None
    staging = out_root / f".{sheet.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        solution = _solve_into(sheet, options, shown, needed, staging, final, console)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out_root / f".{sheet.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    solution.seconds = time.perf_counter() - t_start
    return _moved(solution, staging, final)


def _moved(solution: Solution, staging: Path, final: Path) -> Solution:
    def move(p: Path | None) -> Path | None:
        return None if p is None else final / p.relative_to(staging)

    for w in solution.worked.values():
        w.figures = [move(p) for p in w.figures]  # type: ignore[misc]
    return dataclasses.replace(solution, dir=final, html=move(solution.html),
                               hand_in=move(solution.hand_in), pdf=move(solution.pdf),
                               notebook=move(solution.notebook), zip=move(solution.zip),
                               files=[move(p) for p in solution.files])


def _compute(sheet: Sheet, needed: list[Task], progress: _Progress, staging: Path
             ) -> dict[str, WorkedResult]:
    """Every worked task (seconds), and every reference into them checked."""
    worked: dict[str, WorkedResult] = {}
    for task in needed:
        if task.kind != "worked":
            continue
        with progress.status(f"{task.label}: stridelab {task.command} …"):
            worked[task.id] = compute_worked(sheet, task, staging / "figures", staging / "specs")
        checks = worked_checks(worked[task.id].data)
        outcome = "checked" if checks and all(checks) else \
            "check failed" if checks else "computed"
        progress.line(task, f"stridelab {task.command}", outcome, worked[task.id].seconds,
                      "green" if outcome != "check failed" else "red")
    check_references(sheet, needed, None, worked)
    return worked


def _run(sheet: Sheet, needed: list[Task], options: SolveOptions, progress: _Progress,
         console) -> dict[str, RunRecord]:
    """Every experiment task's run: reused when it is what this solve would run, else run.

    Tasks that run the same experiment with the same settings share one run.
    """
    data = DataCheck(options)
    runs: dict[str, RunRecord] = {}
    shared: dict[tuple, RunRecord] = {}
    shared_by: dict[tuple, str] = {}  # the label of the first task that used each run
    for task in needed:
        if task.kind != "experiment":
            continue
        key = (task.name, tuple(sorted(task.set.items())))
        settings = " ".join(f"{k}={v}" for k, v in task.set.items())
        what = f"{task.name} {settings}".strip()
        t0 = time.perf_counter()
        first = shared_by.get(key)
        if key in shared:
            record = dataclasses.replace(shared[key], task=task)
        else:
            shared_by[key] = task.label
            with progress.status(f"{task.label}: {task.name} ({options.mode}) …"):
                try:
                    record = obtain_run(task, options, data, console)
                except DataNotFound as exc:
                    record = RunRecord(task=task, status="skipped", run_dir=None, reused=False,
                                       seconds=0.0, reason=str(exc))
                except ConfigError as exc:
                    raise sheet.error(task, "name", str(exc)) from None
            shared[key] = record
        runs[task.id] = record
        if first is not None:
            progress.line(task, what, f"the same run as {first}", 0.0,
                          "green" if record.status == "ok" else "yellow")
            continue
        if record.status == "ok":
            outcome = f"reused {record.run_dir}" if record.reused else \
                f"ran into {record.run_dir}"
            colour = "green"
        else:
            outcome = f"{record.status}: {record.reason.splitlines()[0] if record.reason else ''}"
            colour = "yellow" if record.status == "skipped" else "red"
        progress.line(task, what, outcome,
                      record.seconds if not record.reused else time.perf_counter() - t0, colour)
    for task in needed:
        if task.kind == "experiment":
            check_run(sheet, task, runs[task.id])
    return runs


def _solve_into(sheet: Sheet, options: SolveOptions, shown: list[Task], needed: list[Task],
                staging: Path, final: Path, console) -> Solution:
    progress = _Progress(console, len(needed))

    # 1. worked tasks, then experiments; every reference checked before anything is written
    worked = _compute(sheet, needed, progress, staging)
    runs = _run(sheet, needed, options, progress, console)
    known = {tid: set(r.metrics) for tid, r in runs.items() if r.status == "ok"}
    check_references(sheet, needed, known, worked)
    for task in needed:
        if task.kind == "answer":
            progress.line(task, "answer", "references resolved", 0.0)

    # 2. the files the sheet names, handed in from the runs
    hand_in = HandIn(staging / HAND_IN_DIR, sheet.submission, options.identity)
    hand_in.dir.mkdir()  # the folder exists even when nothing else is handed in
    handed_in = {task.id: hand_in.add_run_files(task, runs[task.id]) for task in shown
                 if task.kind == "experiment" and task.files}
    # the programs each task asks for, in the sheet's order (a program two tasks name is copied
    # once and listed under both)
    programs = {task.id: hand_in.add_programs(task.programs) for task in shown if task.programs}

    # 3. the page, its PDF, the notebook
    values = Values(sheet, worked, runs)
    sections = build_sections(sheet, shown, worked, runs, options, values, handed_in, programs)
    meta = title_rows(sheet, {t.id: runs[t.id] for t in shown if t.id in runs}, options)
    html_path = write_page(sheet, sections, meta, staging / "solution.html")
    pdf_path, pdf_reason = None, None
    if options.pdf:
        pdf_path = hand_in.path(hand_in.pdf_name)
        with progress.status("the PDF: printing with headless Chromium …"):
            pdf_reason = print_page(sheet, html_path, pdf_path)
        if pdf_reason:
            pdf_path = None
        else:
            hand_in.record(hand_in.pdf_name, "the model answers (the PDF of solution.html)")
    nb_path, nb_error = None, None
    if options.notebook:
        from stridelab.sheets.notebook import build_notebook, execute_notebook, write_notebook

        nb = build_notebook(sheet, shown, worked, runs, values, hand_in, options)
        with progress.status("the notebook: executing …"):
            nb, nb_error = execute_notebook(nb, hand_in.dir)
        nb_path = write_notebook(nb, hand_in.path(hand_in.notebook_name))
        hand_in.record(hand_in.notebook_name, "the notebook, executed with its outputs")
    shutil.rmtree(staging / "specs", ignore_errors=True)

    # 4. the hand-in: complete, or said to be incomplete; the zip only of a complete one
    missing = hand_in.missing()  # the PDF belongs to every hand-in, --no-pdf or not
    zip_path = None
    if hand_in.zip_name and not missing:
        zip_path = hand_in.write_zip(staging / hand_in.zip_name)
    for path in [html_path, zip_path, *hand_in.files()]:
        if path is not None:  # written through temporary files (0600): a solution is for sharing
            os.chmod(path, 0o644)
    failed = [t.label for t in shown if t.kind == "experiment" and runs[t.id].status == "failed"]
    return Solution(dir=staging, html=html_path, hand_in=hand_in.dir, pdf=pdf_path,
                    pdf_reason=pdf_reason, notebook=nb_path, notebook_error=nb_error,
                    zip=zip_path, pdf_name=hand_in.pdf_name, zip_name=hand_in.zip_name,
                    files=hand_in.files(), missing=missing, worked=worked,
                    runs=runs, failed=failed, seconds=0.0)
