"""Everything on a page fits the printable width, so Chromium never shrinks a page and every
document prints at one scale: a chain of equalities far wider than the page breaks into lines, a
matrix too wide for any line is set smaller on its own, a wide table and long code wrap, and a
list of 24 entries keeps its numbers. Measured in headless Chromium with print media, and read
back from the PDF: its body text is 10 pt, as on a page with nothing wide."""

import io

import matplotlib.pyplot as plt
import pytest

from stridelab.report.pdf import (
    PRINT_WIDTH_PX,
    body_text_size,
    find_chromium,
    measure_print_layout,
    print_pdf,
)
from stridelab.report.render import Figure, Section, render_document, write_document

pytestmark = pytest.mark.browser

# a backprop step as one chain: about three page widths at 10 pt; it ends in a number to find
CHAIN = (r"\delta_1^{(1)} = \left(w_{11}^{(2)}\delta_1^{(2)} + w_{21}^{(2)}\delta_2^{(2)}\right)"
         r"a_1^{(1)}(1 - a_1^{(1)}) = (0.5 \cdot (-0.124258) + 0.2 \cdot 0.147857) \cdot 0.450166"
         r" \cdot (1 - 0.450166) = (-0.0325578) \cdot 0.450166 \cdot (1 - 0.450166) = "
         r"(-0.0325578) \cdot 0.247517 = -0.00805861")
# one piece that no line break can split: 14 columns of six-digit numbers
WIDE_MATRIX = r"W = \begin{bmatrix} " + " & ".join(["0.123456"] * 14) + r" \\ " \
    + " & ".join(["-0.654321"] * 14) + r" \end{bmatrix}"
WIDE_TABLE = "| " + " | ".join(f"`separate.metric_name_{i}`" for i in range(8)) + " |\n" \
    + "|" + "---|" * 8 + "\n| " + " | ".join(f"{0.1 * i:.4f}" for i in range(8)) + " |"
LONG_CODE = "Reused `" + "/".join(["a-very-long-directory-name"] * 8) + "/metrics.json`."
PARAGRAPH = " ".join(["A plain sentence of body text for the measurement of its size."] * 12)


def _chromium_or_skip():
    browser, driver = find_chromium()
    if not (browser and driver):
        pytest.skip("Chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed")


def _wide_png() -> bytes:
    fig, ax = plt.subplots(figsize=(30, 2))
    ax.plot([0, 1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _page(root, name, sections):
    path = write_document(root / f"{name}.html",
                          render_document(f"Sheet {name}", sections, toc=True,
                                          meta=[("data sets", "mnist-5k (sha256 " + "ab" * 32
                                                 + ")")]))
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    _chromium_or_skip()
    root = tmp_path_factory.mktemp("layout")
    wide = [Section(f"Task {i}", markdown=PARAGRAPH) for i in range(1, 22)]
    wide += [
        Section("Task 22 a chain", markdown=f"{PARAGRAPH}\n\n$${CHAIN}$$\n\nInline too: "
                f"${CHAIN}$."),
        Section("Task 23 a matrix", markdown=f"$${WIDE_MATRIX}$$\n\nand inline ${WIDE_MATRIX}$."),
        Section("Task 24 a table and code", markdown=f"{WIDE_TABLE}\n\n{LONG_CODE}\n\n"
                "```text\n" + "x" * 300 + "\n```",
                figures=[Figure(root / "wide.png", "a wide figure", data=_wide_png())]),
    ]
    plain = [Section("Task 1", markdown=PARAGRAPH + "\n\n$$a = b + c$$")]
    out = {}
    for name, sections in (("wide", wide), ("plain", plain)):
        html_path = _page(root, name, sections)
        reason = print_pdf(html_path, root / f"{name}.pdf", timeout=90)
        assert reason is None, reason
        out[name] = (html_path, root / f"{name}.pdf")
    return out


def test_nothing_is_wider_than_the_printable_width(pages):
    html_path, _ = pages["wide"]
    layout = measure_print_layout(html_path, timeout=90)
    assert abs(layout["width"] - int(PRINT_WIDTH_PX)) <= 1
    assert layout["overflow"] == []
    assert layout["widest"] <= layout["width"] + 0.5


def test_the_page_prints_at_full_scale(pages):
    # 10 pt is the print stylesheet's body size: a shrunk page would draw it at about 6.7 pt
    assert body_text_size(pages["wide"][1]) == body_text_size(pages["plain"][1]) == 10.0


def test_the_long_chain_is_printed_whole(pages):
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(str(pages["wide"][1])).pages)
    text = text.replace("−", "-")
    assert "0.00805861" in text  # the chain's last number: nothing cut at the right edge
    assert text.count("0.123456") >= 14  # every column of the matrix
    flat = "".join(text.split())  # a table cell or a long path may wrap anywhere
    assert "separate.metric_name_7" in flat and "directory-name/metrics.json" in flat
    for i in range(1, 25):  # the contents list and the headings
        assert f"Task {i}" in text


def test_a_formula_too_long_for_a_line_breaks_instead_of_shrinking(pages):
    from selenium import webdriver  # noqa: F401 (skips with the fixture when missing)

    from stridelab.report import pdf as pdf_module

    browser, driver = find_chromium()
    html_path, _ = pages["wide"]
    with pdf_module._browser(browser, driver, 60) as drv:
        assert pdf_module._open(drv, html_path, 60)
        lines, sizes = drv.execute_script("""
            var el = document.querySelector('#task-22-a-chain span.math[data-display="1"]');
            var tops = new Set();
            el.querySelectorAll('.katex-html > .base, .katex-html > .mgroup').forEach(
                function (b) { tops.add(Math.round(b.getBoundingClientRect().top)); });
            var m = document.querySelector('#task-23-a-matrix span.math[data-display="1"]');
            return [tops.size, [el.style.fontSize, m.style.fontSize]];
        """)
    assert lines >= 3  # broken after relations, at full size
    assert sizes[0] == ""
    assert sizes[1] and float(sizes[1].rstrip("em")) < 1  # the matrix alone is set smaller
