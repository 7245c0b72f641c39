"""What a worked answer's Markdown (the form a solution's HTML and PDF print) may contain.

For every command, every derive topic and every worked task of the built-in sheets:

- the typeset form only: no "Plain text" block beside it (the terminal's text is rendered
  from the typeset form);
- no SymPy repr (``Matrix([[``) and no SymPy ``*`` product in the text, no LaTeX command
  (``\\frac``, ``\\partial``, ``\\hat`` …) outside ``$…$``;
- no display line wider than a printed page: the longest line of each ``$$…$$`` block, as
  ``latex_to_text`` lays it out, has at most ``equations.WIDTH`` (72) characters. KaTeX prints
  a character of that layout at most 2.34 mm wide at 11 pt, so 72 fit the 170 mm of an A4
  page's printable width (see ``stridelab.worked.equations``).
"""

import json
import re
import unicodedata
from pathlib import Path

import pytest
import tomllib

import stridelab
from stridelab.worked._render import latex_to_text
from stridelab.worked.commands import answer
from stridelab.worked.derive import TOPICS
from stridelab.worked.equations import WIDTH

pytest.importorskip("sympy")
pytest.importorskip("torch")

BUILTIN = Path(stridelab.__file__).parent / "sheets" / "builtin"

_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$")
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)


def prose(markdown: str) -> str:
    """The Markdown with its formulas and code taken out: what is printed as text."""
    text = _CODE.sub(" ", markdown)
    text = _DISPLAY.sub(" ", text)
    return _INLINE.sub(" ", text)


def widest_display(markdown: str) -> tuple[int, str]:
    """(characters, LaTeX) of the widest line of any display formula in ``markdown``."""
    widest = (0, "")
    for tex in _DISPLAY.findall(markdown):
        for line in latex_to_text(tex, display=True).split("\n"):
            n = sum(not unicodedata.combining(ch) for ch in line)
            widest = max(widest, (n, tex[:200]))
    return widest


def assert_printable(markdown: str, label: str) -> None:
    assert "Plain text" not in markdown and "```text" not in markdown, label
    assert "Matrix(" not in markdown, label
    text = prose(markdown)
    assert not re.search(r"\\[A-Za-z]+", text), (label, re.findall(r".{30}\\[A-Za-z]+.{10}", text))
    assert not re.search(r"[\w)\]}]\*(?!\*)[\w(]", text.replace("**", "")), label  # a*b
    assert not re.search(r"[_^]\{", text), (label, re.findall(r".{20}[_^]\{.{10}", text))
    width, tex = widest_display(markdown)
    assert width <= WIDTH, f"{label}: a display line of {width} characters: {tex}"


# ---------------------------------------------------------------- every command and topic

