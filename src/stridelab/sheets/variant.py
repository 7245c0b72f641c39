"""A student's variant of a sheet: new numbers for every varied task, drawn, checked and written.

``make_variant(sheet, student)`` draws the values of each worked task's ``[task.vary]`` table
(:mod:`stridelab.sheets.vary`) from a seed that depends only on the sheet's declarations and the
student id, so the instructor rebuilds the same variant at grading time:

    seed = sha256("stridelab-variant-1" / draws hash / student id), first 16 hex digits

where the draws hash covers what the numbers are drawn from (each varied task's id, command,
argument and spec templates, vary table and conditions), not the statements and answers: a
reworded statement keeps every student's numbers. Each draw is checked by computing the task's
answer (:mod:`stridelab.worked.commands`): the command accepts the numbers (an output of at
least one cell, no division by zero), the answer's second-way checks pass, every number that is
an integer for the sheet's own values is an integer again, and the task's ``require`` conditions
hold (the same kind of case as the sheet's). A draw that breaks one is redrawn with the next try
number, at most :data:`MAX_TRIES` times; then one line names the condition.

:func:`variant_text` writes the variant as a complete sheet file: the sheet's own text, then a
``[variant]`` table with the student, the seed, the sheet's sha256 and the drawn values. Loading
it gives the sheet with the variant's numbers; :func:`verify_variant` refuses a file whose seed no
longer reproduces its numbers (edited by hand).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, StridelabError
from stridelab.sheets import vary as _vary
from stridelab.sheets.loader import (
    VARIANT_MARK,
    apply_values,
    original_bytes,
    parse_worked_args,
    sheet_sha256,
)
from stridelab.sheets.model import FIGURE_OPTIONS, Sheet, Task, VariantRecord

__all__ = ["Variant", "make_variant", "original_of", "draws_hash", "seed_for", "variant_text",
           "verify_variant", "check_student", "read_roster", "compute_answer", "sheet_sha256",
           "MAX_TRIES", "SEED_FORMAT"]

SEED_FORMAT = "stridelab-variant-1"
MAX_TRIES = 100
_STUDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_MAX_ROSTER_BYTES = 1_000_000
_MAX_ROSTER_ROWS = 10_000


# ---------------------------------------------------------------------------------------------
# seeds


def draws_hash(sheet: Sheet) -> str:
    """sha256 of what the variants are drawn from: every varied task's id, command, argument
    and spec templates, vary table and conditions."""
    tasks = [{"id": t.id, "command": t.command, "args": list(t.template["args"]),
              "spec": t.template["spec"], "vary": {d.name: d.raw for d in t.vary},
              "require": list(t.require), "integers": t.integers}
             for t in sheet.tasks if t.vary]
    text = _vary.canonical({"format": SEED_FORMAT, "tasks": tasks})
    return hashlib.sha256(text.encode()).hexdigest()


def check_student(student: str) -> str:
    """A student id as a file name may hold it; ConfigError otherwise."""
    if not isinstance(student, str) or not _STUDENT.fullmatch(student):
        raise ConfigError(f"student id {str(student)[:40]!r}: use 1 to 64 letters, digits and "
                          "._@+- (starting with a letter or digit)")
    return student


def seed_for(sheet: Sheet, student: str) -> str:
    """The variant seed of ``student`` for ``sheet``: 16 hex digits."""
    text = f"{SEED_FORMAT}\n{draws_hash(sheet)}\n{check_student(student)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# computing a task's answer (no figures): what every draw is checked by


def compute_answer(sheet: Sheet, task: Task, data: bool = True) -> tuple[Any, Any]:
    """(the answer object, its JSON form) of a worked task, without drawing its figures.

    ``data=False`` skips the JSON form (None): a derivation renders every step to build it.
    """
    from stridelab.worked.answer import as_plain
    from stridelab.worked.commands import answer_from_args

    spec = None if task.spec is None else json.dumps(task.spec)
    args = parse_worked_args(sheet, task, spec)
    for option in FIGURE_OPTIONS:
        if getattr(args, option.lstrip("-"), None):
            setattr(args, option.lstrip("-"), None)
    if getattr(args, "graph", 0) is None and getattr(args, "step", None) is not None:
        args.step = None  # backprop's --step only says which step --graph draws
    answer = answer_from_args(task.command, args)
    return answer, (as_plain(answer.to_dict()) if data else None)


def check_flags(obj: Any, depth: int = 0) -> list[bool]:
    """Every ``passed`` flag of an answer's second-way checks, read from the answer object
    (its dataclass fields, dicts and lists), without building its JSON form."""
    import dataclasses as dc

    if depth > 8 or isinstance(obj, (str, bytes, int, float)) or obj is None:
        return []
    if isinstance(obj, dict):
        found = [v for k, v in obj.items() if k == "passed" and isinstance(v, bool)]
        return found + [f for k, v in obj.items() if k != "passed"
                        for f in check_flags(v, depth + 1)]
    if isinstance(obj, (list, tuple)):
        return [f for v in obj[:10_000] for f in check_flags(v, depth + 1)]
    if dc.is_dataclass(obj) and not isinstance(obj, type):
        found = [obj.passed] if isinstance(getattr(obj, "passed", None), bool) else []
        return found + [f for fld in dc.fields(obj) if fld.name != "passed"
                        for f in check_flags(getattr(obj, fld.name), depth + 1)]
    return []


def _int_paths(data: Any, prefix: str = "") -> set[str]:
    """Paths (dotted) of the integers in an answer's JSON form."""
    out: set[str] = set()
    if isinstance(data, dict):
        for k, v in data.items():
            out |= _int_paths(v, f"{prefix}{k}.")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out |= _int_paths(v, f"{prefix}{i}.")
    elif isinstance(data, int) and not isinstance(data, bool):
        out.add(prefix[:-1])
    return out


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


