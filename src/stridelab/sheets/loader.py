"""Sheet files: read a course's exercise sheet (TOML), and validate it whole before anything runs.

A sheet is one TOML file (``docs/sheets.md`` documents the format)::

    course = "RPTU Kaiserslautern"
    title = "Exercise 2: convolutions and loss functions"
    source = "the course's exercise 2"

    [[task]]
    label = "2.1 i)"
    statement = "Correlate the 5x5 image with the three filters, 'same' padding, stride 1."
    kind = "worked"
    command = "conv"
    args = ["--input", "8 2 9 8 3; ...", "--kernel", "1 0 -1; 2 0 -2; 1 0 -1", "--padding", "same"]

A ``[submission]`` table says how the course wants the work handed in (the PDF's name, a zip, the
identity to print; :mod:`stridelab.sheets.submission`), and ``[[stand_in]]`` tables name the files
the sheet refers to but does not give, with what the solution uses instead and the tasks that use
it (each task's answer says so). The data are :mod:`stridelab.sheets.model`'s classes.

Each task has one ``kind``: ``worked`` (a ``conv``/``shape``/``backprop``/``derive`` call with the
command line's own arguments), ``experiment`` (a registered experiment, ``set`` overrides, the
metrics, figures and files to show) or ``answer`` (Markdown whose numbers are references such
as ``{mnist-cnn.test_accuracy:.3f}``, see :mod:`stridelab.sheets.refs`).

:func:`load_sheet` parses and checks everything that can be checked without computing: kinds,
commands and their options (parsed by the command's own parser), experiment names, ``set`` keys
and value types, and every reference's target task and, where the registry declares it, its
metric. Every problem is one :class:`SheetError` line naming the file, the task's label and the
key. What only a computation can tell (a path into a worked answer, a metric the registry does
not declare, a figure) is checked by :mod:`stridelab.sheets.plan` right after computing it.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, StridelabError
from stridelab.sheets import marks as _marks
from stridelab.sheets import refs as _refs
from stridelab.sheets import vary as _vary
from stridelab.sheets.commands import command_parser, worked_argv
from stridelab.sheets.model import (
    BUILTIN_DIR,
    FIGURE_OPTIONS,
    Sheet,
    SheetError,
    StandIn,
    Task,
    VariantRecord,
    sheet_error,
)
from stridelab.sheets.model import where as _where
from stridelab.sheets.submission import RulesError, parse_rules

__all__ = ["Sheet", "SheetError", "StandIn", "Task", "load_sheet", "builtin_names",
           "sheet_path", "task_id", "parse_sheet", "validate", "answer_texts",
           "resolve_target", "check_reference", "check_metric", "parse_worked_args",
           "RUN_FIELDS", "FIGURE_OPTIONS", "VARIANT_MARK", "original_bytes", "sheet_sha256", "apply_values"]

KINDS = ("worked", "experiment", "answer")
COMMANDS = ("conv", "shape", "backprop", "derive")

# the keys each part of a sheet may have (anything else is a typo worth a one-line error)
_SHEET_KEYS = {"course", "title", "source", "stand_in", "given", "submission", "task", "variant",
               "grading", "marks"}
_STAND_IN_KEYS = {"file", "instead", "tasks"}
_COMMON_KEYS = {"label", "id", "kind", "statement", "answer", "points", "weight", "programs"}
_KIND_KEYS = {
    "worked": {"command", "args", "spec", "show", "vary", "credit", "grade"},
    "experiment": {"name", "set", "metrics", "figures", "texts", "files", "if_skipped"},
    "answer": set(),
}
_FIGURE_SUFFIXES = (".png", ".svg")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# the line a variant file's [variant] table starts after: the bytes before it are the sheet's
VARIANT_MARK = "# ---- stridelab sheet variant ----"
_MAX_SHEET_BYTES = 2_000_000
_VARIANT_KEYS = {"student", "name", "seed", "sheet", "sheet_sha256", "values"}


# ---------------------------------------------------------------------------------------------
# finding and reading sheet files


def builtin_names() -> list[str]:
    """The built-in sheets' names (file stems), sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def sheet_path(name_or_file: str | Path) -> Path:
    """A built-in sheet's file for a name, or ``name_or_file`` itself when it is a file."""
    text = str(name_or_file)
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{text}: no such sheet file")
        return path
    candidate = BUILTIN_DIR / f"{text}.toml"
    if _PLAIN_NAME.fullmatch(text) and candidate.is_file():
        return candidate
    raise ConfigError(f"unknown sheet {text!r}; built in: {', '.join(builtin_names())} "
                      "(see `stridelab sheet list`), or give a .toml file")


