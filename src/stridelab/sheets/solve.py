"""Solve a sheet: compute every worked task, run (or reuse) every experiment, write the answers.

``solve_sheet(sheet, options)`` writes ``OUT/NAME/``:

- ``solution.html``: through :func:`stridelab.report.render.render_document`, one section per
  task in the sheet's order, every answer expanded, figures inlined, the bundled KaTeX;
- ``solution.pdf``: that page printed by headless Chromium (:func:`stridelab.report.pdf.print_pdf`);
  without Chromium the HTML is still written and the reason is returned;
- ``solution.ipynb``: one section per task, code that reproduces each answer through the public
  API, executed with nbclient (:mod:`stridelab.sheets.notebook`);
- ``figures/``: the figures the worked commands drew, and the files the sheet asks for by name
  (an experiment task's ``files``), each model with its ``torch.export`` copy (``.pt2``).

The directory is built beside its final place and renamed into it at the end, so a solve that
fails leaves the previous solution as it was.

The order of the work: every worked task is computed first (seconds), and every reference into
it checked; then each experiment runs, or a finished run under ``--runs`` is reused when its
resolved config, seed, mode and data (name and sha256) are what this solve would run; then every
metric, figure, text and file the sheet names is checked against the runs; only then is anything
rendered or written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, DataNotFound, StridelabError
from stridelab.sheets import refs as _refs
from stridelab.sheets.loader import (
    FIGURE_OPTIONS,
    RUN_FIELDS,
    Sheet,
    Task,
    answer_texts,
    check_metric,
    check_reference,
    parse_worked_args,
    resolve_target,
    task_id,
    worked_argv,
)

__all__ = ["SolveOptions", "Solution", "WorkedResult", "RunRecord", "solve_sheet",
           "select_tasks", "worked_command_line", "experiment_command_line"]


@dataclass
class SolveOptions:
    """What ``stridelab sheet solve`` was asked for."""

    quick: bool = False  # the experiments' --quick configurations
    smoke: bool = False  # the tiny test configurations (hidden --smoke)
    tasks: list[str] | None = None  # labels or ids to solve (with what they reference)
    out: Path = Path("solutions")  # the solution goes to OUT/NAME/
    runs: Path = Path("runs")  # where runs are looked for and written
    dataset: str | None = None
    data_dir: str | None = None
    seed: int = 0
    device: str = "auto"
    pdf: bool = True
    notebook: bool = True
    verbose: bool = False  # echo the experiments' logs

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "quick" if self.quick else "full"


@dataclass
class WorkedResult:
    """A computed worked task: its answer object, JSON form, Markdown and figures."""

    task: Task
    answer: Any
    data: dict
    markdown: str
    argv: list[str]  # the command line (figure paths as the sheet names them)
    args: argparse.Namespace
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class RunRecord:
    """The run behind one experiment task (tasks with the same settings share it)."""

    task: Task
    status: str  # ok, skipped or failed
    run_dir: Path | None
    reused: bool
    seconds: float
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)  # config.json
    lessons: list = field(default_factory=list)
    figures: list = field(default_factory=list)  # figures/index.json entries
    reason: str = ""


@dataclass
class Solution:
    """What a solve wrote."""

    dir: Path
    html: Path
    pdf: Path | None
    pdf_reason: str | None
    notebook: Path | None
    notebook_error: str | None
    files: list[Path]
    worked: dict[str, WorkedResult]
    runs: dict[str, RunRecord]
    failed: list[str]  # labels of tasks whose experiment failed
    seconds: float


# ---------------------------------------------------------------------------------------------
# which tasks


def _matches(task: Task, wanted: str) -> bool:
    """``2.1`` selects 2.1, 2.1i, 2.1ii ... (not 2.10); a label or an id selects itself only."""
    w = wanted.strip()
    if w in (task.label, task.id):
        return True
    w = task_id(w)
    if not w[-1:].isdigit():  # "2.1i" is one task: it must not also select 2.1ii, 2.1iii ...
        return task.id == w
    return task.id.startswith(w) and len(task.id) > len(w) \
        and not task.id[len(w)].isdigit()


def select_tasks(sheet: Sheet, wanted: list[str] | None) -> tuple[list[Task], list[Task]]:
    """(tasks shown, tasks computed): the selection, and it plus what it references."""
    if not wanted:
        return list(sheet.tasks), list(sheet.tasks)
    shown = []
    for w in wanted:
        hit = [t for t in sheet.tasks if _matches(t, w)]
        if not hit:
            labels = ", ".join(t.label for t in sheet.tasks)
            raise ConfigError(f"--tasks {w}: no task of {sheet.where} has that label or id "
                              f"(labels: {labels})")
        shown += [t for t in hit if t not in shown]
    needed = {t.id for t in shown}
    frontier = list(shown)
    while frontier:
        task = frontier.pop()
        for key, text in answer_texts(task):
            for ref in _refs.references(text):
                target, _ = resolve_target(sheet, task, key, ref)
                if target is not None and target.id not in needed:
                    needed.add(target.id)
                    frontier.append(target)
    order = [t for t in sheet.tasks if t in shown]
    return order, [t for t in sheet.tasks if t.id in needed]


# ---------------------------------------------------------------------------------------------
# worked tasks


class _Captured:
    """The answer of a worked command that has no ``answer_from_args`` yet: its printed forms."""

    def __init__(self, markdown: str, data: dict):
        self._markdown, self._data = markdown, data

    def to_markdown(self) -> str:
        return self._markdown

    def to_dict(self) -> dict:
        return self._data


def _run_main(module, args: argparse.Namespace, fmt: str) -> str:
    ns = argparse.Namespace(**vars(args))
    if hasattr(ns, "json"):
        ns.json = fmt == "json"
    if hasattr(ns, "format"):
        ns.format = fmt
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        module.main(ns)
    return buf.getvalue()


def worked_command_line(task: Task) -> str:
    """``stridelab conv --input ...`` as a user would type it (an inline spec as SPEC.json)."""
    return shlex.join(["stridelab", task.command] + worked_argv(task, f"{task.id}.json"))


def compute_worked(sheet: Sheet, task: Task, figures_dir: Path, spec_dir: Path) -> WorkedResult:
    """Parse the task's arguments with the command's own parser and build its answer."""
    t0 = time.perf_counter()
    spec_path = None
    if task.spec is not None:
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec_path = str(spec_dir / f"{task.id}.json")
        Path(spec_path).write_text(json.dumps(task.spec, indent=1), encoding="utf-8")
    args = parse_worked_args(sheet, task, spec_path)
    figures: list[Path] = []
    figures_dir.mkdir(parents=True, exist_ok=True)
    for option in FIGURE_OPTIONS:
        dest = option.lstrip("-")
        name = getattr(args, dest, None)
        if name:
            setattr(args, dest, str(figures_dir / name))
            figures.append(figures_dir / name)
    if getattr(args, "image", None) and hasattr(args, "out") and not args.out:
        # a photo's answer is its figure; keep it with the solution, not in the working directory
        args.out = str(figures_dir / f"{task.id}-{task.command}.png")
        figures.append(Path(args.out))
    from stridelab.worked.commands import module as command_module

    module = command_module(task.command)
    try:
        if hasattr(module, "answer_from_args"):
            answer = module.answer_from_args(args)
            data, markdown = answer.to_dict(), answer.to_markdown()
        else:
            data = json.loads(_run_main(module, args, "json"))
            markdown = _run_main(module, args, "markdown")
            answer = _Captured(markdown, data)
    except StridelabError as exc:
        raise sheet.error(task, "args", f"stridelab {task.command}: "
                          f"{str(exc).splitlines()[0]}") from None
    # the figure options point into the solution being built: say "figures/NAME" instead
    markdown = markdown.replace(str(figures_dir), "figures")
    data = json.loads(json.dumps(data, default=str).replace(json.dumps(str(figures_dir))[1:-1],
                                                             "figures"))
    return WorkedResult(task, answer, data, markdown, worked_argv(task, f"{task.id}.json"), args,
                        [p for p in figures if p.is_file()], time.perf_counter() - t0)


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


# ---------------------------------------------------------------------------------------------
# experiment tasks: reuse or run


def experiment_command_line(task: Task, options: SolveOptions) -> str:
    argv = ["stridelab", "run", task.name]
    if options.smoke:
        argv.append("--smoke")
    elif options.quick:
        argv.append("--quick")
    for k, v in task.set.items():
        argv += ["--set", f"{k}={v}"]
    if options.seed:
        argv += ["--seed", str(options.seed)]
    return shlex.join(argv)


def _json_plain(obj: Any) -> Any:
    from stridelab.atomic import _to_jsonable

    return json.loads(json.dumps(_to_jsonable(obj)))


def _dataset_for(experiment, dataset: str | None) -> str | None:
    """``--dataset`` for this experiment: given only when it fits the experiment's data family."""
    if dataset is None:
        return None
    from stridelab.data import FAMILIES

    families = experiment.families() if hasattr(experiment, "families") else \
        ([experiment.needs] if experiment.needs else [])
    fits = {name for family in families for name in FAMILIES.get(family, (family,))}
    return dataset if dataset in fits else None