@dataclass
class _Original:
    """What the sheet's own numbers give, per varied task: the integer paths of its answer."""

    ints: dict[str, set[str]]


_ORIGINALS: dict[str, _Original] = {}  # draws hash -> the original's answers, once per process


def _original(sheet: Sheet) -> _Original:
    key = draws_hash(sheet)
    if key not in _ORIGINALS:
        ints = {}
        for task in sheet.tasks:
            if not task.vary:
                continue
            try:
                _, data = compute_answer(sheet, task)
            except StridelabError as exc:
                raise sheet.error(task, "args", f"stridelab {task.command}: "
                                  f"{str(exc).splitlines()[0]}") from None
            for cond in task.require:
                if not _vary.condition_holds(cond, task.values, data):
                    raise sheet.error(task, "vary.require", f"{cond!r} does not hold for the "
                                      "sheet's own numbers: a variant must be the same kind "
                                      "of case as the sheet")
            ints[task.id] = _int_paths(data)
        _ORIGINALS[key] = _Original(ints)
    return _ORIGINALS[key]


def _failure(sheet: Sheet, task: Task, values: dict, original: _Original) -> tuple[str, Any]:
    """Why a draw is not acceptable ("" when it is), and its answer object when computed."""
    concrete = apply_values(task, values)
    needs_data = task.integers or any(_vary.answer_paths(c) for c in task.require)
    try:
        answer, data = compute_answer(sheet, concrete, data=needs_data)
    except StridelabError as exc:
        return f"the command accepts the numbers (stridelab {task.command}: " \
               f"{str(exc).splitlines()[0][:120]})", None
    if not all(check_flags(answer)):
        return "the answer's second-way check passes", answer
    for path in sorted(original.ints.get(task.id, ()) if task.integers else ()):
        v = _at(data, path)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool)):
            return f"integer results stay integers (answer.{path})", answer
    for cond in task.require:
        if not _vary.condition_holds(cond, values, data):
            return f"require {cond!r}", answer
    return "", answer


