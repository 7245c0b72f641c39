"""The five built-in sheets, each solved once per test session in its smoke configuration (the
experiments' runs are the test suite's shared smoke runs): every PDF is printed at full scale with
nothing wider than the page, holds no LaTeX or SymPy source and no plain-text copy of a worked
answer, shows no lesson boxes or badges, says each stand-in in each task that uses it, and the
hand-in folder holds what the course asks for under its names."""

import re
import sys
import zipfile
from pathlib import Path

import pytest

from stridelab.sheets.loader import builtin_names, load_sheet
from stridelab.sheets.model import BUILTIN_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTIN = builtin_names()


def _chromium() -> bool:
    from stridelab.report.pdf import find_chromium

    browser, driver = find_chromium()
    return bool(browser and driver)

PDF_NAME = {"lmu-4": "exercise-sheet-4.pdf", "rptu-2": "exercise2_group7.pdf",
            "tue-4": "assignment4.pdf", "tuwien-4": "problems-4.1-4.3.pdf",
            "yale-663-2": "452_riddletm_assignment2.pdf"}

# LaTeX or SymPy source on a printed page: a dollar, a TeX command, a brace group under a sub- or
# superscript, a SymPy Matrix; and the plain-text copy of a worked derivation
LEAK = re.compile(r"\$|\\[A-Za-z]+|[_^]\{|Matrix\(|^Plain text$", re.M)

LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl"}


