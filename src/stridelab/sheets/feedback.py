"""What grading writes: the class's CSV, a feedback page per student, the model answers page.

- :func:`grades_csv`: one row per student: id, name, variant seed, the points of every task
  graded automatically (the values right, for a task the sheet gives no points), an empty
  column per task graded by hand, then the points, the points still to grade by hand, the
  sheet's total and the values right;
- :func:`feedback_sections`: a student's page: per task the points, and per value what they
  wrote, the right value, the slip the grader names or why it scored nothing; then the tasks
  to grade by hand with their points and a link to their model answer;
- :func:`model_sections`: the model answers of the tasks graded by hand, once for the class,
  or once per student where the answer depends on the student's numbers.

Every page goes through :mod:`stridelab.report` (the solutions' renderer and print). The
feedback pages hold no formula, so they stay small (no typesetting engine inlined) even for a
class of hundreds.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from stridelab.sheets.grade import StudentGrade
from stridelab.sheets.model import Sheet

__all__ = ["grades_csv", "feedback_sections", "feedback_meta", "model_sections",
           "write_feedback", "points_text", "MODEL_PAGE"]

MODEL_PAGE = "model-answers.html"


def points_text(x: float | None) -> str:
    """Points as a grade sheet writes them: ``3``, ``2.5``, ``0.417`` (three places at most)."""
    if x is None:
        return ""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _worth(x: float) -> str:
    """``1 point``, ``2.5 points``."""
    return f"{points_text(x)} point{'' if x == 1 else 's'}"


def _code(text: str) -> str:
    """``text`` as an inline code span (any backticks in it survive)."""
    text = " ".join(str(text).split()) or " "
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _escape(text: str, keep_code: bool = False) -> str:
    """Plain text in Markdown: no formula, emphasis, link or HTML is started by it (code spans
    kept with ``keep_code``: the grading layer's descriptions name layers in them)."""
    special = "\\*_[]<>$#|" + ("" if keep_code else "`")
    return "".join("\\" + ch if ch in special else ch for ch in str(text))


# ---------------------------------------------------------------------------------------------
# the class


def grades_csv(sheet: Sheet, grades: list[StudentGrade]) -> str:
    """The class's grades as CSV text (see the module docstring)."""
    auto = [t for t in sheet.tasks if any(t.id == g.task_id for s in grades for g in s.tasks)]
    auto_ids = {t.id for t in auto}
    hand = [t for t in sheet.tasks if t.id not in auto_ids and sheet.points.get(t.id)]
    header = ["student", "name", "seed"]
    for t in auto:
        header.append(t.label if sheet.points.get(t.id) is not None
                      else f"{t.label} (values right)")
    header += [f"{t.label} (by hand)" for t in hand]
    header += ["points", "points by hand", "max points", "values right", "values"]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    hand_max = sum(sheet.points[t.id] for t in hand)
    for s in grades:
        by_id = {g.task_id: g for g in s.tasks}
        row = [s.student, s.name, s.seed]
        for t in auto:
            g = by_id.get(t.id)
            if g is None:
                row.append("")
            elif g.points is None:
                row.append(str(g.right))
            else:
                row.append(points_text(g.earned))
        row += [""] * len(hand)
        row += [points_text(s.total), points_text(hand_max),
                points_text(sheet.max_points) if sheet.max_points is not None else "",
                str(s.right), str(s.values)]
        out.writerow([_cell(c) for c in row])
    return buf.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula: such a name is quoted."""
    return "'" + text if text[:1] in ("=", "+", "@") or (text[:1] == "-" and
                                                        not _number(text)) else text


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# one student


def _verdict(check, share: float | None) -> str:
    worth = "" if share is None else f" ({points_text(share)} point"
    if worth:
        worth += ")" if share == 1 else "s)"
    if check.problem:
        return f"**scored nothing: {_escape(check.problem)}**{worth}"
    if check.correct:
        return f"**right**{worth}"
    if check.slip:
        return f"**wrong, slip: {_escape(check.slip)}**{worth}"
    return f"**wrong**{worth}"


def feedback_sections(sheet: Sheet, grade: StudentGrade, model_page: str = "") -> list:
    """The sections of one student's feedback page."""
    from stridelab.report.render import Section

    sections = []
    for t in grade.tasks:
        lines = []
        for i, c in enumerate(t.checks):
            what = t.descriptions.get(c.key, "a value this task does not have")
            lines.append(f"- {_code(c.key)}: {_escape(what, keep_code=True)}: "
                         f"{_verdict(c, t.shares[i])}")
            lines.append(f"    - yours: {_code(c.given) if c.given else '(none)'}")
            if not c.correct and c.expected:
                lines.append(f"    - right: {_code(c.expected)}")
            if not c.correct:
                lines.append(f"    - {_escape(c.message)}")
        if t.points is None:
            head = f"{t.label}: {t.right} of {t.n_graded} values right"
        else:
            head = (f"{t.label}: {points_text(t.earned)} of {points_text(t.points)} "
                    f"point{'' if t.points == 1 else 's'}")
        sections.append(Section(head, markdown="\n".join(lines), anchor=f"task-{t.task_id}",
                                css_class="task graded"))
    if grade.by_hand:
        lines = []
        for h in grade.by_hand:
            worth = _worth(h.points) if h.points is not None else "no points"
            link = f" ([model answer]({model_page}#{_model_anchor(h.task_id, grade.student)}))" \
                if model_page else ""
            lines.append(f"- **{_escape(h.label)}** ({_escape(h.why)}, {worth}){link}")
        sections.append(Section("To grade by hand", markdown="\n".join(lines),
                                anchor="by-hand"))
    if grade.ignored:
        sections.append(Section("Not graded", markdown=(
            "The answers file has tables for tasks this sheet does not grade automatically; "
            "they were left alone: " + ", ".join(_code(t) for t in grade.ignored) + ".")))
    return sections


def feedback_meta(sheet: Sheet, grade: StudentGrade) -> list[tuple[str, str]]:
    who = f"{grade.name} ({grade.student})" if grade.name else grade.student
    hand = sum(h.points for h in grade.by_hand if h.points is not None)
    meta = [("student", who), ("course", sheet.course), ("sheet", sheet.title),
            ("variant", f"seed {grade.seed}"), ("answers file", Path(grade.file).name)]
    if sheet.max_points is not None:
        meta.append(("points", f"{points_text(grade.total)} of "
                               f"{points_text(sheet.max_points - hand)} graded here"
                               + (f", {points_text(hand)} more to grade by hand" if hand
                                  else "")))
    meta.append(("values right", f"{grade.right} of {grade.values}"))
    return meta


def write_feedback(sheet: Sheet, grade: StudentGrade, out_dir: Path, *, pdf: bool,
                   model_page: str = "") -> tuple[Path, Path | None, str | None]:
    """``out_dir/ID.html`` (and ``.pdf``): (html, pdf or None, why no PDF)."""
    from stridelab.report.pdf import print_pdf
    from stridelab.report.render import render_document, write_document

    title = f"Feedback: {sheet.course}: {sheet.title}"
    page = render_document(title, feedback_sections(sheet, grade, model_page),
                           meta=feedback_meta(sheet, grade), toc=False)
    html_path = write_document(Path(out_dir) / f"{grade.student}.html", page)
    if not pdf:
        return html_path, None, None
    pdf_path = Path(out_dir) / f"{grade.student}.pdf"
    reason = print_pdf(html_path, pdf_path, footer=f"{grade.student}: {sheet.title}")
    return html_path, (None if reason else pdf_path), reason


# ---------------------------------------------------------------------------------------------
# the model answers of the tasks graded by hand


def _model_anchor(task_id: str, student: str = "") -> str:
    return f"model-{task_id}" + (f"--{student}" if student else "")


def model_sections(sheet: Sheet, grades: list[StudentGrade]) -> list:
    """One section per task graded by hand; a subsection per student where answers differ.

    Every feedback page links here; a student's link goes to their own subsection, or to the
    task's when its model answer is the same for everyone.
    """
    from stridelab.report.render import Section

    sections = []
    for task in sheet.tasks:
        models: dict[str, list[str]] = {}
        for g in grades:
            for h in g.by_hand:
                if h.task_id == task.id:
                    models.setdefault(h.model, []).append(g.student)
        if not models:
            continue
        points = sheet.points.get(task.id)
        worth = f" ({_worth(points)})" if points is not None else ""
        if len(models) == 1:
            ((model, students),) = models.items()
            spans = "".join(f'<span id="{_model_anchor(task.id, s)}"></span>' for s in students)
            sections.append(Section(task.label + worth, markdown=model, html_before=spans,
                                    anchor=_model_anchor(task.id)))
            continue
        sections.append(Section(task.label + worth, anchor=_model_anchor(task.id),
                                markdown="The model answer depends on the student's numbers."))
        for model, students in models.items():
            for s in students:
                sections.append(Section(f"{task.label}: {s}", markdown=model, level=3,
                                        anchor=_model_anchor(task.id, s)))
    return sections