# ---------------------------------------------------------------------------------------------
# a variant


@dataclass
class Variant:
    """One student's variant: the sheet with their numbers, and the answers computed for them."""

    sheet: Sheet  # the sheet with the variant's values put in, its ``variant`` record set
    student: str
    seed: str
    values: dict[str, dict[str, _vary.Value]]  # task id -> name -> value
    answers: dict[str, Any] = field(default_factory=dict)  # varied task id -> answer object
    tries: dict[str, int] = field(default_factory=dict)  # varied task id -> draws it took

    @property
    def record(self) -> VariantRecord:
        assert self.sheet.variant is not None
        return self.sheet.variant


def original_of(sheet: Sheet) -> Sheet:
    """The sheet a variant was drawn from: its tasks with their declared values again."""
    if sheet.variant is None:
        return sheet
    resolved: dict[str, dict] = {}
    tasks = []
    for task in sheet.tasks:
        if task.vary:
            values = _vary.resolve_task(task.vary, resolved, lambda d: d.value)
            resolved[task.id] = values
            task = apply_values(task, values)
        tasks.append(task)
    return dataclasses.replace(sheet, tasks=tuple(tasks), variant=None)


def make_variant(sheet: Sheet, student: str, name: str = "") -> Variant:
    """Draw ``student``'s variant of ``sheet`` (see the module docstring).

    Raises a one-line SheetError when a task's draws keep breaking a condition.
    """
    sheet = original_of(sheet)
    seed = seed_for(sheet, student)
    original = _original(sheet)
    resolved: dict[str, dict] = {}
    answers: dict[str, Any] = {}
    tries: dict[str, int] = {}
    tasks = []
    for task in sheet.tasks:
        if not task.vary:
            tasks.append(task)
            continue
        failures: Counter = Counter()
        # a task whose values all follow from earlier tasks' has one draw: redrawing changes
        # nothing (a condition it needs belongs on the task that draws them)
        own = any(d.source not in ("same", "expr") for d in task.vary)
        for attempt in range(MAX_TRIES if own else 1):
            def pick(draw, attempt=attempt, tid=task.id):
                stream = _vary.Stream(f"{seed}\x1f{tid}\x1f{attempt}\x1f{draw.name}")
                return _vary.draw_value(draw, stream)
            try:
                values = _vary.resolve_task(task.vary, resolved, pick)
            except _vary.VaryError as exc:
                failures[f"no division by zero ({exc.key})"] += 1
                continue
            why, answer = _failure(sheet, task, values, original)
            if not why:
                break
            failures[why] += 1
        else:
            worst = failures.most_common(1)[0][0]
            if not own:
                raise sheet.error(task, "vary", f"the values it takes from earlier tasks for "
                                  f"student {student!r} break: {worst}; put the condition on "
                                  "the task that draws them")
            raise sheet.error(task, "vary", f"no draw in {MAX_TRIES} tries for student "
                              f"{student!r} meets: {worst}; widen the ranges or relax it")
        resolved[task.id] = values
        answers[task.id] = answer
        tries[task.id] = attempt + 1
        tasks.append(apply_values(task, values))
    record = VariantRecord(
        student=student, seed=seed, sheet=sheet.name, sheet_sha256=sheet.sha256,
        values={tid: {n: v.literal() for n, v in vals.items()} for tid, vals in resolved.items()},
        name=name)
    return Variant(dataclasses.replace(sheet, tasks=tuple(tasks), variant=record), student, seed,
                   resolved, answers, tries)


