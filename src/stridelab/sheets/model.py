"""What a sheet file describes, as data: the sheet, its tasks and its stand-ins.

:mod:`stridelab.sheets.loader` builds these from a TOML file and validates them; every other
module of the package reads them. A problem in a sheet is a :class:`SheetError`: one line naming
the file, the task and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError
from stridelab.sheets.marks import Credit, Grading
from stridelab.sheets.submission import Rules

__all__ = ["Sheet", "Task", "StandIn", "VariantRecord", "SheetError", "sheet_error", "where",
           "BUILTIN_DIR", "FIGURE_OPTIONS"]

BUILTIN_DIR = Path(__file__).with_name("builtin")
# options of the worked commands that name a figure file: written into the solution's figures/
FIGURE_OPTIONS = ("--out", "--graph")


def where(path: Path) -> str:
    """How messages name a sheet file: a built-in sheet by its file name, else its path."""
    return path.name if path.parent == BUILTIN_DIR else str(path)


class SheetError(ConfigError):
    """A problem in a sheet file: one line naming the file, the task and the key."""


@dataclass(frozen=True)
class StandIn:
    """A file the sheet refers to but does not give, and what stands in for it."""

    file: str  # the sheet's name for it, e.g. "bike.png"
    instead: str  # what the solution uses instead (Markdown)
    tasks: tuple[str, ...] = ()  # labels of the tasks that use the stand-in


@dataclass(frozen=True)
class Task:
    """One task of a sheet, in the sheet's order.

    ``id`` is how references name the task: given explicitly, or made from the label by
    :func:`task_id` (``"2.1 i)"`` -> ``"2.1i"``).
    """

    label: str
    id: str
    kind: str
    statement: str
    answer: str = ""  # Markdown with references; the whole body of an `answer` task
    programs: tuple[str, ...] = ()  # hand-in programs (files of stridelab.programs) it asks for
    # worked
    command: str = ""
    args: tuple[str, ...] = ()
    spec: dict | None = None  # backprop's network, written inline instead of a JSON file
    show: tuple[str, ...] = ()  # paths into the answer to show instead of the whole answer
    # experiment
    name: str = ""
    set: dict[str, str] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()  # text artifacts of the run shown verbatim (model_summary.md)
    files: dict[str, str] = field(default_factory=dict)  # hand-in name -> file of the run
    if_skipped: str = ""  # Markdown shown instead of `answer` when the run is skipped
    # variants (a worked task's [task.vary] table, see stridelab.sheets.vary)
    vary: tuple = ()  # the Draw entries, in the table's order
    require: tuple[str, ...] = ()  # conditions every variant's answer meets
    integers: bool = False  # integers of the sheet's answer must stay integers in a variant
    values: dict = field(default_factory=dict)  # name -> Value in effect (the sheet's or drawn)
    template: dict | None = None  # statement, answer, args and spec with their <<placeholders>>
    # marks (stridelab.sheets.marks)
    points: float | None = None  # the task's own points (a [[marks]] group may give it some)
    weight: float = 1.0  # its share of a [[marks]] group's points
    credit: Credit | None = None  # how its points are shared out (None: the sheet's rule)
    grade: tuple[str, ...] | str = "all"  # "all", "by hand", or the value keys to grade

    def figure_files(self) -> list[str]:
        """File names that the worked command's figure options (--out, --graph) ask for."""
        out = []
        for i, a in enumerate(self.args[:-1]):
            if a in FIGURE_OPTIONS:
                out.append(self.args[i + 1])
        return out


@dataclass(frozen=True)
class VariantRecord:
    """A variant file's ``[variant]`` table: whose variant it is and the numbers drawn for it."""

    student: str
    seed: str  # 16 hex digits, from the sheet's draws hash and the student id
    sheet: str  # the name of the sheet it was drawn from
    sheet_sha256: str  # that sheet file's sha256
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # task id -> name -> literal
    name: str = ""  # the student's name, when the roster gives one


@dataclass(frozen=True)
class Sheet:
    """A parsed, statically validated sheet."""

    name: str  # the file's stem: what `stridelab sheet solve NAME` takes
    path: Path
    course: str
    title: str
    source: str
    tasks: tuple[Task, ...]
    stand_ins: tuple[StandIn, ...] = ()
    given: dict[str, Any] = field(default_factory=dict)  # numbers the sheet itself gives
    submission: Rules = field(default_factory=Rules)  # how the course wants it handed in
    sha256: str = ""  # of the file's bytes up to its [variant] table (a variant's original)
    variant: VariantRecord | None = None  # set in a variant file
    grading: Grading = field(default_factory=Grading)  # the sheet's total and credit rule
    marks: tuple = ()  # [[marks]]: points the sheet gives groups of tasks
    points: dict = field(default_factory=dict)  # task id -> its points (None: none given)

    def credit_of(self, task: Task) -> Credit:
        """The credit rule of ``task``: its own, else the sheet's."""
        return task.credit if task.credit is not None else self.grading.credit

    @property
    def max_points(self) -> float | None:
        given = [p for p in self.points.values() if p is not None]
        return sum(given) if given else None

    @property
    def where(self) -> str:
        """How error messages name the file."""
        return where(self.path)

    @property
    def argument(self) -> str:
        """What `stridelab sheet solve` takes for this sheet: a built-in's name, else its file."""
        return self.name if self.path.parent == BUILTIN_DIR else str(self.path)

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)

    def error(self, task: Task | None, key: str, message: str) -> SheetError:
        return sheet_error(self.where, task.label if task else None, key, message)


def sheet_error(where: str, label: str | None, key: str, message: str) -> SheetError:
    place = f"task {label!r}: " if label is not None else ""
    return SheetError(f"{where}: {place}{key}: {message}")