def _labels(name: str) -> list[str]:
    raw = tomllib.loads((BUILTIN_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    return [t["label"] for t in raw["task"]]


def _pdf(builtin_solution, name) -> Path:
    if not _chromium():
        pytest.skip("Chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver)")
    code, out = builtin_solution(name)
    assert code == 0
    return out / "hand-in" / PDF_NAME[name]


def _text(pdf: Path) -> str:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(str(pdf)).pages)
    for ligature, letters in LIGATURES.items():  # the fonts' ligatures: "ﬁ" is "fi"
        text = text.replace(ligature, letters)
    return text


def _flat(text: str) -> str:
    return " ".join(text.split())


def task_texts(text: str, labels: list[str]) -> dict[str, str]:
    """The PDF's text cut at each task's heading: a line that is the label alone, found in order
    after the contents list (where each label ends a line too); ``""``: all before the first."""
    lines = text.splitlines()
    starts, pos = [], 0
    for label in labels:  # the contents list
        pos = next(i for i in range(pos, len(lines)) if lines[i].strip().endswith(label)) + 1
    for label in labels:  # the headings
        pos = next(i for i in range(pos, len(lines)) if lines[i].strip() == label)
        starts.append(pos)
        pos += 1
    ends = starts[1:] + [len(lines)]
    texts = {label: "\n".join(lines[a:b]) for label, a, b in zip(labels, starts, ends)}
    texts[""] = "\n".join(lines[:starts[0]])
    return texts


# ---------------------------------------------------------------------------------------------
# the page


@pytest.mark.browser
@pytest.mark.parametrize("name", BUILTIN)
def test_nothing_on_the_page_is_wider_than_the_printable_width(builtin_solution, name):
    from stridelab.report.pdf import measure_print_layout

    _pdf(builtin_solution, name)
    layout = measure_print_layout(builtin_solution(name)[1] / "solution.html")
    assert layout["overflow"] == [], layout["overflow"][:3]
    assert layout["widest"] <= layout["width"] + 0.5


@pytest.mark.browser
def test_every_sheet_prints_its_body_text_at_one_size(builtin_solution):
    from stridelab.report.pdf import body_text_size

    sizes = {name: body_text_size(_pdf(builtin_solution, name)) for name in BUILTIN}
    assert set(sizes.values()) == {10.0}, sizes  # the print stylesheet's 10 pt, at scale 1


@pytest.mark.browser
@pytest.mark.parametrize("name, label", [(name, label) for name in BUILTIN
                                         for label in _labels(name)])
def test_no_markup_source_reaches_the_page(builtin_solution, name, label):
    texts = task_texts(_text(_pdf(builtin_solution, name)), _labels(name))
    found = [text[max(0, m.start() - 30):m.end() + 30] for text in [texts[label]]
             for m in LEAK.finditer(text)]
    assert found == []


@pytest.mark.browser
@pytest.mark.parametrize("name", BUILTIN)
def test_the_title_block_and_the_stand_ins_section_hold_no_markup(builtin_solution, name):
    head = task_texts(_text(_pdf(builtin_solution, name)), _labels(name))[""]
    assert "Contents" in head and "Files the sheet refers to but does not give" in head
    assert LEAK.findall(head) == []


# ---------------------------------------------------------------------------------------------
# the voice


@pytest.mark.parametrize("name", BUILTIN)
def test_the_solution_shows_no_lessons_badges_or_targets_of_its_own(builtin_solution, name):
    code, out = builtin_solution(name)
    assert code == 0
    html = (out / "solution.html").read_text(encoding="utf-8")
    assert 'class="badge' not in html
    for phrase in ("✓ met", "✗ not met", "not judged", "Lessons", "judged by the runner",
                   "The course's target"):
        assert phrase not in html, phrase


@pytest.mark.parametrize("name", BUILTIN)
def test_figures_come_before_the_answer_that_discusses_them(builtin_solution, name):
    html = (builtin_solution(name)[1] / "solution.html").read_text(encoding="utf-8")
    for section in re.findall(r'<section id="task-[^"]*" class="[^"]*task[^"]*">(.*?)</section>',
                              html, re.S):
        for m in re.finditer(r"(figure|graph)s? (above|below)", section):
            figures = [f.start() for f in re.finditer("<figure", section)]
            assert figures, m.group(0)
            if m.group(2) == "above":
                assert min(figures) < m.start(), m.group(0)
            else:
                assert max(figures) > m.start(), m.group(0)


@pytest.mark.browser
@pytest.mark.parametrize("name", BUILTIN)
def test_each_stand_in_is_said_in_each_task_that_uses_it(builtin_solution, name):
    sheet = load_sheet(name)
    texts = task_texts(_text(_pdf(builtin_solution, name)), _labels(name))
    assert sheet.stand_ins
    for stand_in in sheet.stand_ins:
        assert stand_in.tasks, stand_in.file
        for label in stand_in.tasks:
            assert _flat(f"Stand-in for {stand_in.file}") in _flat(texts[label]), label


def test_tu_wien_says_why_its_initial_means_are_not_samples(builtin_solution):
    import json

    code, out = builtin_solution("tuwien-4")
    html = " ".join((out / "solution.html").read_text(encoding="utf-8").split())
    run = next(p for p in (out.parent.parent / "runs").iterdir()
               if p.name.startswith("kmeans-steps"))
    metrics = json.loads((run / "metrics.json").read_text())
    if metrics["init_from_samples"]:
        assert "The three initial means are samples picked from the region" in html
    else:
        assert "The stand-in blobs have no point in the region" in html
        assert f"their largest x₀ is {metrics['data_x0_max']:.2f}" in html


# ---------------------------------------------------------------------------------------------
# the hand-in


def test_yale_hands_in_under_the_names_it_asks_for(builtin_solution):
    code, out = builtin_solution("yale-663-2")
    assert code == 0
    names = {p.name for p in (out / "hand-in").iterdir()}
    assert {"mnist_ae.pt", "mnist_ae.pt2", "mnist_cae.pt", "mnist-cae-skip.pt"} <= names
    if _chromium():
        assert "452_riddletm_assignment2.pdf" in names
    assert not list((out / "hand-in").glob("solution.*"))


@pytest.mark.browser
def test_rptu_hands_in_one_zip_with_the_group_on_the_pdf(builtin_solution):
    pdf = _pdf(builtin_solution, "rptu-2")
    out = pdf.parent.parent
    with zipfile.ZipFile(out / "exercise2_group7.zip") as zf:
        # the whole folder: the PDF, the code (the programs of 2.1 iv), 2.4 and 2.5) and the
        # notebook with what it reads
        folder = out / "hand-in"
        assert zf.namelist() == [p.relative_to(folder).as_posix()
                                 for p in sorted(folder.rglob("*")) if p.is_file()]
        assert {"exercise2_group7.pdf", "exercise2_group7.ipynb", "cifar10.py", "cnn_vs_mlp.py",
                "depthwise_separable.py"} <= set(zf.namelist())
        assert zf.read("exercise2_group7.pdf") == pdf.read_bytes()
    first = _flat(_text(pdf)[:3000])
    assert "group 7" in first
    assert "Riddle, Tom Marvolo, matriculation number 123456" in first
    assert "Granger, Hermione Jean, matriculation number 234567" in first


@pytest.mark.browser
def test_without_a_name_the_title_block_says_so(builtin_solution):
    text = _flat(_text(_pdf(builtin_solution, "tue-4"))[:3000])
    assert "[not given: solve with --student" in text and "student number" in text
