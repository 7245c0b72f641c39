"""The course loop's files: a folder per student, and a class's grades.

:func:`write_variants` draws every student's variant first (a sheet whose draws cannot meet
their conditions stops here, before anything is written), then writes each student's folder
beside its final place and renames it into place: ``OUT/ID/NAME.toml`` (the variant, a complete
sheet file), ``OUT/ID/exercise.html`` and ``exercise.pdf``, and ``OUT/ID/answers.toml`` (the
blank answers file). :func:`write_answers` writes the blank answers files alone.

:func:`grade_class` reads every answers file and checks that each is its student's before
grading any (one line, exit 2, nothing written, otherwise), grades them (in ``jobs`` processes),
and writes ``OUT/feedback/ID.html`` (and ``.pdf``), ``OUT/model-answers.html`` and, last and
whole, ``OUT/grades.csv``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stridelab.atomic import write_text_atomic
from stridelab.errors import ConfigError
from stridelab.sheets.answers import ANSWERS_NAME, blank_answers, read_answers
from stridelab.sheets.exercise import write_exercise
from stridelab.sheets.grade import CACHE_DIR, Grader, StudentGrade, answers_gradables, check_files
from stridelab.sheets.model import Sheet
from stridelab.sheets.variant import Variant, check_student, make_variant, variant_text

__all__ = ["Written", "Graded", "write_variants", "write_answers", "grade_class", "out_dir",
           "GRADES_CSV", "FEEDBACK_DIR"]

GRADES_CSV = "grades.csv"
FEEDBACK_DIR = "feedback"


@dataclass
class Written:
    """What was written for one student."""

    variant: Variant
    dir: Path
    files: list[Path]
    pdf_reason: str | None  # why no exercise PDF was printed (None when printed or not asked)


def out_dir(path: str | Path, what: str = "--out") -> Path:
    """``path`` as an output folder (made when missing); ConfigError when it cannot be."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} {p}: not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {p}: cannot make it ({exc.strerror or exc})") from None
    return p