class _DataCheck:
    """Which data set a run of an experiment would load here, and its sha256 (cached)."""

    def __init__(self, options: SolveOptions):
        self.options = options
        self._sha: dict[str, str | None] = {}

    def sha256(self, name: str) -> str | None:
        if name not in self._sha:
            from stridelab.data import load_dataset

            try:
                self._sha[name] = load_dataset(name, data_dir=self.options.data_dir).sha256
            except StridelabError:
                self._sha[name] = None
        return self._sha[name]

    def acceptable(self, experiment, config) -> set[str]:
        from stridelab.data import choose_dataset

        names: set[str] = set()
        requested = _dataset_for(experiment, self.options.dataset)
        if requested:
            names.add(requested)
        elif experiment.needs:
            with contextlib.suppress(StridelabError):
                names.add(choose_dataset(None, family=experiment.needs,
                                         data_dir=self.options.data_dir)[0])
        configured = getattr(config, "dataset", None)  # a study that names its data set
        if isinstance(configured, str) and configured:
            names.add(configured)
        return names

    def matches(self, experiment, config, record: dict | None) -> bool:
        if not record:
            return True  # the run loaded no data set
        name, sha = record.get("name"), record.get("sha256")
        return name in self.acceptable(experiment, config) and sha is not None \
            and self.sha256(name) == sha


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def find_reusable(experiment, config, options: SolveOptions, data: _DataCheck) -> Path | None:
    """The newest finished run under ``options.runs`` that is what this solve would run."""
    from stridelab.experiments.artifacts import read_finished_run

    root = Path(options.runs)
    if not root.is_dir():
        return None
    wanted = _json_plain(config)
    pattern = re.compile(rf"{re.escape(experiment.name)}(-\d+)?")
    found = []
    for run_dir in root.iterdir():
        if not pattern.fullmatch(run_dir.name) or not run_dir.is_dir():
            continue
        try:
            record = read_finished_run(run_dir, experiment.name)
        except StridelabError:
            continue
        cfg = record["config"]
        mode = cfg.get("mode", "quick" if cfg.get("quick") else "full")
        if cfg.get("config") != wanted or cfg.get("seed") != options.seed \
                or mode != options.mode:
            continue
        if not data.matches(experiment, config, cfg.get("dataset")):
            continue
        found.append(((run_dir / "metrics.json").stat().st_mtime, run_dir.name, run_dir))
    return max(found)[2] if found else None