def original_bytes(data: bytes) -> bytes:
    """A sheet file's bytes without its ``[variant]`` part: the sheet a variant was drawn from."""
    mark = ("\n" + VARIANT_MARK + "\n").encode()
    i = data.find(mark)
    return data if i < 0 else data[:i + 1]


def sheet_sha256(data: bytes) -> str:
    """sha256 of a sheet file's text without its ``[variant]`` part (trailing blank lines
    aside): what a variant records as the sheet it was drawn from."""
    import hashlib

    return hashlib.sha256(original_bytes(data).rstrip() + b"\n").hexdigest()


def _read_toml(path: Path) -> tuple[dict, bytes]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        if not path.is_file():
            raise ConfigError(f"{_where(path)}: not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(_MAX_SHEET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{_where(path)}: cannot read the sheet: {exc.strerror or exc}") \
            from None
    if len(data) > _MAX_SHEET_BYTES:
        raise ConfigError(f"{_where(path)}: larger than {_MAX_SHEET_BYTES:,} bytes; a sheet "
                          "file is text")
    try:
        return tomllib.loads(data.decode("utf-8")), data
    except UnicodeDecodeError:
        raise ConfigError(f"{_where(path)}: the sheet is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_where(path)}: invalid TOML: {str(exc).splitlines()[0]}") from None


def task_id(label: str) -> str:
    """The id a label gets when the task gives none.

    Lower case; punctuation other than '.' and '-' dropped; a space becomes '-', except between a
    number and the letter of a sub-task, which are joined:

    >>> [task_id(x) for x in ("2.1 i)", "Problem 6.2", "4-1 (a)", "4.1.1 (2)", "Model design")]
    ['2.1i', 'problem-6.2', '4-1a', '4.1.1-2', 'model-design']
    """
    text = re.sub(r"[^a-z0-9.\-\s]", "", label.lower())
    text = re.sub(r"(?<=\d)\s+(?=[a-z])", "", text.strip())
    return re.sub(r"\s+", "-", text).strip(".-")


# ---------------------------------------------------------------------------------------------
# parsing


def _as_set_value(value: Any) -> str:
    """A TOML value as the text `--set key=value` would give it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_as_set_value(v) for v in value)
    return str(value)


def _str_list(value: Any, where: str, label: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise sheet_error(where, label, key, "expected a list of strings")
    return tuple(value)


def _programs(value: Any, where: str, label: str) -> tuple[str, ...]:
    """A task's hand-in programs: file names of :mod:`stridelab.programs`, nothing else."""
    from stridelab.sheets.programs import program_names, program_path

    names = _str_list(value, where, label, "programs")
    for name in names:
        if program_path(name) is None:
            raise sheet_error(where, label, "programs", f"{name!r} is not a hand-in program; "
                              f"the programs are: {', '.join(program_names())}")
    if len(set(names)) != len(names):
        raise sheet_error(where, label, "programs", "a program is named twice")
    return names


