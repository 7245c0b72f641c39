"""A sheet's submission rules, and the student (or group) whose hand-in is being made.

A sheet file states how its course wants the work handed in, in a ``[submission]`` table::

    [submission]
    pdf = "452_{lastname}{initials}_assignment2.pdf"   # the PDF's required name
    notebook = "{lastname}{initials}_assignment2.ipynb"
    zip = ""                       # a zip of the whole hand-in, when the course asks for one
    files = ["prob4_CNN.py", "mnist_ae.pt"]   # further files the sheet names
    identity = ["name"]            # what the title block asks for: name, group, number
    students = "one"               # "one", or "group" (several students hand in together)
    number = "matriculation number"   # what the course calls a student's number

Without the table a sheet is handed in as ``solution.pdf`` and ``solution.ipynb`` and asks for
no identity (whoever is given is printed). Names may hold ``{lastname}`` (the first student's last name, lower case, ASCII letters only),
``{initials}`` (the initials of the given names, lower case) and ``{group}``. Without the
student's identity (``--student``, ``--group``, ``--matriculation`` or ``--student-file``) each
placeholder becomes a marked stand-in (``LASTNAME``, ``INITIALS``, ``GROUP``) and the title block
says what was not given.

Nothing here reads or writes the hand-in; :mod:`stridelab.sheets.handin` does.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError

__all__ = ["Rules", "RulesError", "Student", "Identity", "parse_rules", "read_identity",
           "identity_from_options", "check_identity", "hand_in_name", "title_rows", "PLACEHOLDERS"]

PLACEHOLDERS = {"lastname": "LASTNAME", "initials": "INITIALS", "group": "GROUP"}
IDENTITY_FIELDS = ("name", "group", "number")
_KEYS = {"pdf", "notebook", "zip", "files", "identity", "students", "number"}
_SUFFIX = {"pdf": ".pdf", "notebook": ".ipynb", "zip": ".zip"}
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_NAME = 120  # characters of a student's name
_STUDENT_FILE_LIMIT = 64 * 1024  # bytes of a student.toml


class RulesError(ValueError):
    """A problem in a ``[submission]`` table: ``(key, message)``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