def _load_record(task: Task, run_dir: Path, reused: bool, seconds: float) -> RunRecord:
    status = _read_json(run_dir / "status.json") or {}
    index = _read_json(run_dir / "figures" / "index.json")
    lessons = _read_json(run_dir / "lessons.json")
    return RunRecord(task=task, status=str(status.get("status", "ok")), run_dir=run_dir,
                     reused=reused, seconds=float(status.get("seconds") or seconds),
                     metrics=_read_json(run_dir / "metrics.json") or {},
                     config=_read_json(run_dir / "config.json") or {},
                     lessons=lessons if isinstance(lessons, list) else [],
                     figures=[f for f in index if isinstance(f, dict) and "file" in f]
                     if isinstance(index, list) else [],
                     reason=str(status.get("reason", "")))


def obtain_run(task: Task, options: SolveOptions, data: _DataCheck, console) -> RunRecord:
    """Reuse a matching finished run, or run the experiment (skips come back as status)."""
    from stridelab.experiments import registry
    from stridelab.experiments.runner import run_experiment

    experiment = registry.get(task.name)
    config = experiment.make_config(quick=options.quick, smoke=options.smoke, overrides=task.set)
    found = find_reusable(experiment, config, options, data)
    if found is not None:
        return _load_record(task, found, reused=True, seconds=0.0)
    result = run_experiment(experiment, quick=options.quick, smoke=options.smoke,
                            overrides=task.set, out=options.runs,
                            dataset=_dataset_for(experiment, options.dataset),
                            data_dir=options.data_dir, seed=options.seed, device=options.device,
                            console=console, echo=options.verbose)
    if result.out is not None and result.status == "ok":
        return _load_record(task, Path(result.out), reused=False, seconds=result.seconds)
    return RunRecord(task=task, status=result.status,
                     run_dir=Path(result.out) if result.out else None, reused=False,
                     seconds=result.seconds, metrics=dict(result.metrics or {}),
                     lessons=list(getattr(result, "lessons", []) or []), reason=result.reason)


