"""The values an answer's references read: paths into worked answers, runs and the sheet itself.

:func:`value_at` walks a path through tables and lists (and a worked answer's attributes);
:class:`Values` resolves a reference of :mod:`stridelab.sheets.refs` against the computed worked
tasks, the experiment runs, the sheet's ``[given]`` table and the committed result records of
full runs (``{record."STEM".path}``: ``results/STEM.json`` of the source checkout, read by
:func:`read_record`), and renders an answer's Markdown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from stridelab.sheets import refs as _refs
from stridelab.sheets.loader import resolve_target
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.results import RunRecord, WorkedResult

__all__ = ["Values", "value_at", "read_record"]

RECORD_MAX_BYTES = 1 << 20  # a record is a few kB; a larger file is not one
_DEFAULT = object()  # Values' results_dir when none is given: results/ of the source checkout


def read_record(results_dir: Path | None, stem: str) -> dict | _refs.NotMeasured:
    """The result record ``results_dir/STEM.json`` as a table, or why there is none.

    A missing directory or file (an installed stridelab has no ``results/``), a link, a file
    too large or not a JSON object reads as *not measured*: an answer's claims about the full
    run then take their ``{{else}}`` branch.
    """
    if not _refs.is_record_stem(stem):
        return _refs.NotMeasured(f"{stem!r} is not a result record's name")
    if results_dir is None:
        return _refs.NotMeasured(f"no result records here for {stem}")
    path = Path(results_dir) / f"{stem}.json"
    try:
        if path.is_symlink() or not path.is_file():
            return _refs.NotMeasured(f"no result record {stem}.json")
        with open(path, "rb") as fh:
            raw = fh.read(RECORD_MAX_BYTES + 1)
        if len(raw) > RECORD_MAX_BYTES:
            return _refs.NotMeasured(f"result record {stem}.json is too large")
        record = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return _refs.NotMeasured(f"result record {stem}.json cannot be read")
    if not isinstance(record, dict):
        return _refs.NotMeasured(f"result record {stem}.json is not a JSON object")
    return record


def value_at(root: Any, path: list[str], *, answer: Any = None) -> Any:
    """Walk ``path`` through dicts (keys) and lists (indices); ``answer``'s attributes as well.

    ``length`` after a list is its number of items, so that an answer can name the second of
    a run's confused pairs only when there is one (``{{if m.pairs.length > 1}}``). Raises
    KeyError with what there is instead.
    """
    cur = root
    for i, part in enumerate(path):
        if isinstance(cur, dict):
            if part in cur:
                cur = cur[part]
                continue
            if i == 0 and answer is not None and hasattr(answer, part) and not part.startswith("_"):
                cur = getattr(answer, part)
                continue
            raise KeyError(f"no {'.'.join(path[:i + 1])!r} (there: {', '.join(map(str, cur))})")
        if hasattr(cur, "tolist") and not isinstance(cur, (str, bytes)):
            cur = cur.tolist()
        if isinstance(cur, (list, tuple)):
            if part == "length":
                cur = len(cur)
                continue
            if re.fullmatch(r"-?\d+", part) and -len(cur) <= int(part) < len(cur):
                cur = cur[int(part)]
                continue
            raise KeyError(f"{'.'.join(path[:i + 1])!r}: index out of range (length {len(cur)})")
        if answer is not None and hasattr(cur, part) and not part.startswith("_"):
            cur = getattr(cur, part)
            continue
        raise KeyError(f"{'.'.join(path[:i + 1])!r}: {'.'.join(path[:i]) or 'the value'} is "
                       f"{type(cur).__name__}, not a table or list")
    return cur


class Values:
    """Resolves references against the computed worked answers, the runs and the result
    records (``results_dir``: by default ``results/`` of the source checkout, when there is
    one)."""

    def __init__(self, sheet: Sheet, worked: dict[str, WorkedResult], runs: dict[str, RunRecord],
                 results_dir: Path | str | None | object = _DEFAULT):
        self.sheet, self.worked, self.runs = sheet, worked, runs
        if results_dir is _DEFAULT:
            from stridelab.report.runs import default_results_dir

            results_dir = default_results_dir()
        self.results_dir = None if results_dir is None else Path(results_dir)
        self._records: dict[str, Any] = {}

    def record(self, path: list[str]) -> Any:
        """``path`` = [STEM, key, ...] into the result record STEM (*not measured* without it)."""
        stem, rest = path[0], path[1:]
        if stem not in self._records:
            self._records[stem] = read_record(self.results_dir, stem)
        record = self._records[stem]
        if isinstance(record, _refs.NotMeasured):
            return record
        return value_at(record, rest)

    def resolver(self, task: Task, key: str):
        def resolve(ref: _refs.Ref) -> Any:
            if ref.head == "record":
                try:
                    return self.record(list(ref.rest))
                except KeyError as exc:
                    raise self.sheet.error(task, key, f"{ref.text}: {exc.args[0]}") from None
            target, path = resolve_target(self.sheet, task, key, ref)
            try:
                return self.value(target, path)
            except KeyError as exc:
                raise self.sheet.error(task, key, f"{ref.text}: {exc.args[0]}") from None

        return resolve

    def value(self, target: Task | None, path: list[str]) -> Any:
        if target is None:
            return value_at(self.sheet.given, path)
        if target.kind == "worked":
            w = self.worked[target.id]
            return value_at(w.data, path, answer=w.answer)
        record = self.runs[target.id]
        head, rest = path[0], path[1:]
        if head == "status":
            return record.status
        if head == "reason":
            return record.reason
        if head == "run_dir":
            return str(record.run_dir or "")
        if head == "seconds":
            return record.seconds
        if record.status != "ok":
            return _refs.NotMeasured(f"{target.name} {record.status}")
        if head == "config":
            return value_at(record.config.get("config") or {}, rest)
        if head == "data":
            return value_at(record.config.get("dataset") or {}, rest)
        if head == "lessons":
            return value_at(record.lessons, rest)
        return value_at(record.metrics, path)

    def render(self, task: Task, key: str, text: str) -> str:
        try:
            return _refs.render(_refs.parse(text), self.resolver(task, key))
        except TypeError as exc:
            raise self.sheet.error(task, key, str(exc)) from None