@dataclass(frozen=True)
class Rules:
    """How a sheet is handed in (see the module docstring); the defaults suit any sheet."""

    pdf: str = "solution.pdf"
    notebook: str = "solution.ipynb"
    zip: str = ""  # no zip unless the sheet asks for one
    files: tuple[str, ...] = ()  # further files the sheet names (models, code)
    identity: tuple[str, ...] = ()  # none asked for: the title block names whoever is given
    students: str = "group"  # "one" or "group" (any number)
    number: str = "matriculation number"  # how the course names a student's number

    def fields(self, template: str) -> set[str]:
        """The placeholders ``template`` uses."""
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _template(raw: dict, key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise RulesError(key, "expected a file name, e.g. \"452_{lastname}{initials}_hw2.pdf\"")
    if key == "zip" and not value:
        return ""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise RulesError(key, f"{value!r}: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise RulesError(key, f"{value!r}: {{{name}}} is not a placeholder; use "
                             + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    sample = value.format(**{k: "x" for k in PLACEHOLDERS})
    if not _PLAIN_NAME.fullmatch(sample) or not sample.endswith(_SUFFIX[key]):
        raise RulesError(key, f"{value!r}: give a plain file name ending in {_SUFFIX[key]}")
    return value


def parse_rules(raw: Any) -> Rules:
    """A :class:`Rules` from a decoded ``[submission]`` table (RulesError when malformed)."""
    if raw is None:
        return Rules()
    if not isinstance(raw, dict):
        raise RulesError("submission", "expected a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise RulesError(sorted(unknown)[0], f"unknown key; [submission] has "
                         f"{', '.join(sorted(_KEYS))}")
    pdf = _template(raw, "pdf", Rules.pdf)
    notebook = _template(raw, "notebook", Rules.notebook)
    zip_name = _template(raw, "zip", "")
    files = raw.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise RulesError("files", "expected a list of file names")
    for name in files:
        if not _PLAIN_NAME.fullmatch(name):
            raise RulesError("files", f"{name!r} must be a plain file name")
    identity = raw.get("identity", list(Rules.identity))
    if not isinstance(identity, list) or not all(f in IDENTITY_FIELDS for f in identity) \
            or (identity and "name" not in identity):
        raise RulesError("identity", "expected a list of name, group and number (with name "
                         "when it lists any)")
    students = raw.get("students", Rules.students)
    if students not in ("one", "group"):
        raise RulesError("students", "expected \"one\" or \"group\"")
    number = raw.get("number", Rules.number)
    if not isinstance(number, str) or not number.strip():
        raise RulesError("number", "expected what the course calls a student's number")
    rules = Rules(pdf=pdf, notebook=notebook, zip=zip_name, files=tuple(files),
                  identity=tuple(identity), students=students, number=number.strip())
    for key in ("pdf", "notebook", "zip"):
        used = rules.fields(getattr(rules, key))
        if "group" in used and "group" not in rules.identity:
            raise RulesError(key, "uses {group} but identity has no group")
        if used & {"lastname", "initials"} and "name" not in rules.identity:
            raise RulesError(key, "uses the student's name but identity has no name")
    names = [rules.pdf, rules.notebook] + ([rules.zip] if rules.zip else []) + list(files)
    if len(set(names)) != len(names):
        raise RulesError("files", "the PDF, the notebook, the zip and the files need "
                         "different names")
    return rules


# ---------------------------------------------------------------------------------------------
# who hands in


@dataclass(frozen=True)
class Student:
    """One student: the name as written (``"Riddle, Tom Marvolo"``) and their number."""

    name: str
    number: str = ""

    @property
    def last_and_given(self) -> tuple[str, str]:
        """(last name, given names): ``"Last, Given"``, or the last word of ``"Given Last"``."""
        if "," in self.name:
            last, given = self.name.split(",", 1)
            return last.strip(), given.strip()
        words = self.name.split()
        return words[-1], " ".join(words[:-1])


@dataclass(frozen=True)
class Identity:
    """Whose hand-in this is; empty when nothing was given (placeholders are used)."""

    students: tuple[Student, ...] = ()
    group: str = ""
    missing: tuple[str, ...] = field(default=(), compare=False)  # fields the sheet asks for

    @property
    def given(self) -> bool:
        return bool(self.students)


def _ascii_letters(text: str) -> str:
    """``"Müller-Lüdenscheidt"`` -> ``"mullerludenscheidt"``: lower-case ASCII letters only."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if "a" <= c.lower() <= "z").lower()


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: a student's name must not be empty")
    name = " ".join(name.split())
    if len(name) > _MAX_NAME:
        raise ConfigError(f"{where}: a name of {len(name)} characters; at most {_MAX_NAME}")
    if any(c in name for c in "/\\") or ".." in name or name.startswith(".") \
            or any(unicodedata.category(c).startswith("C") for c in name):
        raise ConfigError(f"{where} {name!r}: a name may not hold '/', '\\', '..', a leading "
                          "'.' or control characters")
    return name


def _check_token(value: Any, where: str, digits: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must not be empty")
    value = value.strip()
    if digits and not value.isdecimal():
        raise ConfigError(f"{where} {value!r}: the sheet wants a number (digits only)")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}", value) or ".." in value:
        raise ConfigError(f"{where} {value!r}: use letters, digits, '-', '_' and '.', at "
                          "most 40 characters")
    return value


def check_identity(rules: Rules, identity: Identity, where: str) -> Identity:
    """``identity`` checked against ``rules`` (one-line ConfigError), with what is missing."""
    if rules.students == "one" and len(identity.students) > 1:
        raise ConfigError(f"{where}: this sheet is handed in by one student; "
                          f"{len(identity.students)} were given")
    missing = []
    if "name" in rules.identity and not identity.students:
        missing.append("name")
    if "number" in rules.identity and (not identity.students
                                       or any(not s.number for s in identity.students)):
        missing.append("number")
    if "group" in rules.identity and not identity.group:
        missing.append("group")
    named_by = [t for t in (rules.pdf, rules.notebook, rules.zip)
                 if rules.fields(t) & {"lastname", "initials"}]
    for first in identity.students[:1] if named_by else ():
        if not _ascii_letters(first.last_and_given[0]):
            raise ConfigError(f"{where}: the last name of {first.name!r} has no Latin letter to "
                              f"name the files ({named_by[0]}) with; write it in Latin letters, "
                              "e.g. \"Riddle, Tom Marvolo\"")
    digits_number = "number" in rules.identity
    for s in identity.students:
        if s.number:
            _check_token(s.number, f"{where}: {rules.number} of {s.name!r}", digits_number)
    if identity.group:
        _check_token(identity.group, f"{where}: group", "group" in rules.identity)
    return Identity(identity.students, identity.group, tuple(missing))


def identity_from_options(students: list[str] | None, numbers: list[str] | None,
                          group: str | None) -> Identity:
    """The identity given by ``--student`` (repeated), ``--matriculation`` (one per student,
    in the same order) and ``--group``; every value checked (ConfigError, one line)."""
    students, numbers = list(students or []), list(numbers or [])
    names = [_check_name(s, "--student") for s in students]
    if numbers and len(numbers) != len(names):
        raise ConfigError(f"--matriculation: {len(numbers)} number(s) for {len(names)} "
                          "student(s); give one --matriculation after each --student")
    checked = [_check_token(n, "--matriculation", False) for n in numbers]
    people = tuple(Student(n, checked[i] if checked else "") for i, n in enumerate(names))
    group_text = _check_token(group, "--group", False) if group is not None else ""
    if group_text and not people:
        raise ConfigError("--group: give the group's members too (--student NAME, repeated)")
    return Identity(people, group_text)


def read_identity(path: str | Path) -> Identity:
    """A ``student.toml``: ``group = 7`` and one ``[[student]]`` table per member with
    ``name`` and optionally ``matriculation``. Bad files are one ConfigError line."""
    path = Path(path)
    where = f"--student-file {path}"
    try:
        if not path.is_file():
            raise ConfigError(f"{where}: no such file")
        data = path.read_bytes()[:_STUDENT_FILE_LIMIT + 1]
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > _STUDENT_FILE_LIMIT:
        raise ConfigError(f"{where}: over {_STUDENT_FILE_LIMIT:,} bytes; a student file is a "
                          "few lines")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {str(exc).splitlines()[0]}") from None
    unknown = set(raw) - {"group", "student"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}; a student file has "
                          "group and [[student]] tables with name and matriculation")
    members = raw.get("student", [])
    if not isinstance(members, list) or not members \
            or not all(isinstance(m, dict) for m in members):
        raise ConfigError(f"{where}: expected at least one [[student]] table with a name")
    names, numbers = [], []
    for i, m in enumerate(members):
        extra = set(m) - {"name", "matriculation"}
        if extra:
            raise ConfigError(f"{where}: student[{i}]: unknown key {sorted(extra)[0]!r}; "
                              "use name and matriculation")
        names.append(_check_name(m.get("name"), f"{where}: student[{i}].name"))
        number = m.get("matriculation")
        numbers.append("" if number is None else
                       _check_token(number, f"{where}: student[{i}].matriculation", False))
    group = raw.get("group")
    group_text = "" if group is None else _check_token(group, f"{where}: group", False)
    return Identity(tuple(Student(n, numbers[i]) for i, n in enumerate(names)), group_text)


# ---------------------------------------------------------------------------------------------
# names


def hand_in_name(template: str, identity: Identity) -> str:
    """``template`` with the identity filled in, or the marked placeholders where not given."""
    values = dict(PLACEHOLDERS)
    if identity.students:
        last, given = identity.students[0].last_and_given
        values["lastname"] = _ascii_letters(last)
        values["initials"] = "".join(_ascii_letters(w)[:1] for w in re.split(r"[\s-]+", given)
                                     if _ascii_letters(w))
    if identity.group:
        values["group"] = re.sub(r"[^A-Za-z0-9_-]", "-", identity.group)
    return template.format(**values)


def title_rows(rules: Rules, identity: Identity) -> list[tuple[str, str]]:
    """The title block's rows for who hands in: group, then one row per student."""
    rows = []
    if "group" in rules.identity or identity.group:
        rows.append(("group", identity.group or "[not given: solve with --group N]"))
    label = "student" if rules.students == "one" or len(identity.students) == 1 else "member"
    if not identity.students and "name" in rules.identity:
        text = "[not given: solve with --student \"Last, Given names\""
        if "number" in rules.identity:
            text += f" --matriculation N (the {rules.number})"
        rows.append((label, text + "]"))
    for s in identity.students:
        text = s.name
        if s.number:
            text += f", {rules.number} {s.number}"
        elif "number" in rules.identity:
            text += f", {rules.number} [not given: --matriculation N]"
        rows.append((label, text))
    return rows