def _figure_entry(record: RunRecord, name: str) -> dict | None:
    for f in record.figures:
        if name in (f["file"], Path(f["file"]).stem):
            return f
    return None


def _inside(root: Path, name: str) -> Path | None:
    """``root/name`` when it is a regular file inside ``root`` (no links out, no ``..``)."""
    path = root / name
    try:
        resolved = path.resolve(strict=True)
        resolved.relative_to(root.resolve(strict=True))
    except (OSError, ValueError):
        return None
    return path if path.is_file() and not path.is_symlink() else None


def check_run(sheet: Sheet, task: Task, record: RunRecord) -> None:
    """Every metric, figure, text and file ``task`` names exists in its (finished) run."""
    if record.status != "ok" or record.run_dir is None:
        return
    known = set(record.metrics)
    for metric in task.metrics:
        head = metric.split(".")[0]
        if head in RUN_FIELDS:
            continue
        check_metric(sheet, task, "metrics", repr(metric), task, head, known)
        try:
            value_at(record.metrics, metric.split("."))
        except KeyError as exc:
            raise sheet.error(task, "metrics", f"{metric!r}: {exc.args[0]}") from None
    for name in task.figures:
        if _figure_entry(record, name) is None:
            have = ", ".join(Path(f["file"]).stem for f in record.figures) or "none"
            raise sheet.error(task, "figures", f"{name!r}: {task.name} drew no such figure "
                              f"(its figures: {have})")
    for name in task.texts:
        if _inside(record.run_dir, name) is None:
            raise sheet.error(task, "texts", f"{name!r}: no such file in the {task.name} run "
                              f"({record.run_dir})")
    for hand_in, run_file in task.files.items():
        if _inside(record.run_dir, run_file) is None:
            raise sheet.error(task, f"files.{hand_in}", f"{run_file!r}: the {task.name} run "
                              f"({record.run_dir}) wrote no such file")


# ---------------------------------------------------------------------------------------------
# references


class _Values:
    """Resolves references against the computed worked answers and the runs."""

    def __init__(self, sheet: Sheet, worked: dict[str, WorkedResult], runs: dict[str, RunRecord]):
        self.sheet, self.worked, self.runs = sheet, worked, runs

    def resolver(self, task: Task, key: str):
        def resolve(ref: _refs.Ref) -> Any:
            target, path = resolve_target(self.sheet, task, key, ref)
            try:
                return self._value(target, path)
            except KeyError as exc:
                raise self.sheet.error(task, key, f"{ref.text}: {exc.args[0]}") from None

        return resolve

    def _value(self, target: Task | None, path: list[str]) -> Any:
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


# ---------------------------------------------------------------------------------------------
# the page


