"""Marks: the points a sheet gives its tasks, and how a task's points are shared out.

A task's points come from the task itself or from a group of tasks the sheet marks together
(``docs/course.md``, "Points and partial credit")::

    [grading]
    total = 30                         # the sheet's total, checked against the marks below
    credit = { per = "cell", slip = 0.5 }   # the default rule for every task

    [[marks]]                          # marks the sheet prints for a group of tasks
    label = "2.1"
    tasks = ["2.1 i)", "2.1 ii)", "2.1 iii)"]
    points = 8                         # shared by the tasks' weight (default 1 each)

    [[task]]
    label = "2.2 i)"
    points = 3
    credit = { per = "value", slip = 0.25, slips = { sign = 0.5 } }
    grade = ["dL_dz"]                  # which values are graded ("all", "by hand", or keys)

A task's points are split over its graded values (equally, or by ``credit.weights``); a value
earns its share when right, and when wrong: with ``per = "cell"`` the share of its cells that
are right, and with ``slip`` (or ``slips.KEY``) that share of its points when the grader names
the slip it most likely is (the method was right, one known mistake made), whichever is more.
``per = "task"`` gives the task's points only when every value is right (or ``slip`` times them
when every wrong value's slip is named). A value that cannot be read, has the wrong shape or is
missing earns nothing and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Credit", "Marks", "Grading", "MarksError", "parse_credit", "parse_grading",
           "parse_marks", "parse_points", "parse_grade", "task_points", "value_score",
           "score_task", "CREDIT_PER", "MAX_POINTS"]

CREDIT_PER = ("value", "cell", "task")
MAX_POINTS = 10_000
_CREDIT_KEYS = {"per", "slip", "slips", "weights"}


class MarksError(ValueError):
    """A problem in a sheet's marks: ``key`` is where, the message what."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


@dataclass(frozen=True)
class Credit:
    """How a task's points are shared out over its values (see the module docstring)."""

    per: str = "value"  # "value" | "cell" | "task"
    slip: float = 0.0  # the share of a value's points a wrong value keeps when its slip is named
    slips: dict[str, float] = field(default_factory=dict)  # slip key -> share, overriding slip
    weights: dict[str, float] = field(default_factory=dict)  # value key -> weight (default 1)

    def slip_share(self, slip: str | None) -> float:
        return self.slips.get(slip, self.slip) if slip else 0.0


@dataclass(frozen=True)
class Marks:
    """Points the sheet gives a group of tasks, shared by the tasks' weights."""

    label: str
    tasks: tuple[str, ...]  # task labels
    points: float


@dataclass(frozen=True)
class Grading:
    """A sheet's ``[grading]`` table."""

    total: float | None = None  # the sheet's total marks, when it prints one
    credit: Credit = field(default_factory=Credit)


def _share(x: Any, key: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 1:
        raise MarksError(key, "expected a share from 0 to 1, e.g. 0.5")
    return float(x)


def parse_points(x: Any, key: str = "points") -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) \
            or not 0 <= x <= MAX_POINTS:
        raise MarksError(key, f"expected a number of points from 0 to {MAX_POINTS:,}")
    return float(x)


def parse_credit(raw: Any, key: str = "credit", base: Credit | None = None) -> Credit:
    """A ``credit`` table; keys it does not give keep ``base``'s."""
    base = base or Credit()
    if not isinstance(raw, dict):
        raise MarksError(key, 'expected a table, e.g. credit = { per = "cell", slip = 0.5 }')
    unknown = set(raw) - _CREDIT_KEYS
    if unknown:
        raise MarksError(f"{key}.{sorted(unknown)[0]}",
                         f"unknown key; credit takes {', '.join(sorted(_CREDIT_KEYS))}")
    per = raw.get("per", base.per)
    if per not in CREDIT_PER:
        raise MarksError(f"{key}.per", f"{per!r}: use one of {', '.join(CREDIT_PER)}")
    slip = _share(raw["slip"], f"{key}.slip") if "slip" in raw else base.slip
    slips = dict(base.slips)
    if "slips" in raw:
        if not isinstance(raw["slips"], dict):
            raise MarksError(f"{key}.slips", "expected a table of slip = share")
        slips.update({str(k): _share(v, f"{key}.slips.{k}") for k, v in raw["slips"].items()})
    weights: dict[str, float] = {}
    if "weights" in raw:
        if not isinstance(raw["weights"], dict):
            raise MarksError(f"{key}.weights", "expected a table of value key = weight")
        for k, v in raw["weights"].items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1000:
                raise MarksError(f"{key}.weights.{k}", "expected a weight from 0 to 1,000")
            weights[str(k)] = float(v)
    return Credit(per, slip, slips, weights)


