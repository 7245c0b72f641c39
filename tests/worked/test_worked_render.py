"""The terminal form of worked answers: LaTeX laid out as Unicode text, Markdown wrapped."""

import argparse
import io

import pytest

from stridelab.worked._render import (
    chosen_format,
    latex_to_text,
    markdown_to_latex,
    markdown_to_text,
)


@pytest.mark.parametrize("tex, text", [
    (r"w_m x_{k+m}", "wₘ xₖ₊ₘ"),
    (r"x^{2} + e^{-z}", "x² + e⁻ᶻ"),
    (r"y_{q}", "y_q"),                      # no Unicode subscript q: spelled out
    (r"a^{(l)}_{ij}", "a⁽ˡ⁾ᵢⱼ"),
    (r"\frac{1}{2}", "1/2"),
    (r"\frac{a+b}{2}", "(a+b)/2"),
    (r"2\cdot 3 = 6", "2·3 = 6"),
    (r"\hat y - y", "ŷ - y"),
    (r"\sigma'(z) \le \frac{1}{4}", "σ′(z) ≤ 1/4"),
    (r"\left\lfloor \frac{7 - 3}{2} \right\rfloor + 1", "⌊ (7 - 3)/2 ⌋ + 1"),
    (r"X^\top X + \lambda I", "Xᵀ X + λ I"),
    (r"\mathbb{R}^{n\times d}", "ℝ^(n×d)"),
    (r"\text{relu}(z) \in \{0, 1\}", "relu(z) ∈ {0, 1}"),
    (r"\underline{0}", "0\u0332"),
])
def test_inline_latex(tex, text):
    assert latex_to_text(tex) == text


def test_display_matrix_is_aligned_with_its_name_on_the_middle_row():
    tex = r"Y = \begin{bmatrix} 1 & -2 \\ 30 & 4 \\ 5 & 6 \end{bmatrix}"
    assert latex_to_text(tex, display=True).split("\n") == [
        "    ⎡  1  -2 ⎤",
        "Y = ⎢ 30   4 ⎥",
        "    ⎣  5   6 ⎦",
    ]


def test_one_row_matrix_stays_on_one_line():
    assert latex_to_text(r"b = \begin{bmatrix} 0 & 1 \end{bmatrix}", display=True) == "b = [0  1]"


def test_display_fraction_is_stacked():
    assert latex_to_text(r"\frac{\partial L}{\partial w}", display=True).split("\n") == [
        "∂L", "──", "∂w"]


def test_markdown_to_text_leaves_no_latex_and_wraps():
    md = ("## A heading\n\nA long paragraph " + "with words " * 30 + "and $x_1$.\n\n"
          "$$K = \\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}$$\n\n"
          "| a | b |\n|---|---|\n| $x^2$ | 4 |\n")
    text = markdown_to_text(md, width=60)
    assert "\\begin" not in text and "$" not in text and "**" not in text
    lines = text.split("\n")
    assert lines[0] == "A heading" and set(lines[1]) == {"═"}
    assert all(len(line) <= 60 for line in lines)
    assert "x₁." in text
    assert "a  │ b" in text and "x² │ 4" in text


def test_wide_table_is_stacked_into_blocks():
    md = "| name | formula |\n|---|---|\n| conv | " + "a + " * 40 + "b |\n"
    text = markdown_to_text(md, width=50)
    assert "   name: conv" in text
    assert all(len(line) <= 50 for line in text.split("\n"))


def test_markdown_to_latex_collects_display_formulas():
    assert markdown_to_latex("text $$a = 1$$ more $$b$$") == "$$a = 1$$\n$$b$$"
    assert markdown_to_latex("no formulas") is None


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


@pytest.mark.parametrize("fmt, json_flag, tty, expected", [
    (None, False, True, "text"),       # a terminal gets the rendered text
    (None, False, False, "markdown"),  # a pipe keeps Markdown
    ("html", False, True, "html"),
    (None, True, True, "json"),        # --json stays
])
def test_chosen_format(fmt, json_flag, tty, expected):
    args = argparse.Namespace(format=fmt, json=json_flag)
    assert chosen_format(args, _Stream(tty)) == expected
