"""The course page's complete example runs as the page shows it: the example sheet drawn for
two students, one answers file filled in as the page says, the student's check and the class's
grades.csv printed as they are there."""

import re
from pathlib import Path

import pytest

from stridelab.sheets.loader import load_sheet

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "course.md"


def _example_sheet(text: str) -> str:
    sheets = [body for body in re.findall(r"^```toml\n(.*?)^```$", text, flags=re.M | re.S)
              if body.startswith("course = ")]
    assert len(sheets) == 1, "the page has one complete example sheet"
    return sheets[0]


def _shown(text: str, command: str) -> str:
    """What the page shows under ``$ COMMAND`` (up to the next ``$`` line or the fence's end)."""
    block = text[text.index(f"$ {command}\n") + len(command) + 3:]
    return re.split(r"^(?:\$ |```)", block, flags=re.M)[0]


@pytest.fixture
def course(tmp_path, run_cli, monkeypatch):
    text = PAGE.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Path("sheet3.toml").write_text(_example_sheet(text), encoding="utf-8")
    Path("roster.csv").write_text("id,name\nada,Lovelace Ada\nalan,Turing Alan\n")
    code, _, err = run_cli("sheet", "variant", "sheet3.toml", "--roster", "roster.csv",
                           "--out", "variants", "--no-pdf")
    assert code == 0, err
    return text


def test_the_variant_the_page_names(course):
    values = load_sheet("variants/ada/sheet3.toml").variant.values
    shown = {"1a": {"X": "6 0 7; 0 2 6; 4 4 6", "K": "sobel_y"},
             "1b": {"h": "47", "k": "6", "s": "4"},
             "2": {"w": "0.2", "b": "0.2", "x": "1", "y": "0", "lr": "0.2"}}
    assert values == shown
    assert "Ada's variant draws X = `6 0 7; 0 2 6; 4 4 6` with `sobel_y`" in course


def test_the_check_and_the_grades_the_page_shows(course, run_cli):
    path = Path("variants/ada/answers.toml")
    text = path.read_text()
    for key, value in [('"output.1"', "2 10 14; 0 5 2; -2 -10 -14"), ("output_shape", "11x11x4"),
                       ("total_params", "148"), ("W1", "-0.2"), ("b1", "0.12")]:
        text = text.replace(f'{key} = ""', f'{key} = "{value}"', 1)
    path.write_text(text)
    code, out, err = run_cli("sheet", "check", "sheet3.toml", str(path))
    assert code == 0, err
    assert out == _shown(course, "stridelab sheet check sheet3.toml variants/ada/answers.toml")
    files = sorted(str(p) for p in Path("variants").glob("*/answers.toml"))
    code, _, err = run_cli("sheet", "grade", "sheet3.toml", *files, "--roster", "roster.csv",
                           "--out", "grades", "--no-pdf")
    assert code == 0, err
    assert Path("grades/grades.csv").read_text() == _shown(course, "cat grades/grades.csv")


def test_a_variant_file_solves_with_its_own_numbers(course):
    """A 1×1 weight matrix and a one-number bias are written "0.2" in the variant file and read
    back as the matrix and the vector the network needs."""
    sheet = load_sheet("variants/ada/sheet3.toml")
    spec = sheet.task("2").spec
    assert spec["layers"][0]["W"] == [[0.2]] and spec["layers"][0]["b"] == [0.2]
    assert spec["lr"] == 0.2 and spec["data"] == [{"x": [1], "y": [0]}]
