"""The exercise a student is handed: the sheet's tasks with their variant's numbers, no answers.

One section per task in the sheet's order, through :mod:`stridelab.report` as the solutions are
(same stylesheet, same full-scale A4 print): the task's statement with the variant's numbers
put in, the stand-ins it uses, the network of a backprop task written out (the figure a sheet
would draw, with the weights, biases, inputs and targets the student starts from), and the
task's points when the sheet gives them. Nothing computed is shown: no command line, no worked
answer, no reference resolved.
"""

from __future__ import annotations

from pathlib import Path

from stridelab.sheets.model import Sheet, Task

__all__ = ["exercise_sections", "exercise_meta", "write_exercise", "EXERCISE_HTML",
           "EXERCISE_PDF"]

EXERCISE_HTML = "exercise.html"
EXERCISE_PDF = "exercise.pdf"


def _network(task: Task) -> str:
    """A backprop task's network as the student is given it (weights, biases, data, rate)."""
    from stridelab.sheets.page import compact_json

    return ("The network, its first weights and biases, the data and the learning rate "
            f"(backprop's JSON, `{task.id}.json`):\n\n```json\n{compact_json(task.spec)}\n```")


def _points(sheet: Sheet, task: Task) -> str:
    points = sheet.points.get(task.id)
    if points is None:
        return ""
    return f" ({points:.3g} point{'s' if points != 1 else ''})"


def exercise_sections(sheet: Sheet) -> list:
    """One :class:`~stridelab.report.render.Section` per task, and the stand-ins first."""
    from stridelab.report.render import Section
    from stridelab.sheets.page import stand_in_note, stand_ins_section

    sections = stand_ins_section(sheet)
    for task in sheet.tasks:
        body = [task.statement]
        note = stand_in_note(sheet, task)
        if note:
            body.append(note)
        if task.kind == "worked" and task.spec is not None:
            body.append(_network(task))
        sections.append(Section(task.label + _points(sheet, task), markdown="\n\n".join(body),
                                anchor=f"task-{task.id}", css_class=f"task {task.kind}"))
    return sections


def exercise_meta(sheet: Sheet) -> list[tuple[str, str]]:
    """The title block: the student, the course, the sheet and the variant's seed."""
    from stridelab import __version__

    meta: list[tuple[str, str]] = []
    record = sheet.variant
    if record is not None:
        who = f"{record.name} ({record.student})" if record.name else record.student
        meta.append(("student", who))
    meta += [("course", sheet.course), ("sheet", sheet.title)]
    if sheet.source:
        meta.append(("from", sheet.source))
    if record is not None:
        meta.append(("variant", f"seed {record.seed} of sheet {record.sheet} "
                                f"(sha256 {record.sheet_sha256[:16]}…)"))
    meta.append(("stridelab", __version__))
    return meta


def write_exercise(sheet: Sheet, out_dir: Path, pdf: bool = True) -> tuple[Path, Path | None,
                                                                            str | None]:
    """``exercise.html`` (and ``exercise.pdf``) in ``out_dir``: (html, pdf or None, why not)."""
    from stridelab.report.pdf import print_pdf
    from stridelab.report.render import render_document, write_document

    title = f"{sheet.course}: {sheet.title}"
    page = render_document(title, exercise_sections(sheet), subtitle="Exercise",
                           meta=exercise_meta(sheet), toc=True)
    html_path = write_document(Path(out_dir) / EXERCISE_HTML, page)
    if not pdf:
        return html_path, None, None
    pdf_path = Path(out_dir) / EXERCISE_PDF
    reason = print_pdf(html_path, pdf_path, footer=title)
    return html_path, (None if reason else pdf_path), reason
