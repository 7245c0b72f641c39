"""worked-answers reads the sheets' numbers from the sheet files, so each is written once."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stridelab
from stridelab.experiments import worked_answers

RPTU_X = "8 2 9 8 3; 3 4 6 2 7; 5 9 3 9 7; 6 1 3 6 8; 5 1 6 8 1"  # RPTU 2.1's X, as printed


def test_the_rptu_matrix_is_written_once_in_the_source_tree():
    src = Path(stridelab.__file__).parent
    holders = sorted(str(p.relative_to(src)) for p in src.rglob("*")
                     if p.suffix in (".py", ".toml") and RPTU_X in p.read_text(encoding="utf-8"))
    assert holders == ["sheets/builtin/rptu-2.toml"]


def test_the_study_takes_its_numbers_from_the_sheet_files(tmp_path, monkeypatch):
    numbers = worked_answers.sheet_numbers()
    assert numbers["rptu_x"] == RPTU_X and numbers["rptu_at"] == (3, 4)
    assert numbers["rptu_filters"][2] == "0 1 0; 1 -4 1; 0 1 0"  # K₃, the Laplacian
    assert numbers["yale_input"] == (50, 50, 1)
    assert numbers["yale_layers"][2] == ("pool:k=10,s=2,p=2", "pool", 10, 2, 2)
    assert numbers["tue_chain"]["lr"] == 0.1 and "mode" not in numbers["tue_chain"]
    # another X in the sheet file is another X in the study
    copy = tmp_path / "builtin"
    shutil.copytree(worked_answers.SHEETS, copy)
    sheet = copy / "rptu-2.toml"
    sheet.write_text(sheet.read_text(encoding="utf-8").replace(RPTU_X, "1 0 0; 0 1 0; 0 0 1"),
                     encoding="utf-8")
    monkeypatch.setattr(worked_answers, "SHEETS", copy)
    worked_answers.sheet_numbers.cache_clear()
    try:
        assert worked_answers.sheet_numbers()["rptu_x"] == "1 0 0; 0 1 0; 0 0 1"
    finally:
        worked_answers.sheet_numbers.cache_clear()


def test_a_task_missing_from_a_sheet_is_named():
    with pytest.raises(LookupError, match="rptu-2 has no task labelled '9.9'"):
        worked_answers.sheet_task("rptu-2", "9.9")


def test_reading_the_numbers_imports_no_sheet_code():
    code = ("import sys\n"
            "from stridelab.experiments.worked_answers import sheet_numbers\n"
            "sheet_numbers()\n"
            "print(sorted(m for m in sys.modules if m.startswith('stridelab.sheets')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