def parse_grading(raw: Any) -> Grading:
    if raw is None:
        return Grading()
    if not isinstance(raw, dict) or set(raw) - {"total", "credit"}:
        raise MarksError("grading", "a [grading] table has total and credit")
    total = parse_points(raw["total"], "grading.total") if "total" in raw else None
    credit = parse_credit(raw["credit"], "grading.credit") if "credit" in raw else Credit()
    return Grading(total, credit)


def parse_marks(raw: Any) -> tuple[Marks, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise MarksError("marks", "expected [[marks]] tables")
    out = []
    for i, m in enumerate(raw):
        key = f"marks[{i}]"
        if not isinstance(m, dict) or set(m) - {"label", "tasks", "points"}:
            raise MarksError(key, "a [[marks]] table has label, tasks and points")
        tasks = m.get("tasks")
        if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
            raise MarksError(f"{key}.tasks", "expected the labels of the tasks it marks")
        if "points" not in m:
            raise MarksError(f"{key}.points", "missing")
        out.append(Marks(str(m.get("label", "")), tuple(tasks),
                         parse_points(m["points"], f"{key}.points")))
    return tuple(out)


def parse_grade(raw: Any) -> tuple[str, ...] | str:
    """A task's ``grade``: "all" (default), "by hand", or the keys of the values to grade."""
    if raw is None or raw == "all":
        return "all"
    if raw == "by hand":
        return "by hand"
    if isinstance(raw, list) and raw and all(isinstance(k, str) and k for k in raw):
        return tuple(raw)
    raise MarksError("grade", 'expected "all", "by hand" or a list of value keys')


def task_points(tasks: list, marks: tuple[Marks, ...], total: float | None,
                where: str = "") -> dict[str, float | None]:
    """Each task's points (None: the sheet gives it none), from its own and its group's.

    ``tasks`` have ``label``, ``id``, ``points`` (None or a number) and ``weight``. Raises
    MarksError for a label no task has, a task marked twice, or marks that do not add up to
    ``total``.
    """
    by_label = {t.label: t for t in tasks}
    points: dict[str, float | None] = {t.id: t.points for t in tasks}
    for i, group in enumerate(marks):
        members = []
        for label in group.tasks:
            if label not in by_label:
                raise MarksError(f"marks[{i}].tasks", f"no task is labelled {label!r}")
            task = by_label[label]
            if points[task.id] is not None:
                raise MarksError(f"marks[{i}].tasks", f"task {label!r} has points of its own "
                                                      "or of another group")
            members.append(task)
        weight = sum(t.weight for t in members)
        if weight <= 0:
            raise MarksError(f"marks[{i}].tasks", "the tasks' weights add up to 0")
        for t in members:
            points[t.id] = group.points * t.weight / weight
    if total is not None:
        given = sum(p for p in points.values() if p is not None)
        if abs(given - total) > 1e-6:
            raise MarksError("grading.total", f"the marks add up to {given:g}, not the sheet's "
                                              f"total {total:g}")
    return points


# ---------------------------------------------------------------------------------------------
# scoring


def value_score(check: Any, credit: Credit) -> float:
    """The share (0–1) of its points one checked value earns under ``credit`` (per value or
    per cell); ``check`` has correct, problem, slip, n_cells and wrong_cells."""
    if check.problem:
        return 0.0
    if check.correct:
        return 1.0
    cells = 0.0
    if credit.per == "cell" and check.n_cells:
        cells = (check.n_cells - check.wrong_cells) / check.n_cells
    return max(cells, credit.slip_share(check.slip))


def score_task(points: float | None, credit: Credit, keys: list[str],
               checks: list) -> tuple[float | None, list[float | None]]:
    """(the task's points earned, each check's points) for the checks of its graded ``keys``.

    ``checks`` line up with ``keys`` first (one per graded value); any further checks (values
    the task does not have) earn nothing. Without points, (None, [None …]).
    """
    if points is None:
        return None, [None] * len(checks)
    weights = [credit.weights.get(k, 1.0) for k in keys]
    total_w = sum(weights)
    shares = [points * w / total_w if total_w else 0.0 for w in weights]
    graded = checks[:len(keys)]
    if credit.per == "task":
        right = [bool(c.correct and not c.problem) for c in graded]
        wrong = [c for c, r in zip(graded, right) if not r]
        if not wrong:
            factor = 1.0 if graded else 0.0
        elif all(c.slip and not c.problem for c in wrong):
            factor = min(credit.slip_share(c.slip) for c in wrong)  # one known slip each
        else:
            factor = 0.0
        each = [round(s * factor, 9) for s in shares]
        return round(points * factor, 9), each + [0.0] * (len(checks) - len(graded))
    each = [round(s * value_score(c, credit), 9) for s, c in zip(shares, graded)]
    return round(sum(each), 9), each + [0.0] * (len(checks) - len(graded))