def _parse_task(raw: Any, index: int, where: str) -> Task:
    if not isinstance(raw, dict):
        raise sheet_error(where, None, f"task[{index}]", "each [[task]] must be a table")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise sheet_error(where, None, f"task[{index}].label",
                          "missing: every task needs the sheet's own label, e.g. label = \"2.1 i)\"")
    label = label.strip()
    kind = raw.get("kind")
    if kind not in KINDS:
        got = "missing" if kind is None else f"unknown kind {kind!r}"
        raise sheet_error(where, label, "kind", f"{got}; use one of: {', '.join(KINDS)}")
    if kind == "experiment" and "lessons" in raw:
        raise sheet_error(where, label, "lessons", "a solution shows no lessons, badges or "
                          "targets of its own (they belong to `stridelab report`); remove the "
                          "key and say in the answer what the sheet asks")
    unknown = set(raw) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        allowed = sorted(_COMMON_KEYS | _KIND_KEYS[kind])
        raise sheet_error(where, label, sorted(unknown)[0],
                          f"unknown key for a {kind} task; allowed: {', '.join(allowed)}")
    statement = raw.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise sheet_error(where, label, "statement", "missing: say what the task asks, in your "
                          "own words")
    tid = raw.get("id", task_id(label))
    if not isinstance(tid, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", tid):
        raise sheet_error(where, label, "id", f"{tid!r}: use letters, digits, '.', '_' and '-'")
    answer = raw.get("answer", "")
    if not isinstance(answer, str):
        raise sheet_error(where, label, "answer", "expected a Markdown string")
    if kind == "answer" and not answer.strip():
        raise sheet_error(where, label, "answer", "missing: an answer task needs its Markdown")
    fields: dict[str, Any] = dict(label=label, id=tid, kind=kind, statement=statement.strip(),
                                  answer=answer.strip(),
                                  programs=_programs(raw.get("programs", []), where, label))
    try:
        if "points" in raw:
            fields["points"] = _marks.parse_points(raw["points"])
        if "weight" in raw:
            fields["weight"] = _marks.parse_points(raw["weight"], "weight")
        if "credit" in raw:
            fields["credit"] = _marks.parse_credit(raw["credit"])
        if "grade" in raw:
            fields["grade"] = _marks.parse_grade(raw["grade"])
    except _marks.MarksError as exc:
        raise sheet_error(where, label, exc.key, exc.message) from None
    if kind == "worked":
        command = raw.get("command")
        if command not in COMMANDS:
            got = "missing" if command is None else f"unknown command {command!r}"
            raise sheet_error(where, label, "command", f"{got}; use one of: {', '.join(COMMANDS)}")
        args = _str_list(raw.get("args", []), where, label, "args")
        spec = raw.get("spec")
        if spec is not None:
            if command != "backprop":
                raise sheet_error(where, label, "spec", "only a backprop task takes a spec")
            if not isinstance(spec, dict):
                raise sheet_error(where, label, "spec", "expected a table: the network as "
                                  "backprop's JSON, e.g. spec = { layers = [...], lr = 0.1, ... }")
        fields.update(command=command, args=args, spec=spec,
                      show=_str_list(raw.get("show", []), where, label, "show"))
        fields.update(_parse_vary(raw, fields, where, label))
    elif kind == "experiment":
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise sheet_error(where, label, "name", "missing: the experiment to run "
                              "(see `stridelab list`)")
        overrides = raw.get("set", {})
        if not isinstance(overrides, dict):
            raise sheet_error(where, label, "set", "expected a table, e.g. set = { epochs = 5 }")
        files = raw.get("files", {})
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise sheet_error(where, label, "files", "expected a table of hand-in name = "
                              'file of the run, e.g. files = { "mnist_ae.pt" = "mnist_ae.pt" }')
        for hand_in, run_file in files.items():
            for key, value in ((f"files.{hand_in}", hand_in), (f"files.{hand_in}", run_file)):
                if not _PLAIN_NAME.fullmatch(value):
                    raise sheet_error(where, label, key, f"{value!r} must be a plain file name")
        if_skipped = raw.get("if_skipped", "")
        if not isinstance(if_skipped, str):
            raise sheet_error(where, label, "if_skipped", "expected a Markdown string")
        fields.update(name=name, set={str(k): _as_set_value(v) for k, v in overrides.items()},
                      metrics=_str_list(raw.get("metrics", []), where, label, "metrics"),
                      figures=_str_list(raw.get("figures", []), where, label, "figures"),
                      texts=_str_list(raw.get("texts", []), where, label, "texts"),
                      files=dict(files), if_skipped=if_skipped.strip())
    if kind != "worked":
        for key in ("statement", "answer", "if_skipped"):
            found = _vary.placeholders(str(fields.get(key, "")))
            if found:
                raise sheet_error(where, label, key, f"<<{found[0][0]}>>: only a worked task has "
                                  "drawn values; read a worked task's numbers with "
                                  "{worked.ID.path}")
    return Task(**fields)


def _parse_vary(raw: dict, fields: dict, where: str, label: str) -> dict:
    """A worked task's [task.vary] table, and its texts kept with their placeholders.

    The args (and spec) with placeholders are the task's own, or, when the vary table gives
    ``args`` (``spec``), that template, with the sheet's own numbers in the task's args: each
    value is then read from them (a value's ``value`` may be left out).
    """
    table = raw.get("vary", {})
    template = {"statement": fields["statement"], "answer": fields["answer"],
                "args": fields["args"], "spec": fields["spec"], "inferred": {}}
    try:
        if not isinstance(table, dict):
            raise _vary.VaryError("vary", "expected a table, e.g. [task.vary] with X = { ... }")
        inferred: dict[str, Any] = {}
        if "args" in table:
            own = [a for a in fields["args"] if _vary.placeholders(a)]
            if own:
                raise _vary.VaryError("args", f"{own[0]!r}: with vary.args, the task's args "
                                              "hold the sheet's own numbers")
            inferred.update(_vary.match_args(table["args"], fields["args"]))
            template["args"] = tuple(table["args"])
        if "spec" in table:
            if fields["spec"] is None:
                raise _vary.VaryError("vary.spec", "the task has no spec to vary")
            inferred.update(_vary.match_spec(table["spec"], fields["spec"]))
            template["spec"] = table["spec"]
        entries = {}
        for name, entry in table.items():
            if isinstance(entry, dict) and name in inferred and "value" not in entry \
                    and any(k in entry for k in ("range", "choice", "kernel")):
                entry = {**entry, "value": inferred[name]}  # the sheet's own, from its args
            entries[name] = entry
        draws, require, integers = _vary.parse_vary(entries)
        names = {d.name for d in draws}
        for d in draws:
            if d.name in inferred and d.value is not None:
                own_value = _vary.parse_value(inferred[d.name], f"vary.{d.name}",
                                              d.value.kind if d.value.kind in ("kernel", "text")
                                              else "")
                if own_value != d.value:
                    raise _vary.VaryError(f"vary.{d.name}.value", f"{d.value.literal()!r} is "
                                          f"not the task's own {own_value.literal()!r}")
            elif d.name in inferred:
                template["inferred"][d.name] = inferred[d.name]
        for key in ("statement", "answer"):
            _vary.check_placeholders(template[key], names, key)
        for arg in template["args"]:
            _vary.check_placeholders(arg, names, "args")
        for text in _vary.spec_texts(template["spec"]):
            _vary.check_placeholders(text, names, "spec")
    except _vary.VaryError as exc:
        raise sheet_error(where, label, exc.key, exc.message) from None
    if not draws:
        return {}
    return {"vary": draws, "require": require, "integers": integers, "template": template}


def apply_values(task: Task, values: dict) -> Task:
    """``task`` with ``values`` (name -> Value) put into its statement, answer, args and spec."""
    t = task.template
    if t is None:
        return task
    return dataclasses.replace(
        task, values=dict(values), statement=_vary.substitute_text(t["statement"], values),
        answer=_vary.substitute_text(t["answer"], values),
        args=_vary.substitute_args(t["args"], values),
        spec=None if t["spec"] is None else _vary.substitute_spec(t["spec"], values))


def _parse_variant(raw: Any, where: str) -> VariantRecord:
    if not isinstance(raw, dict) or set(raw) - _VARIANT_KEYS:
        bad = sorted(set(raw) - _VARIANT_KEYS)[0] if isinstance(raw, dict) else ""
        raise sheet_error(where, None, f"variant.{bad}" if bad else "variant",
                          f"a [variant] table has {', '.join(sorted(_VARIANT_KEYS))}")
    for key in ("student", "seed", "sheet", "sheet_sha256"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise sheet_error(where, None, f"variant.{key}", "missing (a variant file is written "
                              "by `stridelab sheet variant`)")
    values = raw.get("values", {})
    ok = isinstance(values, dict) and all(
        isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
        for v in values.values())
    if not ok:
        raise sheet_error(where, None, "variant.values", "expected one table of strings per task")
    return VariantRecord(student=raw["student"], seed=raw["seed"], sheet=raw["sheet"],
                         sheet_sha256=raw["sheet_sha256"], values=values,
                         name=str(raw.get("name", "")))


def _conform(value: _vary.Value, like: _vary.Value | None) -> _vary.Value:
    """``value`` in the shape of ``like`` when it has as many numbers: a variant file writes a
    1×1 matrix or a one-number vector as "0.2", which reads back as a number."""
    numeric = ("number", "vector", "matrix")
    if like is None or value.kind not in numeric or like.kind not in numeric \
            or (value.kind, value.shape) == (like.kind, like.shape) \
            or len(value.cells()) != len(like.cells()):
        return value
    cells = value.cells()
    if like.kind == "number":
        return _vary.Value("number", cells[0])
    if like.kind == "vector":
        return _vary.Value("vector", tuple(cells))
    rows, cols = like.shape
    return _vary.Value("matrix", tuple(tuple(cells[r * cols:(r + 1) * cols]) for r in range(rows)))


def _apply_sheet_values(tasks: list[Task], variant: VariantRecord | None, where: str
                        ) -> list[Task]:
    """Every varied task with its values: the sheet's own, or a variant file's recorded ones."""
    resolved: dict[str, dict] = {}
    out = []
    recorded = dict(variant.values) if variant is not None else {}
    for task in tasks:
        if not task.vary:
            out.append(task)
            continue
        mine = recorded.pop(task.id, None)
        if variant is not None and mine is None:
            raise sheet_error(where, task.label, "variant.values",
                              f"no values for task {task.id!r}: the file is not a whole variant")

        def pick(draw, mine=mine):
            if mine is None:
                return draw.value
            if draw.name not in mine:
                raise _vary.VaryError(f"variant.values.{draw.name}", "missing")
            return _conform(_vary.parse_value(
                mine[draw.name], f"variant.values.{draw.name}",
                draw.value.kind if draw.value.kind in ("kernel", "text") else ""), draw.value)
        try:
            values = _vary.resolve_task(task.vary, resolved, pick)
            if variant is None:  # a value that follows from others is what the args say
                for name, text in task.template["inferred"].items():
                    kind = values[name].kind
                    own = _vary.parse_value(text, f"vary.{name}",
                                            kind if kind in ("kernel", "text") else "")
                    if own != values[name]:
                        raise _vary.VaryError(f"vary.{name}", f"the task's args give "
                                              f"{own.literal()!r}, its declaration "
                                              f"{values[name].literal()!r}")
        except _vary.VaryError as exc:
            raise sheet_error(where, task.label, exc.key, exc.message) from None
        resolved[task.id] = values
        out.append(apply_values(task, values))
    if recorded:
        raise sheet_error(where, None, "variant.values", f"{sorted(recorded)[0]!r} is not a "
                          "varied task of this sheet")
    return out


def parse_sheet(data: dict, path: Path, sha256: str = "") -> Sheet:
    """Build a :class:`Sheet` from decoded TOML; structure errors are one-line SheetErrors."""
    where = _where(path)
    unknown = set(data) - _SHEET_KEYS
    if unknown:
        raise sheet_error(where, None, sorted(unknown)[0],
                          f"unknown key; a sheet has {', '.join(sorted(_SHEET_KEYS))}")
    for key in ("course", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise sheet_error(where, None, key, "missing: a sheet needs course and title")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise sheet_error(where, None, "source", "expected a string")
    raw_tasks = data.get("task")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise sheet_error(where, None, "task", "missing: a sheet needs at least one [[task]]")
    tasks = [_parse_task(raw, i, where) for i, raw in enumerate(raw_tasks)]
    seen: dict[str, str] = {}
    for t in tasks:
        if t.id in seen:
            raise sheet_error(where, t.label, "id", f"{t.id!r} is also the id of task "
                              f"{seen[t.id]!r}; give one of them an explicit id")
        seen[t.id] = t.label
    variant = _parse_variant(data["variant"], where) if "variant" in data else None
    tasks = _apply_sheet_values(tasks, variant, where)
    try:
        grading = _marks.parse_grading(data.get("grading"))
        marks = _marks.parse_marks(data.get("marks"))
        points = _marks.task_points(tasks, marks, grading.total)
    except _marks.MarksError as exc:
        raise sheet_error(where, None, exc.key, exc.message) from None
    labels = {t.label for t in tasks}
    stand_ins = []
    raw_stand = data.get("stand_in", [])
    if not isinstance(raw_stand, list):
        raise sheet_error(where, None, "stand_in", "expected [[stand_in]] tables")
    for i, s in enumerate(raw_stand):
        if not isinstance(s, dict) or set(s) - _STAND_IN_KEYS:
            raise sheet_error(where, None, f"stand_in[{i}]",
                              "expected a table with file, instead and optional tasks")
        for key in ("file", "instead"):
            if not isinstance(s.get(key), str) or not s[key].strip():
                raise sheet_error(where, None, f"stand_in[{i}].{key}", "missing")
        used_by = _str_list(s.get("tasks", []), where, None, f"stand_in[{i}].tasks")  # type: ignore[arg-type]
        for label in used_by:
            if label not in labels:
                raise sheet_error(where, None, f"stand_in[{i}].tasks",
                                  f"no task is labelled {label!r}")
        stand_ins.append(StandIn(s["file"].strip(), s["instead"].strip(), used_by))
    given = data.get("given", {})
    if not isinstance(given, dict):
        raise sheet_error(where, None, "given", "expected a table of the sheet's own numbers")
    try:
        rules = parse_rules(data.get("submission"))
    except RulesError as exc:
        raise sheet_error(where, None, f"submission.{exc.key}" if exc.key != "submission"
                          else "submission", exc.message) from None
    return Sheet(name=path.stem, path=path, course=data["course"].strip(),
                 title=data["title"].strip(), source=source.strip(), tasks=tuple(tasks),
                 stand_ins=tuple(stand_ins), given=dict(given), submission=rules,
                 sha256=sha256, variant=variant, grading=grading, marks=marks,
                 points=points)


def load_sheet(name_or_file: str | Path, *, quick: bool = False, smoke: bool = False) -> Sheet:
    """Read a built-in sheet by name, or a sheet file, and validate it (see :func:`validate`)."""
    path = sheet_path(name_or_file)
    data, raw = _read_toml(path)
    sheet = parse_sheet(data, path, sheet_sha256(raw))
    validate(sheet, quick=quick, smoke=smoke)
    return sheet


# ---------------------------------------------------------------------------------------------
# validation that needs no computation


def parse_worked_args(sheet: Sheet, task: Task, spec_path: str | None = None) -> argparse.Namespace:
    """Parse a worked task's arguments with the command's own parser (one-line error if bad)."""
    parser = command_parser(task.command)
    try:
        return parser.parse_args(worked_argv(task, spec_path))
    except StridelabError as exc:
        message = re.sub(r" \(see `[^`]*`\)$", "", str(exc))
        raise sheet.error(task, "args", f"stridelab {task.command}: {message}") from None
    except SystemExit:  # pragma: no cover - a parser that exits anyway
        raise sheet.error(task, "args", f"stridelab {task.command} refused them") from None


def _check_worked(sheet: Sheet, task: Task) -> None:
    parse_worked_args(sheet, task)
    for name in task.figure_files():
        if not _PLAIN_NAME.fullmatch(name) or not name.lower().endswith(_FIGURE_SUFFIXES):
            raise sheet.error(task, "args", f"figure {name!r}: give a plain file name ending in "
                              ".png or .svg; it is written into the solution's figures/")
    if task.spec is not None:
        import json

        from stridelab.worked.commands import module

        try:
            module("backprop").load_spec(json.dumps(task.spec))
        except StridelabError as exc:
            raise sheet.error(task, "spec", str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise sheet.error(task, "spec", f"not a valid network: {exc}") from None


def declared_metrics(experiment) -> set[str]:
    """The metric names the registry declares up front: the key metric and the lessons' metrics."""
    names = {experiment.key_metric}
    for lesson in experiment.lessons:
        names.update(lesson.keys())
    return names


def _check_experiment(sheet: Sheet, task: Task, quick: bool, smoke: bool) -> None:
    from stridelab.experiments import registry

    try:
        experiment = registry.get(task.name)
    except ConfigError as exc:
        raise sheet.error(task, "name", str(exc)) from None
    try:
        experiment.make_config(quick=quick, smoke=smoke, overrides=task.set)
    except ConfigError as exc:
        key = next((f"set.{k}" for k in task.set if f" {k}" in str(exc)), "set")
        message = re.sub(r"^--set \S+?: ", "", str(exc))
        raise sheet.error(task, key, message) from None
    except (TypeError, ValueError) as exc:
        raise sheet.error(task, "set", str(exc)) from None


def validate(sheet: Sheet, *, quick: bool = False, smoke: bool = False) -> None:
    """Check what can be checked without computing anything; raise the first problem found.

    Checked here: each worked task's command and arguments (parsed by the command's own parser),
    an inline backprop spec, figure file names; each experiment's name, ``set`` keys and value
    types (against the quick or full configuration that will run); every reference in every
    answer: its syntax, the task it names, the experiment's config keys, and the metric when the
    registry declares its metrics. Paths into worked answers, and metrics and figures the
    registry does not declare, are checked as soon as they are computed (before anything is
    written).
    """
    for task in sheet.tasks:
        if task.kind == "worked":
            _check_worked(sheet, task)
        elif task.kind == "experiment":
            _check_experiment(sheet, task, quick, smoke)
    for task in sheet.tasks:
        for key, text in answer_texts(task):
            try:
                for ref in _refs.references(text):
                    check_reference(sheet, task, key, ref)
            except _refs.RefSyntaxError as exc:
                raise sheet.error(task, key, str(exc)) from None


def answer_texts(task: Task) -> list[tuple[str, str]]:
    """(key, Markdown) of every text of ``task`` that may hold references."""
    out = [("answer", task.answer)] if task.answer else []
    if task.if_skipped:
        out.append(("if_skipped", task.if_skipped))
    return out


def experiment_tasks(sheet: Sheet, name: str) -> list[Task]:
    return [t for t in sheet.tasks if t.kind == "experiment" and t.name == name]


def resolve_target(sheet: Sheet, task: Task, key: str, ref: _refs.Ref) -> tuple[Task | None, list]:
    """The task a reference reads from (None for ``given``) and the path inside it."""
    if ref.head == "given":
        return None, list(ref.rest)
    if ref.head in ("worked", "run"):
        kind = "worked" if ref.head == "worked" else "experiment"
        candidates = [t for t in sheet.tasks if t.kind == kind]
        target, path = _refs.split_task_id(ref.rest, [t.id for t in candidates])
        if target is None:
            ids = ", ".join(t.id for t in candidates) or "none"
            raise sheet.error(task, key, f"{ref.text}: no {kind} task has that id "
                              f"(the sheet's {kind} task ids: {ids})")
        return next(t for t in candidates if t.id == target), path
    runs = experiment_tasks(sheet, ref.head)
    if not runs:
        from stridelab.experiments import registry

        try:
            registry.get(ref.head)
        except ConfigError:
            raise sheet.error(task, key, f"{ref.text}: {ref.head!r} is neither a task nor an "
                              "experiment; write {worked.ID.path}, {run.ID.metric}, "
                              "{EXPERIMENT.metric}, {given.name} or "
                              "{record.\"STEM\".path}") from None
        raise sheet.error(task, key, f"{ref.text}: no task of this sheet runs {ref.head}; add an "
                          "experiment task for it")
    if len({tuple(sorted(t.set.items())) for t in runs}) > 1:
        ids = ", ".join(t.id for t in runs)
        raise sheet.error(task, key, f"{ref.text}: tasks {ids} run {ref.head} with different "
                          "settings; name one as {run.ID.metric}")
    return runs[0], list(ref.rest)


RUN_FIELDS = ("config", "data", "lessons", "status", "reason", "seconds", "run_dir")


def check_reference(sheet: Sheet, task: Task, key: str, ref: _refs.Ref,
                    known_metrics: dict[str, set[str]] | None = None) -> None:
    """Check a reference's target; with ``known_metrics`` (metrics of runs), its metric too.

    A result record (``{record."STEM".path}``) is checked for its form only: whether the record
    is there is known when the answer is rendered (it reads *not measured* when it is not).
    """
    if ref.head == "record":
        if len(ref.rest) < 2 or not _refs.is_record_stem(ref.rest[0]):
            raise sheet.error(task, key, f"{ref.text}: write {{record.\"STEM\".path}} with STEM "
                              "a result record's file name under results/ without .json, and "
                              "a path into it (e.g. metrics.test_accuracy)")
        return
    target, path = resolve_target(sheet, task, key, ref)
    if target is None:
        value: Any = sheet.given
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                raise sheet.error(task, key, f"{ref.text}: the sheet's [given] table has no "
                                  f"{'.'.join(path)!r} (it has: {', '.join(sheet.given) or 'nothing'})")
        return
    if target.kind != "experiment":
        return  # paths into worked answers are checked once they are computed
    if not path:
        raise sheet.error(task, key, f"{ref.text}: name a metric, e.g. "
                          f"{{{ref.head}.{'' if ref.head != 'run' else target.id + '.'}test_accuracy}}")
    from stridelab.experiments import registry

    experiment = registry.get(target.name)
    head = path[0]
    if head == "config":
        fields = {f.name for f in dataclasses.fields(experiment.config_cls)}
        if len(path) < 2 or path[1] not in fields:
            raise sheet.error(task, key, f"{ref.text}: {target.name} has no config field "
                              f"{'.'.join(path[1:])!r}; fields: {', '.join(sorted(fields))}")
        return
    if head in RUN_FIELDS:
        return
    check_metric(sheet, task, key, ref.text, target, head,
                 None if known_metrics is None else known_metrics.get(target.id))


def check_metric(sheet: Sheet, task: Task, key: str, what: str, target: Task, metric: str,
                 known: set[str] | None) -> None:
    """``metric`` of ``target``'s experiment: against the run's metrics when they are known."""
    if known is None or metric in known:
        return
    raise sheet.error(task, key, f"{what}: {target.name} records no metric {metric!r} "
                      f"(its metrics: {', '.join(sorted(known))})")