def _demote_headings(markdown: str, by: int = 2) -> str:
    """Headings inside an answer go below the task's own heading (outside code fences)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if re.match(r"^ {0,3}(```|~~~)", line):
            fenced = not fenced
        if not fenced:
            m = re.match(r"^(#{1,6})(\s)", line)
            if m:
                line = "#" * min(6, len(m.group(1)) + by) + line[len(m.group(1)):]
        out.append(line)
    return "\n".join(out)


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


def _checks(data: Any) -> list[bool]:
    """Every ``passed`` flag of a worked answer's second checks."""
    found: list[bool] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "passed" and isinstance(v, bool):
                found.append(v)
            else:
                found += _checks(v)
    elif isinstance(data, list):
        for v in data:
            found += _checks(v)
    return found


def _lesson_line(lesson: dict) -> str:
    met = lesson.get("met")
    mark = "✓ met" if met is True else "✗ not met" if met is False else "– not judged"
    value = _refs.format_value(lesson.get("value"))
    line = f"- **{mark}**: {lesson.get('say', '')}: {lesson.get('label') or lesson.get('metric')}" \
           f" = {value}"
    if lesson.get("target") is not None:
        target = _refs.format_value(lesson.get("target"))
        if lesson.get("target_metric"):
            target += f" ({lesson['target_metric']}{' + margin' if lesson.get('margin') else ''})"
        line += f" (target {lesson.get('op', '')} {target}, {lesson.get('mode', '')} run)"
    return line


def _metric_table(task: Task, record: RunRecord) -> str:
    rows = ["| metric | value |", "|---|---|"]
    for metric in task.metrics:
        value = value_at(record.metrics, metric.split("."))
        try:
            text = _refs.format_value(value)
        except TypeError:
            text = "`" + json.dumps(value)[:200] + "`"
        rows.append(f"| `{metric}` | {text} |")
    return "\n".join(rows)


def _data_line(record: RunRecord) -> str:
    data = record.config.get("dataset") or {}
    if not data:
        return ""
    return f"; data {data.get('name')} (sha256 `{str(data.get('sha256', ''))[:16]}…`)"


def _experiment_body(task: Task, record: RunRecord, options: SolveOptions, values: _Values,
                     handed_in: list[tuple[str, str]]) -> tuple[str, list]:
    from stridelab.report.render import Figure

    parts = [f"*Run:* `{experiment_command_line(task, options)}`"]
    figures = []
    if record.status == "skipped":
        parts[0] += " — **skipped**."
        parts.append(f"**Not run:** {record.reason}")
        if task.if_skipped:
            parts.append(values.render(task, "if_skipped", task.if_skipped))
        return "\n\n".join(parts), figures
    if record.status != "ok":
        parts[0] += " — **failed**."
        where = f" (log: `{record.run_dir / 'log.txt'}`)" if record.run_dir else ""
        parts.append(f"**Failed:** {record.reason}{where}")
        return "\n\n".join(parts), figures
    how = "reused the finished run" if record.reused else f"ran in {record.seconds:.1f} s into"
    parts[0] += f" — {how} `{record.run_dir}`{_data_line(record)}."
    if task.metrics:
        parts.append(_metric_table(task, record))
    if task.lessons and record.lessons:
        parts.append("**Lessons** (judged by the runner from the measured metrics):\n\n"
                     + "\n".join(_lesson_line(lesson) for lesson in record.lessons))
    for name in task.texts:
        path = record.run_dir / name
        text = path.read_text(encoding="utf-8", errors="replace")
        if name.endswith(".md"):
            parts.append(_demote_headings(text.strip(), 3))
        else:
            parts.append(f"```text\n{text.strip()}\n```")
    for name in task.figures:
        entry = _figure_entry(record, name) or {"file": name}
        figures.append(Figure(record.run_dir / "figures" / entry["file"],
                              str(entry.get("caption") or entry["file"])))
    if handed_in:
        lines = [f"- `{name}`: {note}" for name, note in handed_in]
        parts.append("**Files handed in** (beside this solution):\n\n" + "\n".join(lines))
    if task.answer:
        parts.append(values.render(task, "answer", task.answer))
    return "\n\n".join(parts), figures