# ---------------------------------------------------------------------------------------------
# the variant file


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def variant_text(variant: Variant, original: bytes) -> str:
    """The variant as a sheet file: ``original`` (the sheet's text) and its ``[variant]``."""
    record = variant.record
    lines = [original_bytes(original).decode("utf-8").rstrip(), "", VARIANT_MARK,
             "# The numbers of this sheet drawn for one student by `stridelab sheet variant`: they",
             "# replace the `value`s of the [task.vary] tables above. Grading rebuilds them from",
             "# the sheet and the student id; a file whose seed does not draw them is refused.",
             "[variant]",
             f"student = {_toml_string(record.student)}"]
    if record.name:
        lines.append(f"name = {_toml_string(record.name)}")
    lines += [f"seed = {_toml_string(record.seed)}",
              f"sheet = {_toml_string(record.sheet)}",
              f"sheet_sha256 = {_toml_string(record.sheet_sha256)}"]
    for tid, values in record.values.items():
        lines += ["", f"[variant.values.{_toml_string(tid)}]"]
        lines += [f"{n} = {_toml_string(v)}" for n, v in values.items()]
    return "\n".join(lines) + "\n"


def verify_variant(sheet: Sheet) -> Variant:
    """The variant a variant file claims to be, rebuilt; SheetError if it was edited by hand.

    Its seed must be the one its student gets from the sheet's declarations, every value the one
    that seed draws, and its sheet part the sheet it records (by sha256).
    """
    record = sheet.variant
    if record is None:
        raise ConfigError(f"{sheet.where}: not a variant file (it has no [variant] table)")
    how = f"rebuild it with `stridelab sheet variant {record.sheet} --student {record.student}`"
    try:
        expected = seed_for(sheet, record.student)
    except ConfigError as exc:
        raise sheet.error(None, "variant.student", str(exc)) from None
    if record.seed != expected:
        raise sheet.error(None, "variant.seed", f"edited by hand: {record.seed!r} is not the seed "
                          f"of student {record.student!r} for these numbers' declarations; {how}")
    if record.sheet_sha256 != sheet.sha256:
        raise sheet.error(None, "variant.sheet_sha256", "edited by hand: the sheet part of the "
                          f"file is not the sheet it was drawn from; {how}")
    rebuilt = make_variant(sheet, record.student, record.name)
    for tid, values in rebuilt.record.values.items():
        for name, literal in values.items():
            if record.values.get(tid, {}).get(name) != literal:
                raise sheet.error(sheet.task(tid), f"variant.values.{name}",
                                  f"edited by hand: the seed {record.seed} draws "
                                  f"{literal[:40]!r}, not "
                                  f"{str(record.values.get(tid, {}).get(name))[:40]!r}; {how}")
    return rebuilt


# ---------------------------------------------------------------------------------------------
# rosters


def read_roster(path: str | Path) -> list[tuple[str, str]]:
    """(student id, name) per row of a roster CSV: ids in the first column, names optionally in
    the second; a first row whose first cell is a heading (id, student ...) is skipped."""
    p = Path(path)
    try:
        if not p.is_file():
            raise ConfigError(f"--roster {p}: no such file")
        with open(p, "rb") as fh:
            data = fh.read(_MAX_ROSTER_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"--roster {p}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > _MAX_ROSTER_BYTES:
        raise ConfigError(f"--roster {p}: larger than {_MAX_ROSTER_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"--roster {p}: not UTF-8 text") from None
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;\t") if "\n" in text else \
            csv.excel
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() in ("id", "student", "student id", "student_id",
                                               "matriculation", "number", "username"):
        rows = rows[1:]
    if not rows:
        raise ConfigError(f"--roster {p}: no students in it")
    if len(rows) > _MAX_ROSTER_ROWS:
        raise ConfigError(f"--roster {p}: more than {_MAX_ROSTER_ROWS:,} students")
    out, seen = [], {}
    for i, row in enumerate(rows, 1):
        sid = row[0].strip()
        try:
            check_student(sid)
        except ConfigError as exc:
            raise ConfigError(f"--roster {p}: row {i}: {exc}") from None
        if sid in seen:
            raise ConfigError(f"--roster {p}: row {i}: {sid!r} is also in row {seen[sid]}")
        seen[sid] = i
        out.append((sid, row[1].strip()[:120] if len(row) > 1 else ""))
    return out
