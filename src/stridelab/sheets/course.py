"""The course loop's files: a folder per student with their variant, exercise and answers file.

:func:`write_variants` draws every student's variant first (a sheet whose draws cannot meet
their conditions stops here, before anything is written), then writes each student's folder
beside its final place and renames it into place: ``OUT/ID/NAME.toml`` (the variant, a complete
sheet file), ``OUT/ID/exercise.html`` and ``exercise.pdf``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stridelab.atomic import write_text_atomic
from stridelab.errors import ConfigError
from stridelab.sheets.exercise import write_exercise
from stridelab.sheets.model import Sheet
from stridelab.sheets.variant import Variant, check_student, make_variant, variant_text

__all__ = ["Written", "write_variants", "out_dir"]


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
            files = [p for p in (sheet_file, html, pdf_path) if p is not None]
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