MAZUR = {"layers": [{"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35], "activation": "sigmoid"},
                    {"W": [[0.4, 0.45], [0.5, 0.55]], "b": [0.6, 0.6], "activation": "sigmoid"}],
         "loss": "sse_half", "lr": 0.5, "data": [{"x": [0.05, 0.1], "y": [0.01, 0.99]}]}
WIDE = {"layers": [{"W": [[0.1 * (i - j) for j in range(7)] for i in range(6)],
                    "b": [0.05] * 6, "activation": "tanh"},
                   {"W": [[0.2, -0.1, 0.3, 0.25, -0.2, 0.15]] * 3, "activation": "softmax"}],
        "loss": "cross_entropy", "lr": 0.123456,
        "data": [{"x": [0.5, -1.25, 2, 0.75, -0.5, 1, 0.3], "y": [0.2, 0.5, 0.3]},
                 {"x": [1, 0, -1, 0.25, 0.5, -0.75, 2], "y": [0, 0, 1]}], "mode": "batch"}
CHAIN = {"layers": [{"W": [[1]], "activation": "relu"}, {"W": [[2]], "activation": "relu"}],
         "loss": "sse_half", "lr": 0.1, "data": [{"x": [1], "y": [2]}, {"x": [2], "y": [3]}]}
GRID = "; ".join(" ".join(str((3 * r + 5 * c) % 11 - 5) for c in range(12)) for r in range(9))

CASES = {
    "conv same explain all": ("conv", ["--input", "8 2 9 8 3; 3 4 6 2 7; 5 9 3 9 7; 6 1 3 6 8",
                                       "--kernel", "sobel_x", "--kernel", "laplace8",
                                       "--padding", "same", "--explain", "--one-based"]),
    "conv 12 columns gaussian": ("conv", ["--input", GRID, "--kernel", "gaussian5",
                                          "--padding", "same", "--explain", "0,0;4,6"]),
    "conv channels": ("conv", ["--input", "1 2 3; 4 5 6; 7 8 9 | 9 8 7; 6 5 4; 3 2 1 | 1 0 1; 0 1 0; "
                                          "1 0 1", "--kernel", "box3", "--padding", "1",
                               "--explain", "1,1", "--bias=-0.5", "--activation", "sigmoid"]),
    "conv 1-d layer": ("conv", ["--input", "3 1 4 1 5 9 2 6 5 3 5 8", "--kernel", "1 0 -1",
                                "--kernel", "0.25 0.5 0.25", "--bias=0.125,-1", "--activation",
                                "tanh", "--stride", "2", "--explain"]),
    "conv channels first": ("conv", ["--input", "3 1 4 1 5 9; 2 7 1 8 2 8", "--channels-first",
                                     "--kernel", "1 0 -1; 0.5 0.5 0.5", "--explain", "0;2"]),
    "conv convolve check": ("conv", ["--input", "8 2 9; 3 4 6; 5 9 3", "--kernel", "1 2; 3 4",
                                     "--mode", "convolve", "--check", "1 2; 3 4"]),
    "conv check shape": ("conv", ["--input", "8 2 9; 3 4 6; 5 9 3", "--kernel", "sobel_x",
                                  "--padding", "same", "--check", "-5"]),
    "shape chain": ("shape", ["--input", "32x32x3", "conv:k=3,p=same,n=16", "relu",
                              "dwsep:k=3,n=32", "pool:k=2", "conv:k=5,s=2,p=1", "gap",
                              "dense:n=10", "--check", "4x4x32,params=1000"]),
    "shape upsample": ("shape", ["--input", "2", "dense:n=392", "reshape:7x7x8", "upsample:f=2",
                                 "conv:k=3,p=1,n=4", "flatten"]),
    "backprop mazur": ("backprop", [json.dumps(MAZUR), "--check", json.dumps(
        {"layers": [{"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35]},
                    {"W": [[0.36, 0.41], [0.51, 0.56]], "b": [0.6, 0.6]}]})]),
    "backprop wide batch": ("backprop", [json.dumps(WIDE), "--digits", "8"]),
    "backprop chain": ("backprop", [json.dumps({**CHAIN, "steps": 4}), "--full"]),
}
for topic in TOPICS:
    CASES[f"derive {topic}"] = ("derive", [topic, "--points", "1"])
CASES |= {
    "derive jacobian values": ("derive", ["softmax-jacobian", "--z", "1 2 3 0.5 -1 2"]),
    "derive jacobian float": ("derive", ["softmax-jacobian", "--z", " ".join(str(k / 3)[:8]
                                                                           for k in range(12))]),
    "derive softmax ce": ("derive", ["softmax-cross-entropy", "--z", "1 2 3 4 5", "--y",
                                     "0.1 0.2 0.3 0.2 0.1"]),
    "derive sigmoid ce": ("derive", ["sigmoid-cross-entropy", "--z", "-3 0.5 2 7", "--y",
                                     "0 0.25 1 1"]),
    "derive minimum": ("derive", ["cross-entropy-minimum", "--y", "0 0.3 0.5 0.999 1"]),
    "derive swapped": ("derive", ["cross-entropy-swapped", "--a", "0.7", "--y", "0.3 0.5"]),
    "derive name": ("derive", ["softmax-name", "--z", "1 3 3 -2 0.5"]),
    "derive ridge": ("derive", ["ridge", "--X", "1 2 3; 4 5 6; 7 8 10; 2 1 0", "--y",
                                "1 2 2 3", "--lam", "0.1"]),
    "derive ridge float": ("derive", ["ridge", "--X", "; ".join(" ".join(str((r * 7 + c * 3) % 10)
                                                                         for c in range(10))
                                                                for r in range(14)),
                                      "--y", " ".join(str(r % 4) for r in range(14)),
                                      "--lam", "0.05"]),
    "derive conv1d": ("derive", ["conv1d", "--x", "3 1 4 1 5 9 2 6", "--w", "1 0 -1", "--b",
                                 "0.5", "--y", "0 1 0 1 0 1", "--stride", "1"]),
    "derive conv1d no y": ("derive", ["conv1d", "--x", "3 1 4 1 5 9 2 6 5 3", "--w", "1 -2 1"]),
    "derive conv1d channels": ("derive", ["conv1d", "--x", "1 2 3 4 5 6; 6 5 4 3 2 1", "--w",
                                          "1 -1; 0.5 0.5", "--y", "0 1 0", "--stride", "2",
                                          "--activation", "sigmoid"]),
    "derive conv2d": ("derive", ["conv2d", "--x", "1 2 3 4; 5 6 7 8; 9 10 11 12; 13 14 15 16",
                                 "--w", "1 0; 0 -1", "--y", "0 1 0; 1 0 1; 0 1 0"]),
}


@pytest.mark.parametrize("label", list(CASES))
def test_every_command_prints_for_a_page(label):
    command, argv = CASES[label]
    assert_printable(answer(command, argv).to_markdown(), label)


# ---------------------------------------------------------------- the built-in sheets


def _sheet_tasks():
    for path in sorted(BUILTIN.glob("*.toml")):
        with open(path, "rb") as fh:
            sheet = tomllib.load(fh)
        for task in sheet.get("task", []):
            if task.get("kind") == "worked":
                yield f"{path.stem} {task.get('label')}", task


SHEET_TASKS = dict(_sheet_tasks())


def test_the_built_in_sheets_have_worked_tasks():
    assert len({label.split()[0] for label in SHEET_TASKS}) == 5 and len(SHEET_TASKS) >= 25


@pytest.mark.parametrize("label", list(SHEET_TASKS))
def test_every_worked_task_of_the_built_in_sheets_prints_for_a_page(label, tmp_path):
    task = SHEET_TASKS[label]
    argv = [str(tmp_path / a) if a.endswith((".png", ".svg")) else a for a in task.get("args", [])]
    if "spec" in task:
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps(task["spec"]))
        argv = [str(spec)] + argv
    assert_printable(answer(task["command"], argv).to_markdown(), label)


# ---------------------------------------------------------------- the checker itself


def test_the_checks_catch_what_they_are_for():
    wide = "$$" + " + ".join(["(0.450166)\\cdot (0.593270)"] * 4) + "$$"
    assert widest_display(wide)[0] > WIDTH
    with pytest.raises(AssertionError, match="display line"):
        assert_printable(wide, "wide")
    for leak in ("J = Matrix([[1, 2]])", r"with \partial J", "y = y_hat*(1 - y_hat)",
                 "x_{k+m} in text", "**Plain text**"):
        with pytest.raises(AssertionError):
            assert_printable(f"A sentence {leak}.", leak)
    assert_printable(r"Fine: $\frac{\partial J}{\partial w}$ and **bold** and `a*b`.", "ok")
