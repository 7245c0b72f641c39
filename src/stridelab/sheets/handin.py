"""The hand-in: one flat folder holding exactly what the course asks for, under its names.

``OUT/NAME/hand-in/`` holds the PDF under the name the sheet requires, the notebook, the models
and other files the sheet names, and anything a later step adds (the programs a sheet asks to
write); when the sheet asks for a zip, ``OUT/NAME/<zip name>`` holds the folder's files. Every
step adds files through :class:`HandIn`, which keeps the list of what each file is, so the page,
the console and the zip agree::

    hand_in = HandIn(staging / "hand-in", sheet.submission, identity)
    hand_in.add_copy("prob4_CNN.py", source_file, "the CNN of problem 4")
    hand_in.missing()      # names the sheet asks for that are not there yet
    hand_in.write_zip(staging / hand_in.zip_name)
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from stridelab.atomic import write_bytes_atomic
from stridelab.sheets.model import Task
from stridelab.sheets.programs import dependencies, describe, program_path
from stridelab.sheets.results import RunRecord
from stridelab.sheets.run import inside
from stridelab.sheets.submission import Identity, Rules, hand_in_name

__all__ = ["HandIn", "HAND_IN_DIR"]

HAND_IN_DIR = "hand-in"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same files give the same zip


@dataclass
class HandIn:
    """The hand-in folder being filled (``dir`` exists once the first file is added)."""

    dir: Path
    rules: Rules
    identity: Identity
    entries: dict[str, str] = field(default_factory=dict)  # file name -> what it is (Markdown)

    @property
    def pdf_name(self) -> str:
        return hand_in_name(self.rules.pdf, self.identity)

    @property
    def notebook_name(self) -> str:
        return hand_in_name(self.rules.notebook, self.identity)

    @property
    def zip_name(self) -> str:
        """The zip's file name, or ``""`` when the sheet asks for none."""
        return hand_in_name(self.rules.zip, self.identity) if self.rules.zip else ""

    def path(self, name: str) -> Path:
        """Where ``name`` goes (the folder is made on first use)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / name

    def record(self, name: str, what: str) -> None:
        """Note that ``name`` was written into the folder by the caller."""
        self.entries[name] = what

    def add_copy(self, name: str, source: Path, what: str) -> Path:
        """Copy ``source`` into the folder as ``name``."""
        dest = self.path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        self.record(name, what)
        return dest

    def add_programs(self, names: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
        """Copy the hand-in programs ``names`` (files of :mod:`stridelab.programs`) into the
        folder, each with the programs it imports; returns (name, what) for ``names``."""
        out = []
        for name in names:
            for needed in [name, *dependencies(name)]:
                if needed in self.entries:
                    continue
                source = program_path(needed)
                if source is None:  # the loader accepts only the package's own programs
                    raise ValueError(f"{needed!r} is not a hand-in program")
                what = describe(needed)
                if needed != name:
                    what += f" (imported by `{name}`)"
                self.add_copy(needed, source, what)
            out.append((name, self.entries[name]))
        return out

    def add_run_files(self, task: Task, record: RunRecord) -> list[tuple[str, str]]:
        """The files ``task`` names from its run, each model with its ``torch.export`` copy.

        Returns (name, what) for each, including those that could not be handed in.
        """
        notes = []
        if record.status != "ok" or record.run_dir is None:
            return [(name, f"not written: {task.name} {record.status}") for name in task.files]
        for name, run_file in task.files.items():
            src = inside(record.run_dir, run_file)
            assert src is not None  # checked by check_run
            what = f"`{run_file}` of the run ({src.stat().st_size:,} bytes)"
            self.add_copy(name, src, what)
            notes.append((name, what))
            if Path(run_file).suffix == ".pt":
                exported = Path(run_file).with_suffix(".pt2").name
                name2 = Path(name).with_suffix(".pt2").name
                src2 = inside(record.run_dir, exported)
                if src2 is not None:
                    what2 = (f"the same model saved with `torch.export` "
                             f"({src2.stat().st_size:,} bytes); plain PyTorch runs it: "
                             f"`torch.export.load('{name2}').module()`")
                    self.add_copy(name2, src2, what2)
                    notes.append((name2, what2))
                else:
                    notes.append((name2, f"**missing**: the run wrote no `{exported}` "
                                  "(its torch.export copy), so none is handed in"))
        return notes

    def files(self) -> list[Path]:
        """Every file in the folder, sorted (figures the notebook drew included)."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.rglob("*") if p.is_file())

    def missing(self) -> list[str]:
        """The names the sheet asks for (the PDF and its files) that the folder does not hold."""
        wanted = [self.pdf_name] + list(self.rules.files)
        return [name for name in wanted if not (self.dir / name).is_file()]

    def write_zip(self, dest: Path) -> Path:
        """Zip the folder's files (paths relative to it) into ``dest``, atomically."""
        import io

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in self.files():
                info = zipfile.ZipInfo(path.relative_to(self.dir).as_posix(), _ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
        return write_bytes_atomic(dest, buf.getvalue())
