"""Render a solve: one section per task, in the sheet's order, through :mod:`stridelab.report`.

A task's section reads as a model answer: the task in the sheet's words, the stand-in it uses
(when the sheet refers to a file it does not give), what was computed or run, the figures, and
then the answer that discusses them. It states results; the project's own lessons, targets and
pass/fail badges stay in ``stridelab report``.

- :func:`build_sections`: the page's sections;
- :func:`title_rows`: the title block (who hands in, the course, the configuration, the data);
- :func:`write_page` and :func:`print_page`: the HTML file and its PDF.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from stridelab.sheets import refs as _refs
from stridelab.sheets.commands import experiment_command_line, worked_command_line
from stridelab.sheets.handin import HAND_IN_DIR
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.plan import SolveOptions
from stridelab.sheets.results import RunRecord, WorkedResult
from stridelab.sheets.run import figure_entry
from stridelab.sheets.submission import title_rows as identity_rows
from stridelab.sheets.values import Values, value_at

__all__ = ["build_sections", "stand_ins_section", "title_rows", "write_page", "print_page", "compact_json"]


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


# ---------------------------------------------------------------------------------------------
# one task


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


# data sets that stand in for a larger one a sheet names: said where a run used them
_SUBSETS = {"mnist-5k": "a 5,000-image subset of MNIST standing in for the full 70,000"}


def _data_line(record: RunRecord) -> str:
    data = record.config.get("dataset") or {}
    if not data:
        return ""
    line = f"; data {data.get('name')} (sha256 `{str(data.get('sha256', ''))[:16]}…`)"
    if data.get("name") in _SUBSETS:
        sizes = ""
        if isinstance(data.get("n_train"), int) and isinstance(data.get("n_test"), int):
            sizes = f": {data['n_train']:,} training and {data['n_test']:,} test images"
        line += f", {_SUBSETS[data['name']]}{sizes}"
    return line


def _experiment_parts(task: Task, record: RunRecord, options: SolveOptions, values: Values,
                      handed_in: list[tuple[str, str]]) -> tuple[str, list, str]:
    """(what was run and measured, the figures, the answer that discusses them)."""
    from stridelab.report.render import Figure

    run = f"*Run:* `{experiment_command_line(task, options.mode, options.seed)}`"
    if record.status == "skipped":
        parts = [run + " — **skipped**.", f"**Not run:** {record.reason}"]
        if task.if_skipped:
            parts.append(values.render(task, "if_skipped", task.if_skipped))
        return "\n\n".join(parts), [], ""
    if record.status != "ok":
        where = f" (log: `{record.run_dir / 'log.txt'}`)" if record.run_dir else ""
        return f"{run} — **failed**.\n\n**Failed:** {record.reason}{where}", [], ""
    how = "reused the finished run" if record.reused else f"ran in {record.seconds:.1f} s into"
    before = [f"{run} — {how} `{record.run_dir}`{_data_line(record)}."]
    if task.metrics:
        before.append(_metric_table(task, record))
    for name in task.texts:
        text = (record.run_dir / name).read_text(encoding="utf-8", errors="replace")
        before.append(_demote_headings(text.strip(), 3) if name.endswith(".md")
                      else f"```text\n{text.strip()}\n```")
    figures = []
    for name in task.figures:
        entry = figure_entry(record, name) or {"file": name}
        figures.append(Figure(record.run_dir / "figures" / entry["file"],
                              str(entry.get("caption") or entry["file"])))
    after = []
    if task.answer:
        after.append(values.render(task, "answer", task.answer))
    if handed_in:
        lines = [f"- `{name}`: {note}" for name, note in handed_in]
        after.append("**Files handed in** (in the hand-in folder):\n\n" + "\n".join(lines))
    return "\n\n".join(before), figures, "\n\n".join(after)


def _worked_parts(task: Task, result: WorkedResult, values: Values) -> tuple[str, list, str]:
    """(the command and its worked answer, the figures it drew, the sheet's answer)."""
    from stridelab.report.render import Figure

    before = [f"*Computed with:* `{worked_command_line(task)}`"]
    if task.spec is not None:
        before.append(f"The network (`{task.id}.json`):\n\n```json\n{compact_json(task.spec)}\n```")
    if task.show:
        for path in task.show:
            value = value_at(result.data, path.split("."), answer=result.answer)
            before.append(f"**{path}**: {_refs.format_value(value)}")
    else:
        before.append(_demote_headings(result.markdown.strip()))
    figures = [Figure(p, f"{task.label}: {p.name}") for p in result.figures]
    after = values.render(task, "answer", task.answer) if task.answer else ""
    return "\n\n".join(before), figures, after


def _programs_list(programs: list[tuple[str, str]]) -> str:
    """The programs that answer a task, each linked into the hand-in folder, with what it is."""
    lines = [f"- [`{name}`]({HAND_IN_DIR}/{name}): {what}" for name, what in programs]
    return "**Program" + ("s" if len(lines) > 1 else "") + "** (in the hand-in folder):\n\n" \
        + "\n".join(lines)


def stand_in_note(sheet: Sheet, task: Task) -> str:
    """The stand-ins ``task`` uses, said in its answer (Markdown; empty when it uses none)."""
    return "\n\n".join(f"*Stand-in for {s.file}* (not given with the sheet): {s.instead}"
                       for s in sheet.stand_ins if task.label in s.tasks)


def stand_ins_section(sheet: Sheet) -> list:
    """The section listing the files the sheet names but does not give (none: an empty list);
    the solution and the exercise both open with it."""
    from stridelab.report.render import Section

    if not sheet.stand_ins:
        return []
    lines = [f"- {s.file}"
             + (f" (task{'s' if len(s.tasks) > 1 else ''} {', '.join(s.tasks)})"
                if s.tasks else "") + f": {s.instead}" for s in sheet.stand_ins]
    return [Section("Files the sheet refers to but does not give",
                    markdown="\n".join(lines), anchor="stand-ins")]


def build_sections(sheet: Sheet, shown: list[Task], worked: dict[str, WorkedResult],
                   runs: dict[str, RunRecord], options: SolveOptions, values: Values,
                   handed_in: dict[str, list[tuple[str, str]]],
                   programs: dict[str, list[tuple[str, str]]] | None = None) -> list:
    """One :class:`~stridelab.report.render.Section` per shown task, in the sheet's order.

    Each section: the task, its stand-ins, what was computed or run, its figures, and then the
    answer (so that "the figure above" is where the reader finds it).
    """
    from stridelab.report.render import Section

    sections = stand_ins_section(sheet)
    for task in shown:
        head = [_quote(f"**Task.** {task.statement}")]
        note = stand_in_note(sheet, task)
        if note:
            head.append(note)
        figures: list = []
        if task.kind == "worked":
            before, figures, after = _worked_parts(task, worked[task.id], values)
        elif task.kind == "experiment":
            before, figures, after = _experiment_parts(task, runs[task.id], options, values,
                                                       handed_in.get(task.id, []))
        else:
            before, after = "", values.render(task, "answer", task.answer)
        if programs and programs.get(task.id):
            after = "\n\n".join(p for p in (after, _programs_list(programs[task.id])) if p)
        sections.append(Section(task.label, markdown="\n\n".join(head + [before]),
                                figures=figures, markdown_after=after,
                                anchor=f"task-{task.id}", css_class=f"task {task.kind}"))
    return sections


# ---------------------------------------------------------------------------------------------
# the page


def title_rows(sheet: Sheet, runs: dict[str, RunRecord], options: SolveOptions) -> list:
    """The title block: who hands in, then the course, the configuration and the data used."""
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
    meta = identity_rows(sheet.submission, options.identity)
    meta += [("course", sheet.course), ("sheet", sheet.title)]
    if sheet.source:
        meta.append(("answers", sheet.source))
    meta += [("date", time.strftime("%Y-%m-%d")), ("stridelab", __version__),
             ("configuration", mode), ("seed", str(options.seed))]
    if devices:
        meta.append(("device", ", ".join(sorted(devices))))
    meta.append(("data sets", "; ".join(f"{n} (sha256 {s})" for n, s in sorted(data.items()))
                 or "none loaded"))
    return meta


def write_page(sheet: Sheet, sections: list, meta: list, path: Path) -> Path:
    """The solution page (one self-contained HTML file) at ``path``."""
    from stridelab.report.render import render_document, write_document

    page = render_document(f"{sheet.course}: {sheet.title}", sections,
                           subtitle=sheet.source or "", meta=meta, toc=True)
    return write_document(path, page)


def print_page(sheet: Sheet, html_path: Path, pdf_path: Path) -> str | None:
    """Print the page to ``pdf_path``; None, or why no PDF was written (one short line)."""
    from stridelab.report.pdf import print_pdf

    return print_pdf(html_path, pdf_path, footer=f"{sheet.course}: {sheet.title}")