def _worked_body(task: Task, result: WorkedResult, values: _Values) -> tuple[str, list]:
    from stridelab.report.render import Figure

    parts = [f"*Computed with:* `{worked_command_line(task)}`"]
    if task.spec is not None:
        parts.append(f"The network (`{task.id}.json`):\n\n```json\n{compact_json(task.spec)}\n```")
    if task.show:
        for path in task.show:
            value = value_at(result.data, path.split("."), answer=result.answer)
            parts.append(f"**{path}**: {_refs.format_value(value)}")
    else:
        parts.append(_demote_headings(result.markdown.strip()))
    if task.answer:
        parts.append(values.render(task, "answer", task.answer))
    figures = [Figure(p, f"{task.label}: {p.name}") for p in result.figures]
    return "\n\n".join(parts), figures


def compact_json(spec: dict) -> str:
    """A backprop spec as JSON with one key per line and one layer or data point per line."""
    lines = []
    for key, value in spec.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join(f"    {json.dumps(v)}" for v in value)
            lines.append(f'  "{key}": [\n{items}\n  ]')
        else:
            lines.append(f'  "{key}": {json.dumps(value)}')
    return "{\n" + ",\n".join(lines) + "\n}"


def _stand_in_note(sheet: Sheet, task: Task) -> str:
    notes = [f"*Stand-in for {s.file}* (not given with the sheet): {s.instead}"
             for s in sheet.stand_ins if task.label in s.tasks]
    return "\n\n".join(notes)


def build_sections(sheet: Sheet, shown: list[Task], worked: dict[str, WorkedResult],
                   runs: dict[str, RunRecord], options: SolveOptions, values: _Values,
                   handed_in: dict[str, list[tuple[str, str]]]) -> list:
    """One :class:`~stridelab.report.render.Section` per shown task, in the sheet's order."""
    from stridelab.report.render import Section

    sections = []
    if sheet.stand_ins:
        lines = [f"- `{s.file}`"
                 + (f" (task{'s' if len(s.tasks) > 1 else ''} {', '.join(s.tasks)})"
                    if s.tasks else "") + f": {s.instead}" for s in sheet.stand_ins]
        sections.append(Section("Files the sheet refers to but does not give",
                                markdown="\n".join(lines), anchor="stand-ins"))
    for task in shown:
        body = [_quote(f"**Task.** {task.statement}")]
        note = _stand_in_note(sheet, task)
        if note:
            body.append(note)
        figures: list = []
        badge, badge_kind = None, "info"
        if task.kind == "worked":
            text, figures = _worked_body(task, worked[task.id], values)
            checks = _checks(worked[task.id].data)
            if checks:
                badge, badge_kind = ("checked", "ok") if all(checks) else ("check failed", "fail")
        elif task.kind == "experiment":
            record = runs[task.id]
            text, figures = _experiment_body(task, record, options, values,
                                             handed_in.get(task.id, []))
            if record.status == "ok":
                judged = [x for x in record.lessons if x.get("met") is not None]
                if judged and task.lessons:
                    n_met = sum(bool(x["met"]) for x in judged)
                    badge = f"lessons {n_met}/{len(judged)} met"
                    badge_kind = "ok" if n_met == len(judged) else "warn"
                else:
                    badge = "reused" if record.reused else "ran"
            else:
                badge, badge_kind = record.status, "warn" if record.status == "skipped" else "fail"
        else:
            text = values.render(task, "answer", task.answer)
        body.append(text)
        sections.append(Section(task.label, markdown="\n\n".join(body), figures=figures,
                                anchor=f"task-{task.id}", badge=badge, badge_kind=badge_kind,
                                css_class=f"task {task.kind}"))
    return sections


def _meta(sheet: Sheet, runs: dict[str, RunRecord], options: SolveOptions) -> list:
    from stridelab import __version__

    data = {}
    devices = set()
    for record in runs.values():
        ds = record.config.get("dataset") or {}
        if ds.get("name"):
            data[ds["name"]] = ds.get("sha256", "")
        env = record.config.get("environment") or {}
        if env.get("device"):
            devices.add(str(env["device"]))
    mode = {"smoke": "smoke (the test suite's tiny configurations)",
            "quick": "quick (each experiment's --quick configuration)",
            "full": "full (each experiment's full configuration)"}[options.mode]
    meta = [("course", sheet.course), ("sheet", sheet.title)]
    if sheet.source:
        meta.append(("answers", sheet.source))
    meta += [("date", time.strftime("%Y-%m-%d")), ("stridelab", __version__),
             ("configuration", mode), ("seed", str(options.seed))]
    if devices:
        meta.append(("device", ", ".join(sorted(devices))))
    meta.append(("data sets", "; ".join(f"{n} (sha256 {s})" for n, s in sorted(data.items()))
                 or "none loaded"))
    return meta


