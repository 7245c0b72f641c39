"""Reading run directories and result records for the report, trusting nothing on disk.

A run directory (``runs/NAME/``) is written by the runner: ``status.json``, ``config.json``,
``metrics.json``, ``lessons.json``, ``notes.md``, ``figures/index.json`` and ``figures/*.png``, and
text artifacts (``*.md``, ``*.txt``). A report is often built from directories that were copied,
edited or damaged, and the page is meant to be shared, so every file is checked before it is used:

- no symbolic link is followed (a run directory, ``figures/`` or a file that is a link is refused);
- a file is read only up to a cap (:data:`MAX_JSON_BYTES` for JSON and text,
  :data:`~stridelab.report.render.MAX_IMAGE_BYTES` for an image), and only regular files are read;
- JSON must parse and have the shape the runner writes (an object, or a list of objects, whose
  known fields have the expected types); text must be UTF-8;
- a figure name from ``figures/index.json`` must resolve inside that run's ``figures/``
  (``Path.resolve`` and ``is_relative_to``: no ``..``, no absolute path, no link out), and only
  PNG, JPEG or SVG by their first bytes is inlined.

Whatever fails is recorded in :attr:`Run.damage` (one reason per problem) and left out; the run
is listed as damaged and the rest of the report is built. Nothing here imports torch or the
experiments.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.report.render import MAX_IMAGE_BYTES, read_image

__all__ = ["Run", "Record", "collect_runs", "load_run", "load_records", "default_results_dir",
           "MAX_JSON_BYTES", "MAX_FIGURES", "MAX_ARTIFACTS"]

MAX_JSON_BYTES = 10 * 1024 * 1024  # JSON, notes and text artifacts larger than this are refused
MAX_FIGURES = 200  # figures shown per run
MAX_ARTIFACTS = 50  # text artifacts shown per run
MAX_ENTRIES = 5000  # directory entries looked at per run directory (and run directories per report)
MAX_RECORDS = 1000  # result records read from a results directory

_IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
_TEXT_ARTIFACTS = (".md", ".txt")
_SKIP_FILES = {"notes.md", "log.txt"}
_OPS = (">=", ">", "<=", "<")


class Damage(Exception):
    """A file of a run that cannot be trusted; the message is the reason shown in the report."""


@dataclass
class Run:
    """One run directory as the report sees it.

    ``status``, ``config`` and ``metrics`` are the parsed objects (empty when missing or damaged),
    ``lessons`` the checked records of ``lessons.json``, ``figures`` ``(file name, caption,
    bytes)`` of the images that passed the checks, ``texts`` ``(relative path, content)`` of the
    text artifacts, ``damage`` one reason per problem found (empty for a sound run).
    """

    path: Path
    name: str
    status: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    lessons: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    figures: list[tuple[str, str, bytes]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)  # left out for a limit, not for damage
    earlier: list[Path] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``ok``, ``skipped``, ``failed``, ``running or killed`` or ``damaged``."""
        if self.damage:
            return "damaged"
        return str(self.status.get("status") or "running or killed")

    @property
    def quick(self) -> bool:
        """True when the run used the ``--quick`` (or smoke) configuration."""
        return self.config.get("quick") is True or any(
            lesson.get("mode") == "quick" for lesson in self.lessons)

    @property
    def dataset(self) -> str | None:
        data = self.config.get("dataset")
        return data.get("name") if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------
# careful readers

