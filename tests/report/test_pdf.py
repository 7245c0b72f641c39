"""print_pdf: the page printed by headless Chromium after KaTeX has typeset it, read back with
pypdf: the text holds the titles, a formula and the footer's page numbers, and no figure is
split across pages."""

import io
import shutil

import matplotlib.pyplot as plt
import pytest

from stridelab.report.pdf import find_chromium, print_pdf
from stridelab.report.render import Figure, Section, render_document, write_document

pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed")

LOREM = " ".join(["Every word of this paragraph is filler for the layout test."] * 45)


def _chromium_or_skip():
    browser, driver = find_chromium()
    if not (browser and driver):
        pytest.skip("Chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed")


def _png(width_in, height_in, dpi) -> bytes:
    fig, ax = plt.subplots(figsize=(width_in, height_in))
    ax.plot([0, 1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def _images_per_page(reader):
    """For each page, the (width, height) of every image it draws (id of the image object)."""
    pages = []
    for page in reader.pages:
        xobjects = page["/Resources"].get("/XObject") or {}
        found = {}
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found[ref.idnum] = (int(obj["/Width"]), int(obj["/Height"]))
        pages.append(found)
    return pages


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    _chromium_or_skip()
    root = tmp_path_factory.mktemp("pdf")
    # a 4x3 figure after two pages of text, and a figure 16 times as tall as wide: taller than
    # any A4 page at the text width, so it is split unless the stylesheet scales it to fit
    medium, tall = _png(4, 3, 50), _png(2, 32, 20)
    sections = [
        Section("Task 2.1 the ReLU unit", markdown="The unit computes "
                "$\\operatorname{relu}(x) = \\max(0, x)$.\n\n$$\\frac{a}{b}$$\n\n" + LOREM
                + "\n\n" + LOREM, badge="met", badge_kind="ok"),
        Section("Task 2.2 a medium figure", figures=[Figure(root / "m.png", "medium caption",
                                                            data=medium)]),
        Section("Task 2.3 a tall figure", level=3,
                figures=[Figure(root / "t.png", "tall caption", data=tall)]),
    ]
    html_path = write_document(root / "doc.html",
                               render_document("Solution sheet 4", sections, subtitle="quick",
                                               meta=[("course", "test course")]))
    reason = print_pdf(html_path, root / "doc.pdf", timeout=60, footer="Solution sheet 4")
    assert reason is None, reason
    return pypdf.PdfReader(root / "doc.pdf"), (medium, tall)


@pytest.mark.browser
def test_pdf_has_titles_formula_and_page_numbers(printed):
    reader, _ = printed
    n = len(reader.pages)
    assert n >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Solution sheet 4" in text and "Task 2.1 the ReLU unit" in text
    assert "relu" in text and "max" in text  # the formula, typeset
    assert "\\operatorname" not in text and "$" not in text  # not left as TeX source
    for i, page in enumerate(reader.pages, start=1):
        assert f"page {i} of {n}" in page.extract_text()


@pytest.mark.browser
def test_no_figure_is_split_across_pages(printed):
    reader, (medium, tall) = printed
    pages = _images_per_page(reader)
    sizes = {}
    for number, found in enumerate(pages):
        for idnum, size in found.items():
            sizes.setdefault((idnum, size), []).append(number)
    assert len(sizes) == 2, sizes
    for (_, size), on_pages in sizes.items():
        assert len(on_pages) == 1, f"image {size} drawn on pages {on_pages}"
        # its caption is on the same page
        caption = "tall caption" if size[1] > size[0] else "medium caption"
        assert caption in reader.pages[on_pages[0]].extract_text()


@pytest.mark.browser
def test_a_page_that_never_finishes_typesetting_gives_a_reason(tmp_path):
    _chromium_or_skip()
    html_path = tmp_path / "stuck.html"
    html_path.write_text("<!DOCTYPE html><html><body><p>no done marker</p></body></html>")
    reason = print_pdf(html_path, tmp_path / "stuck.pdf", timeout=2)
    assert reason == "the page did not finish typesetting within 2 s"
    assert "\n" not in reason
    assert not (tmp_path / "stuck.pdf").exists()


def test_without_chromium_the_reason_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("STRIDELAB_CHROMIUM", raising=False)
    html_path = write_document(tmp_path / "doc.html", render_document("T", []))
    reason = print_pdf(html_path, tmp_path / "doc.pdf")
    assert reason == "Chromium not found"  # the caller says where its page is and what to do
    assert not (tmp_path / "doc.pdf").exists()


def test_without_chromedriver_the_reason_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("STRIDELAB_CHROMEDRIVER", raising=False)
    html_path = write_document(tmp_path / "doc.html", render_document("T", []))
    reason = print_pdf(html_path, tmp_path / "doc.pdf", browser=shutil.__file__)
    assert reason == "chromedriver not found"
