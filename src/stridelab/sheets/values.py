"""The values an answer's references read: paths into worked answers, runs and the sheet itself.

:func:`value_at` walks a path through tables and lists (and a worked answer's attributes);
:class:`Values` resolves a reference of :mod:`stridelab.sheets.refs` against the computed worked
tasks, the experiment runs and the sheet's ``[given]`` table, and renders an answer's Markdown.
"""

from __future__ import annotations

import re
from typing import Any

from stridelab.sheets import refs as _refs
from stridelab.sheets.loader import resolve_target
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.results import RunRecord, WorkedResult

__all__ = ["Values", "value_at"]


def value_at(root: Any, path: list[str], *, answer: Any = None) -> Any:
    """Walk ``path`` through dicts (keys) and lists (indices); ``answer``'s attributes as well.

    Raises KeyError with what there is instead.
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
    """Resolves references against the computed worked answers and the runs."""

    def __init__(self, sheet: Sheet, worked: dict[str, WorkedResult], runs: dict[str, RunRecord]):
        self.sheet, self.worked, self.runs = sheet, worked, runs

    def resolver(self, task: Task, key: str):
        def resolve(ref: _refs.Ref) -> Any:
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
