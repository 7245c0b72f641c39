"""A student's answers file: the values a variant asks for, written as on the command line.

``stridelab sheet answers`` writes a blank one per student (TOML)::

    # K₁'s output … (stridelab sheet answers)
    [answers]
    student = "s1234"
    seed = "cb2522662fe26226"
    sheet = "rptu-2"

    [task."2.1i"]
    # the output of kernel 1 (5×5 matrix)
    "output.1" = ""

one ``[task."ID"]`` table per graded task and one key per value, each written as the commands
read it: a matrix ``"8 2 9; 3 4 6"``, a list of matrices as ``["8 2; 3 4", "1 0; 0 1"]``, a
shape ``"49x49x8"``, a number or an exact fraction ``"-1090/5139"``, a formula as a string in
the task's symbols. A value left ``""`` (or ``[]``) is not answered.

:func:`read_answers` reads one back without trusting it: a file that cannot be read, is not
TOML or has no ``[answers]`` table with its student and seed is one line (exit 2); anything
inside a task's table is kept as written, for the grader to score (a malformed value scores 0
with its reason, it does not stop the grading).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError

__all__ = ["AnswersFile", "read_answers", "blank_answers", "answers_text", "ANSWERS_NAME",
           "MAX_ANSWERS_BYTES", "graded_tasks"]

ANSWERS_NAME = "answers.toml"
MAX_ANSWERS_BYTES = 1_000_000
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class AnswersFile:
    """One student's answers file, as read."""

    path: Path
    student: str
    seed: str
    sheet: str
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> key -> value
    sha256: str = ""  # of the file's bytes
    name: str = ""  # the student's name, when the file gives one

    def answered(self, task_id: str) -> dict[str, Any]:
        """The task's values that were given (blank ones left out)."""
        return {k: v for k, v in self.values.get(task_id, {}).items()
                if v != "" and v != []}


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def read_answers(path: str | Path) -> AnswersFile:
    """Read an answers file; ConfigError (one line) when it is not one."""
    p = Path(path)
    where = str(p)
    try:
        if not p.is_file():
            raise ConfigError(f"{where}: no such answers file" if not p.exists()
                              else f"{where}: not a regular file")
        with open(p, "rb") as fh:
            data = fh.read(MAX_ANSWERS_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_ANSWERS_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_ANSWERS_BYTES:,} bytes; an answers file "
                          "is a few values")
    try:
        doc = _toml().loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except _toml().TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {str(exc).splitlines()[0]}") from None
    head = doc.get("answers")
    if not isinstance(head, dict):
        raise ConfigError(f"{where}: no [answers] table (write the file with `stridelab sheet "
                          "answers`)")
    for key in ("student", "seed", "sheet"):
        if not isinstance(head.get(key), str) or not head[key]:
            raise ConfigError(f"{where}: [answers] {key}: missing")
    tasks = doc.get("task", {})
    if not isinstance(tasks, dict) or not all(isinstance(v, dict) for v in tasks.values()):
        raise ConfigError(f"{where}: task: expected one [task.\"ID\"] table per task")
    name = head.get("name", "")
    return AnswersFile(p, head["student"], head["seed"], head["sheet"],
                       {str(t): dict(v) for t, v in tasks.items()},
                       hashlib.sha256(data).hexdigest(),
                       name[:120] if isinstance(name, str) else "")


# ---------------------------------------------------------------------------------------------
# writing


def _key(text: str) -> str:
    return text if _BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def _value(kind: str, value: Any) -> str:
    if kind == "matrices":
        items = value if isinstance(value, list) else \
            [p.strip() for p in str(value).split("|")] if value else []
        return "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in items) + "]"
    return json.dumps("" if value is None else str(value), ensure_ascii=False)


def _comment(text: str) -> str:
    return "\n".join("# " + line if line else "#" for line in text.splitlines())


def graded_tasks(sheet, gradables: dict[str, list]) -> list[tuple[Any, list]]:
    """(task, its graded Gradables) for every task an answers file has a table for."""
    out = []
    for task in sheet.tasks:
        if task.kind != "worked" or task.grade == "by hand" or task.id not in gradables:
            continue
        keep = gradables[task.id]
        if task.grade != "all":
            keep = [g for g in keep if g.key in task.grade]
        if keep:
            out.append((task, keep))
    return out


def answers_text(sheet, student: str, seed: str, gradables: dict[str, list],
                 filled: dict[str, dict[str, Any]] | None = None, name: str = "") -> str:
    """An answers file: blank (``filled`` None) or holding ``filled[task id][key]``.

    ``gradables`` maps a task id to its Gradable list (key, kind, description, n_cells,
    symbols); tasks graded by hand are listed in the header only.
    """
    filled = filled or {}
    tasks = graded_tasks(sheet, gradables)
    listed = {t.id for t, _ in tasks}
    by_hand = [t.label for t in sheet.tasks if t.id not in listed]
    head = [f"Answers to {sheet.course}: {sheet.title}",
            f"for student {student}, variant seed {seed} (written by `stridelab sheet answers`).",
            "",
            "Write each value as on the command line: a matrix \"8 2 9; 3 4 6\", a list of",
            "matrices [\"8 2; 3 4\", \"1 0; 0 1\"], a shape \"49x49x8\", a number or an exact",
            "fraction \"-1090/5139\", a formula as a string in the symbols its comment names.",
            "Leave \"\" where you have no value. `stridelab sheet check` says what is right."]
    if by_hand:
        head += ["", "Graded by hand (hand them in as the sheet asks): " + ", ".join(by_hand)]
    lines = [_comment("\n".join(head)), "", "[answers]", f"student = {json.dumps(student)}"]
    if name:
        lines.append(f"name = {json.dumps(name, ensure_ascii=False)}")
    lines += [f"seed = {json.dumps(seed)}", f"sheet = {json.dumps(sheet.name)}"]
    for task, gs in tasks:
        points = sheet.points.get(task.id)
        worth = "" if points is None else f" ({points:.3g} point{'' if points == 1 else 's'})"
        lines += ["", f"[task.{_key(task.id)}]", f"# {task.label}{worth}"]
        for g in gs:
            what = g.kind if g.n_cells <= 1 else f"{g.kind}, {g.n_cells} values"
            note = f"{g.description} ({what})"
            if g.symbols:
                note += f"; symbols: {', '.join(g.symbols)}"
            lines.append(_comment(note))
            lines.append(f"{_key(g.key)} = {_value(g.kind, filled.get(task.id, {}).get(g.key))}")
    return "\n".join(lines) + "\n"


def blank_answers(sheet, student: str, seed: str, gradables: dict[str, list],
                  name: str = "") -> str:
    """The blank answers file of one student's variant."""
    return answers_text(sheet, student, seed, gradables, name=name)