def _read_bytes(path: Path, limit: int, label: str) -> bytes:
    """At most ``limit`` bytes of a regular file, not following a symbolic link; else Damage."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Damage(f"{label} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISLNK(info.st_mode):
        raise Damage(f"{label} is a symbolic link; not followed")
    if not stat.S_ISREG(info.st_mode):
        raise Damage(f"{label} is not a regular file")
    if info.st_size > limit:
        raise Damage(f"{label} is {info.st_size:,} bytes, over the limit of {limit:,}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise Damage(f"{label} cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise Damage(f"{label} is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise Damage(f"{label} is over the limit of {limit:,} bytes")
    return data


def _read_text(path: Path, label: str, limit: int = MAX_JSON_BYTES) -> str:
    data = _read_bytes(path, limit, label)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Damage(f"{label} is not UTF-8 text (byte {exc.start})") from None


def _read_json(path: Path, label: str, expect: type) -> Any:
    text = _read_text(path, label)
    try:
        obj = json.loads(text)
    except RecursionError:
        raise Damage(f"{label} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise Damage(f"{label} is not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(obj, expect):
        raise Damage(f"{label} holds {_kind(obj)}, expected {_kind_name(expect)}")
    return obj


def _kind(obj: Any) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, (int, float)):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if isinstance(obj, list):
        return "a list"
    if isinstance(obj, dict):
        return "an object"
    return type(obj).__name__


def _kind_name(expect: type | tuple) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    expects = expect if isinstance(expect, tuple) else (expect,)
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in expects))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_NUMBER = "number"  # a field type: int or float, not bool

_STATUS_FIELDS: dict[str, Any] = {
    "experiment": str, "status": str, "reason": str, "seconds": _NUMBER, "key_metric": str,
    "description": str, "order": _NUMBER, "finished": str,
}
_CONFIG_FIELDS: dict[str, Any] = {
    "experiment": str, "config": dict, "seed": _NUMBER, "quick": bool, "mode": str,
    "dataset": (dict, type(None)), "environment": dict, "command": str,
}
_LESSON_FIELDS: dict[str, Any] = {
    "say": str, "metric": str, "label": str, "op": str, "value": (_NUMBER, type(None)),
    "target": (_NUMBER, type(None)), "target_metric": (str, type(None)),
    "met": (bool, type(None)), "mode": str,
}
_REQUIRED_LESSON = ("say", "metric", "value")


def _type_ok(value: Any, expected: Any) -> bool:
    expects = expected if isinstance(expected, tuple) else (expected,)
    for t in expects:
        if t == _NUMBER:
            ok = _is_number(value)
        elif t is bool:
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, t) and not isinstance(value, bool)
        if ok:
            return True
    return False


def _type_label(expected: Any) -> str:
    expects = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join("a number" if t == _NUMBER else _kind_name(t) for t in expects)


def _check_fields(obj: dict, fields: dict[str, Any], label: str, damage: list[str]) -> dict:
    """``obj`` with each known field of the wrong type dropped (and a reason for each)."""
    clean = {}
    for key, value in obj.items():
        expected = fields.get(key)
        if expected is not None and not _type_ok(value, expected):
            damage.append(f"{label}: {key!r} is {_kind(value)}, expected {_type_label(expected)}")
            continue
        clean[key] = value
    return clean


def _check_lessons(items: list, label: str, damage: list[str]) -> list[dict]:
    lessons = []
    for i, item in enumerate(items):
        where = f"{label} entry {i + 1}"
        if not isinstance(item, dict):
            damage.append(f"{where} is {_kind(item)}, expected an object")
            continue
        missing = [k for k in _REQUIRED_LESSON if k not in item]
        if missing:
            damage.append(f"{where} lacks {', '.join(repr(k) for k in missing)}")
            continue
        before = len(damage)
        lesson = _check_fields(item, _LESSON_FIELDS, where, damage)
        if len(damage) > before:
            continue
        if lesson.get("op", ">=") not in _OPS:
            damage.append(f"{where}: op {str(lesson['op'])[:20]!r} is not one of {', '.join(_OPS)}")
            continue
        lessons.append(lesson)
    return lessons


# ---------------------------------------------------------------------------------------------
# figures

def figure_path(figures_dir: Path, name: Any) -> Path:
    """The path of figure ``name`` inside ``figures_dir``, or Damage when it would leave it.

    ``name`` must be a relative path without ``..`` that resolves inside ``figures_dir`` and is
    not a symbolic link.
    """
    if not isinstance(name, str):
        raise Damage(f"figures/index.json: a 'file' is {_kind(name)}, expected a string")
    shown = name[:80]
    if not name or "\x00" in name:
        raise Damage(f"figure name {shown!r} is not a file name")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or Path(name).is_absolute():
        raise Damage(f"figure {shown!r} is an absolute path; not read")
    if ".." in re.split(r"[\\/]", name):
        raise Damage(f"figure {shown!r} points outside figures/; not read")
    root = figures_dir.resolve()
    path = figures_dir / name
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a loop of links
        inside = False
    if not inside:
        raise Damage(f"figure {shown!r} resolves outside figures/; not read")
    if path.is_symlink():
        raise Damage(f"figures/{shown} is a symbolic link; not followed")
    return path


def _load_figures(run_dir: Path, damage: list[str], omitted: list[str]) -> list:
    figures_dir = run_dir / "figures"
    if os.path.islink(figures_dir):
        damage.append("figures/ is a symbolic link; not followed")
        return []
    if not figures_dir.is_dir():
        return []
    entries: list[dict] = []
    try:
        index = _read_json(figures_dir / "index.json", "figures/index.json", list)
    except FileNotFoundError:
        index = []
    except Damage as exc:
        damage.append(str(exc))
        index = []
    for i, entry in enumerate(index):
        if not isinstance(entry, dict):
            damage.append(f"figures/index.json entry {i + 1} is {_kind(entry)}, expected an "
                          'object with "file"')
        elif "file" not in entry:
            damage.append(f'figures/index.json entry {i + 1} lacks "file"')
        elif not isinstance(entry.get("caption", ""), str):
            damage.append(f"figures/index.json entry {i + 1}: 'caption' is "
                          f"{_kind(entry['caption'])}, expected a string")
        else:
            entries.append(entry)
    listed = {e["file"] for e in entries if isinstance(e["file"], str)}
    try:
        with os.scandir(figures_dir) as it:
            names = sorted(e.name for _, e in zip(range(MAX_ENTRIES), it)
                           if e.name.lower().endswith(_IMAGE_SUFFIXES) and e.name not in listed
                           and not e.name.startswith("."))
    except OSError as exc:
        damage.append(f"figures/ cannot be listed ({exc.strerror or exc})")
        names = []
    entries += [{"file": name, "caption": ""} for name in names]
    figures = []
    for entry in entries:
        if len(figures) >= MAX_FIGURES:
            omitted.append(f"{len(entries) - MAX_FIGURES} more figures (at most {MAX_FIGURES} "
                           "are shown)")
            break
        try:
            path = figure_path(figures_dir, entry["file"])
        except Damage as exc:
            damage.append(str(exc))
            continue
        if not path.exists():
            continue  # listed but never written (a run stopped before it): nothing to show
        data, why = read_image(path, MAX_IMAGE_BYTES)
        if data is None:
            damage.append(f"figures/{why}")
            continue
        figures.append((entry["file"], entry.get("caption", ""), data))
    return figures


# ---------------------------------------------------------------------------------------------
# one run

def _load_texts(run_dir: Path, damage: list[str], omitted: list[str]) -> list[tuple[str, str]]:
    """The text artifacts (``*.md``, ``*.txt`` other than notes and log), links not followed."""
    found: list[Path] = []
    seen = 0
    for top, dirs, files in os.walk(run_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not os.path.islink(os.path.join(top, d)))
        seen += len(dirs) + len(files)
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(_TEXT_ARTIFACTS):
                continue
            path = Path(top) / name
            if path.parent == run_dir and name in _SKIP_FILES:
                continue
            found.append(path)
        if seen > MAX_ENTRIES:
            omitted.append(f"files beyond the first {MAX_ENTRIES:,} in the run directory")
            break
    texts = []
    for path in found:
        if len(texts) >= MAX_ARTIFACTS:
            omitted.append(f"{len(found) - MAX_ARTIFACTS} more text files (at most "
                           f"{MAX_ARTIFACTS} are shown)")
            break
        rel = path.relative_to(run_dir).as_posix()
        try:
            texts.append((rel, _read_text(path, rel)))
        except Damage as exc:
            damage.append(str(exc))
        except FileNotFoundError:
            continue
    return texts


def _looks_like_run(path: Path) -> bool:
    return any(os.path.lexists(path / name) for name in ("status.json", "config.json"))


def load_run(path: str | os.PathLike) -> Run | None:
    """The run in directory ``path`` (None when it holds neither status.json nor config.json)."""
    path = Path(path)
    if os.path.islink(path):
        if not (path.is_dir() and _looks_like_run(path)):
            return None
        return Run(path=path, name=path.name,
                   damage=[f"the run directory {path.name} is a symbolic link; not followed"])
    if not path.is_dir() or not _looks_like_run(path):
        return None
    damage: list[str] = []
    omitted: list[str] = []

    def read_object(name: str, fields: dict[str, Any] | None) -> dict[str, Any]:
        try:
            obj = _read_json(path / name, name, dict)
        except FileNotFoundError:
            return {}
        except Damage as exc:
            damage.append(str(exc))
            return {}
        return _check_fields(obj, fields, name, damage) if fields else obj

    status = read_object("status.json", _STATUS_FIELDS)
    config = read_object("config.json", _CONFIG_FIELDS)
    metrics = read_object("metrics.json", None)
    try:
        lessons = _check_lessons(_read_json(path / "lessons.json", "lessons.json", list),
                                 "lessons.json", damage)
    except FileNotFoundError:
        lessons = []
    except Damage as exc:
        damage.append(str(exc))
        lessons = []
    try:
        notes = _read_text(path / "notes.md", "notes.md")
    except FileNotFoundError:
        notes = ""
    except Damage as exc:
        damage.append(str(exc))
        notes = ""
    name = status.get("experiment") or config.get("experiment") or path.name
    return Run(path=path, name=str(name), status=status, config=config, metrics=metrics,
               lessons=lessons, notes=notes, figures=_load_figures(path, damage, omitted),
               texts=_load_texts(path, damage, omitted), damage=damage, omitted=omitted)


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def collect_runs(runs_dir: str | os.PathLike) -> list[Run]:
    """The newest run of each experiment (older ones in ``earlier``), in ``run all`` order.

    Directories that hold neither ``status.json`` nor ``config.json`` are not runs and are left
    out; damaged runs are kept, with their reasons.
    """
    runs_dir = Path(runs_dir)
    by_name: dict[str, list[Run]] = {}
    try:
        with os.scandir(runs_dir) as it:
            children = sorted(e.name for _, e in zip(range(MAX_ENTRIES), it))
    except OSError:
        children = []
    for name in children:
        if name.startswith("."):
            continue
        run = load_run(runs_dir / name)
        if run is not None:
            by_name.setdefault(run.name, []).append(run)
    latest = []
    for runs in by_name.values():
        runs.sort(key=lambda r: (str(r.status.get("finished", "")), _mtime(r.path)))
        newest = runs[-1]
        newest.earlier = [r.path for r in runs[:-1]]
        latest.append(newest)
    latest.sort(key=lambda r: (r.status.get("order", 1000), r.name))
    return latest


# ---------------------------------------------------------------------------------------------
# result records of full runs

@dataclass
class Record:
    """A committed result record of a full-configuration run (``results/*.json``).

    ``dataset`` is the data set's name (the record may give a name or an object with one),
    ``lessons`` the checked lesson records, ``seeds`` the seed(s) the record covers.
    """

    file: str
    name: str
    metrics: dict[str, Any]
    lessons: list[dict[str, Any]]
    dataset: str | None
    seeds: list[Any]
    date: str
    machine: str
    version: str

    def value(self, metric: str) -> tuple[float | None, dict | None]:
        """The record's value of ``metric`` and its lesson record (None when it has neither)."""
        for lesson in self.lessons:
            if lesson.get("metric") == metric and _is_number(lesson.get("value")):
                return float(lesson["value"]), lesson
        v = self.metrics.get(metric)
        return (float(v), None) if _is_number(v) else (None, None)


def default_results_dir() -> Path | None:
    """``results/`` at the root of the source checkout stridelab runs from, if there is one."""
    root = Path(__file__).resolve().parents[3]
    candidate = root / "results"
    if (root / "pyproject.toml").is_file() and candidate.is_dir():
        return candidate
    return None


def _short(value: Any, limit: int = 80) -> str:
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, dict):
        parts = [f"{k} {v}" for k, v in value.items() if isinstance(v, (str, int, float))]
        return ", ".join(parts)[:limit]
    if value is None:
        return ""
    return str(value)[:limit]


def load_records(results_dir: str | os.PathLike | None) -> tuple[list[Record], list[str]]:
    """The result records in ``results_dir`` (``*.json``) and one reason per damaged file."""
    if results_dir is None:
        return [], []
    results_dir = Path(results_dir)
    records: list[Record] = []
    problems: list[str] = []
    try:
        with os.scandir(results_dir) as it:
            names = sorted(e.name for _, e in zip(range(MAX_ENTRIES), it)
                           if e.name.endswith(".json") and not e.name.startswith("."))
    except OSError as exc:
        return [], [f"{results_dir}: cannot be listed ({exc.strerror or exc})"]
    for name in names[:MAX_RECORDS]:
        label = f"results/{name}"
        try:
            obj = _read_json(results_dir / name, label, dict)
        except (Damage, FileNotFoundError) as exc:
            problems.append(str(exc) if isinstance(exc, Damage) else f"{label} vanished")
            continue
        # scripts/record_result.py names the study under "experiment"; "name" is accepted too
        study = obj.get("experiment", obj.get("name"))
        if not isinstance(study, str) or not isinstance(obj.get("metrics"), dict):
            problems.append(f"{label} lacks a string 'experiment' or an object 'metrics'")
            continue
        damage: list[str] = []
        lessons = obj.get("lessons", [])
        lessons = _check_lessons(lessons, label + " lessons", damage) \
            if isinstance(lessons, list) else []
        problems.extend(damage)
        dataset = obj.get("dataset")
        if isinstance(dataset, dict):
            dataset = dataset.get("name")
        seeds = obj.get("seed", obj.get("seeds"))
        seeds = seeds if isinstance(seeds, list) else ([] if seeds is None else [seeds])
        records.append(Record(
            file=name, name=study, metrics=obj["metrics"], lessons=lessons,
            dataset=dataset if isinstance(dataset, str) else None, seeds=seeds,
            date=_short(obj.get("date")), machine=_short(obj.get("machine")),
            version=_short(obj.get("stridelab_version")
                           or (obj.get("versions") or {}).get("stridelab")
                           if isinstance(obj.get("versions") or {}, dict) else None)))
    if len(names) > MAX_RECORDS:
        problems.append(f"{len(names) - MAX_RECORDS} more records in {results_dir} not read")
    return records, problems