# ---------------------------------------------------------------------------------------------
# hand-in files


def hand_in_files(task: Task, record: RunRecord, dest: Path) -> list[tuple[str, str]]:
    """Copy the files ``task`` asks for, each model with its ``.pt2``; (name, what) per file."""
    notes = []
    if record.status != "ok" or record.run_dir is None:
        return [(name, f"not written: {task.name} {record.status}") for name in task.files]
    for hand_in, run_file in task.files.items():
        src = _inside(record.run_dir, run_file)
        assert src is not None  # checked by check_run
        shutil.copyfile(src, dest / hand_in)
        notes.append((hand_in, f"`{run_file}` of the run ({src.stat().st_size:,} bytes)"))
        if Path(run_file).suffix == ".pt":
            exported = Path(run_file).with_suffix(".pt2").name
            name = Path(hand_in).with_suffix(".pt2").name
            src2 = _inside(record.run_dir, exported)
            if src2 is not None:
                shutil.copyfile(src2, dest / name)
                notes.append((name, f"the same model saved with `torch.export` "
                              f"({src2.stat().st_size:,} bytes); plain PyTorch runs it: "
                              f"`torch.export.load('{name}').module()`"))
            else:
                notes.append((name, f"**missing**: the run wrote no `{exported}` "
                              "(its torch.export copy), so none is handed in"))
    return notes


# ---------------------------------------------------------------------------------------------
# the whole solve


class _Progress:
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


def _check_requests(sheet: Sheet, tasks: list[Task], options: SolveOptions) -> None:
    """Each experiment task's request as the runner checks it (bounds, device, data set)."""
    from stridelab.experiments import registry
    from stridelab.experiments.runner import check_request

    for task in tasks:
        if task.kind != "experiment":
            continue
        experiment = registry.get(task.name)
        try:
            check_request(experiment, quick=options.quick, smoke=options.smoke,
                          overrides=task.set, dataset=_dataset_for(experiment, options.dataset),
                          data_dir=options.data_dir, out=options.runs, device=options.device)
        except ConfigError as exc:
            key = next((f"set.{k}" for k in task.set if k in str(exc)), "name")
            raise sheet.error(task, key, str(exc)) from None


def _check_references(sheet: Sheet, tasks: list[Task], known: dict[str, set[str]] | None,
                      worked: dict[str, WorkedResult]) -> None:
    values = _Values(sheet, worked, {})
    for task in tasks:
        for key, text in answer_texts(task):
            for ref in _refs.references(text):
                check_reference(sheet, task, key, ref, known)
                target, path = resolve_target(sheet, task, key, ref)
                if target is not None and target.kind == "worked" and target.id in worked:
                    try:
                        values._value(target, path)
                    except KeyError as exc:
                        raise sheet.error(task, key, f"{ref.text}: {exc.args[0]}") from None
        if task.kind == "worked" and task.show and task.id in worked:
            for path in task.show:
                try:
                    value_at(worked[task.id].data, path.split("."), answer=worked[task.id].answer)
                except KeyError as exc:
                    raise sheet.error(task, "show", f"{path!r}: {exc.args[0]}") from None


def solve_sheet(sheet: Sheet, options: SolveOptions, console=None) -> Solution:
    """Solve ``sheet`` into ``options.out / sheet.name`` (see the module docstring)."""
    t_start = time.perf_counter()
    shown, needed = select_tasks(sheet, options.tasks)
    _check_requests(sheet, needed, options)
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
                               pdf=move(solution.pdf), notebook=move(solution.notebook),
                               files=[move(p) for p in solution.files])