def _replace_dir(staging: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def write_variants(sheet: Sheet, students: list[tuple[str, str]], out: Path, *,
                   pdf: bool = True, progress=None) -> list[Written]:
    """Every student's folder under ``out`` (see the module docstring).

    ``students`` are (id, name) pairs; ``progress(text)`` is told of each folder written.
    """
    if sheet.variant is not None:
        raise ConfigError(f"{sheet.where} is already the variant of student "
                          f"{sheet.variant.student!r}; give the sheet it was drawn from "
                          f"({sheet.variant.sheet})")
    try:
        original = sheet.path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{sheet.where}: cannot read the sheet: {exc.strerror or exc}") \
            from None
    from stridelab.sheets.loader import sheet_sha256

    if sheet_sha256(original) != sheet.sha256:
        raise ConfigError(f"{sheet.where}: the file changed while it was read; run again")
    for sid, _ in students:
        check_student(sid)
    variants = [make_variant(sheet, sid, name) for sid, name in students]
    grader = Grader(sheet)
    root = out_dir(out)
    written = []
    for variant in variants:
        final = root / variant.student
        staging = root / f".{variant.student}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            sheet_file = write_text_atomic(staging / f"{sheet.name}.toml",
                                           variant_text(variant, original))
            html, pdf_path, reason = write_exercise(variant.sheet, staging, pdf=pdf)
            answers = write_text_atomic(staging / ANSWERS_NAME, blank_answers(
                variant.sheet, variant.student, variant.seed,
                answers_gradables(grader, variant), variant.record.name))
            files = [p for p in (sheet_file, html, pdf_path, answers) if p is not None]
            for p in files:
                os.chmod(p, 0o644)
            _replace_dir(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        done = Written(variant, final, [final / p.name for p in files], reason)
        written.append(done)
        if progress is not None:
            progress(done)
    return written


def write_answers(sheet: Sheet, students: list[tuple[str, str]], out: Path) -> list[Path]:
    """``OUT/ID/answers.toml``, a blank answers file per student (drawn first, then written)."""
    for sid, _ in students:
        check_student(sid)
    grader = Grader(sheet)
    texts = []
    for sid, name in students:
        variant = grader.variant(sid)
        texts.append((sid, blank_answers(variant.sheet, sid, variant.seed,
                                         answers_gradables(grader, variant), name)))
    root = out_dir(out)
    paths = []
    for sid, text in texts:
        path = write_text_atomic(root / sid / ANSWERS_NAME, text)
        os.chmod(path, 0o644)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# grading a class


@dataclass
class Graded:
    """What grading a class wrote."""

    grades: list[StudentGrade]
    csv: Path
    feedback: Path  # the folder of feedback pages
    models: Path | None  # the model answers page (None when nothing is graded by hand)
    pdf_reasons: dict[str, str]  # student -> why no feedback PDF was printed


_GRADER = None


def _init_worker(sheet: Sheet, cache: Path, runs: Path | None, quick: bool) -> None:
    global _GRADER
    _GRADER = Grader(sheet, cache=cache, runs=runs, quick=quick)


def _grade_in_worker(item) -> StudentGrade:
    answers, name = item
    return _GRADER.grade(answers, name)


def _grade_all(grader: Grader, items: list, jobs: int, progress) -> list[StudentGrade]:
    if jobs <= 1 or len(items) < 2 * jobs:
        out = []
        for answers, name in items:
            out.append(grader.grade(answers, name))
            if progress is not None:
                progress(out[-1])
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    context = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    out = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(grader.sheet, grader.cache, grader.runs_dir,
                                       grader.quick)) as pool:
        for grade in pool.map(_grade_in_worker, items, chunksize=max(1, len(items) // (4 * jobs))):
            out.append(grade)
            if progress is not None:
                progress(grade)
    return out


def grade_class(sheet: Sheet, paths: list[str | Path], out: Path, *, pdf: bool = True,
                jobs: int = 1, runs: Path | None = None, quick: bool = False,
                names: dict[str, str] | None = None, progress=None) -> Graded:
    """Grade every answers file in ``paths`` against ``sheet`` (see the module docstring)."""
    from stridelab.report.render import render_document, write_document
    from stridelab.sheets.feedback import MODEL_PAGE, grades_csv, model_sections, write_feedback

    if not paths:
        raise ConfigError("give at least one answers file")
    root = Path(out)
    grader = Grader(sheet, cache=root / CACHE_DIR, runs=runs, quick=quick)
    files = [read_answers(p) for p in paths]
    check_files(grader, files)
    names = names or {}
    items = [(f, names.get(f.student) or f.name) for f in files]
    root = out_dir(root)
    grades = _grade_all(grader, items, jobs, progress)
    staging = root / f".grading-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / FEEDBACK_DIR).mkdir(parents=True)
    reasons: dict[str, str] = {}
    try:
        model_path = None
        sections = model_sections(grader.sheet, grades)
        if sections:
            page = render_document(f"Model answers to grade by hand: {grader.sheet.course}: "
                                   f"{grader.sheet.title}", sections, toc=True)
            model_path = write_document(staging / MODEL_PAGE, page)
        link = f"../{MODEL_PAGE}" if model_path is not None else ""
        for grade in grades:
            _, _, reason = write_feedback(grader.sheet, grade, staging / FEEDBACK_DIR, pdf=pdf,
                                          model_page=link)
            if reason:
                reasons[grade.student] = reason
        for p in (staging / FEEDBACK_DIR).iterdir():
            os.chmod(p, 0o644)
        _replace_dir(staging / FEEDBACK_DIR, root / FEEDBACK_DIR)
        if model_path is not None:
            os.chmod(model_path, 0o644)
            os.replace(model_path, root / MODEL_PAGE)
        csv_path = write_text_atomic(root / GRADES_CSV, grades_csv(grader.sheet, grades))
        os.chmod(csv_path, 0o644)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Graded(grades, csv_path, root / FEEDBACK_DIR,
                  root / MODEL_PAGE if model_path is not None else None, reasons)