def _solve_into(sheet: Sheet, options: SolveOptions, shown: list[Task], needed: list[Task],
                staging: Path, final: Path, console) -> Solution:
    progress = _Progress(console, len(needed))
    figures_dir = staging / "figures"
    spec_dir = staging / "specs"

    # 1. worked tasks: seconds; every reference into them checked before any experiment runs
    worked: dict[str, WorkedResult] = {}
    for task in needed:
        if task.kind == "worked":
            with progress.status(f"{task.label}: stridelab {task.command} …"):
                worked[task.id] = compute_worked(sheet, task, figures_dir, spec_dir)
            checks = _checks(worked[task.id].data)
            outcome = "checked" if checks and all(checks) else \
                "check failed" if checks else "computed"
            progress.line(task, f"stridelab {task.command}", outcome, worked[task.id].seconds,
                          "green" if outcome != "check failed" else "red")
    _check_references(sheet, needed, None, worked)

    # 2. experiments: reuse a run that is what this solve would run, else run it
    data = _DataCheck(options)
    runs: dict[str, RunRecord] = {}
    shared: dict[tuple, RunRecord] = {}
    shared_by: dict[tuple, str] = {}  # the label of the first task that used each run
    for task in needed:
        if task.kind != "experiment":
            continue
        key = (task.name, tuple(sorted(task.set.items())))
        what = f"{task.name}{' ' + ' '.join(f'{k}={v}' for k, v in task.set.items()) if task.set else ''}"
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
    known = {tid: set(r.metrics) for tid, r in runs.items() if r.status == "ok"}
    _check_references(sheet, needed, known, worked)
    for task in needed:
        if task.kind == "answer":
            progress.line(task, "answer", "references resolved", 0.0)

    # 3. the files handed in, the page, the PDF, the notebook
    values = _Values(sheet, worked, runs)
    handed_in: dict[str, list[tuple[str, str]]] = {}
    files: list[Path] = []
    for task in shown:
        if task.kind == "experiment" and task.files:
            handed_in[task.id] = hand_in_files(task, runs[task.id], staging)
            files += [staging / name for name, _ in handed_in[task.id]
                      if (staging / name).is_file()]
    sections = build_sections(sheet, shown, worked, runs, options, values, handed_in)
    from stridelab.report.render import render_document, write_document

    title = f"{sheet.course}: {sheet.title}"
    page = render_document(title, sections, subtitle=sheet.source or "",
                           meta=_meta(sheet, {t.id: runs[t.id] for t in shown if t.id in runs},
                                      options), toc=True)
    html_path = write_document(staging / "solution.html", page)
    pdf_path, pdf_reason = None, None
    if options.pdf:
        with progress.status("solution.pdf: printing with headless Chromium …"):
            pdf_reason = _print_pdf(html_path, staging / "solution.pdf", title)
        pdf_path = None if pdf_reason else staging / "solution.pdf"
    nb_path, nb_error = None, None
    if options.notebook:
        from stridelab.sheets.notebook import build_notebook, execute_notebook, write_notebook

        nb = build_notebook(sheet, shown, worked, runs, values, final, options)
        with progress.status("solution.ipynb: executing …"):
            nb, nb_error = execute_notebook(nb, staging)
        nb_path = write_notebook(nb, staging / "solution.ipynb")
    shutil.rmtree(spec_dir, ignore_errors=True)
    for path in (html_path, pdf_path, nb_path):
        if path is not None:  # written through temporary files (0600): a solution is for sharing
            os.chmod(path, 0o644)
    failed = [t.label for t in shown if t.kind == "experiment" and runs[t.id].status == "failed"]
    return Solution(dir=staging, html=html_path, pdf=pdf_path, pdf_reason=pdf_reason,
                    notebook=nb_path, notebook_error=nb_error, files=files, worked=worked,
                    runs=runs, failed=failed, seconds=0.0)


def _print_pdf(html_path: Path, pdf_path: Path, title: str) -> str | None:
    try:
        from stridelab.report.pdf import print_pdf
    except ImportError:  # pragma: no cover - older layout
        from stridelab.report.render import print_pdf  # type: ignore[no-redef]
    return print_pdf(html_path, pdf_path, footer=title)
