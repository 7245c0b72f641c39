"""The renderer: sections, figures, Markdown with math, the title block and the print stylesheet."""

import base64
import re
from html.parser import HTMLParser

from stridelab.report.render import (
    Figure,
    Section,
    image_mime,
    markdown_to_html,
    read_image,
    render_document,
    write_document,
)

PNG = base64.b64decode(  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'


class _Tree(HTMLParser):
    """The ids of the <section> elements, each with the ids of the sections that enclose it."""

    def __init__(self):
        super().__init__()
        self.stack, self.parents, self.tags = [], {}, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "section":
            sid = dict(attrs)["id"]
            self.parents[sid] = list(self.stack)
            self.stack.append(sid)

    def handle_endtag(self, tag):
        if tag == "section":
            self.stack.pop()


def _tree(page):
    tree = _Tree()
    tree.feed(page)
    return tree


def test_math_survives_markdown_and_code_stays_code():
    out = markdown_to_html("Cost $x_1 = \\frac{a}{b}$, "
                           "$$Y = \\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}$$ "
                           "for $5 only, `inline $a$ code`.\n\n```text\nplain $b$\n```")
    assert '<span class="math" data-display="0">x_1 = \\frac{a}{b}</span>' in out
    assert "1 &amp; 2 \\\\ 3 &amp; 4" in out  # the row break is not eaten by Markdown
    assert "$5 only" in out  # a lone dollar is not math
    assert "<code>inline $a$ code</code>" in out  # math signs inside code are left alone
    assert "plain $b$" in out


def test_markdown_escapes_raw_html_and_shows_only_inline_images():
    out = markdown_to_html('<script>alert(1)</script>\n\n<img src="x" onerror="y">\n\n'
                           "![a secret](../../secret.png) ![dot](data:image/png;base64,AAAA)"
                           "\n\n| a | b |\n|---|---|\n| 1 | $x^2$ |")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<img src=\"x\"" not in out
    assert "../../secret.png" not in out
    assert "[image not shown: a secret]" in out
    assert '<img src="data:image/png;base64,AAAA" alt="dot" />' in out
    assert "<table>" in out and '<span class="math" data-display="0">x^2</span>' in out


def test_document_title_block_sections_badges_and_order(tmp_path):
    fig_path = tmp_path / "dot.png"
    fig_path.write_bytes(PNG)
    page = render_document(
        "Sheet $4$", [
            Section("Task 2.1 i) $3\\times 3$ filter", markdown="First **body**.",
                    figures=[Figure(fig_path, "a dot")], badge="met", badge_kind="ok",
                    html="<table id='after'></table>", html_before="<p id='before'></p>"),
            Section("Task 2.1 i) $3\\times 3$ filter", markdown="same title", level=3),
            Section("Other", anchor="custom", badge="odd", badge_kind="nonsense"),
        ], subtitle="Model answers", meta=[("course", "Deep Learning <1>"), ("date", "2026")])
    assert '<h1>Sheet <span class="math" data-display="0">4</span></h1>' in page
    assert '<p class="subtitle">Model answers</p>' in page
    assert "<tr><th>course</th><td>Deep Learning &lt;1&gt;</td></tr>" in page
    # anchors from titles, made unique; an explicit anchor is kept
    tree = _tree(page)
    assert list(tree.parents) == ["task-2-1-i-filter", "task-2-1-i-filter-2", "custom"]
    assert tree.parents["task-2-1-i-filter-2"] == ["task-2-1-i-filter"]  # h3 nests in its h2
    assert tree.parents["custom"] == []
    assert '<span class="badge ok">met</span>' in page
    assert '<span class="badge info">odd</span>' in page  # an unknown kind falls back to info
    # body order: html_before, Markdown, figures, html
    body = page[page.index('id="task-2-1-i-filter"'):]
    positions = [body.index(s) for s in ("id='before'", "<strong>body</strong>",
                                         "data:image/png;base64,", "id='after'")]
    assert positions == sorted(positions)
    assert base64.b64encode(PNG).decode() in page
    assert '<figcaption>a dot</figcaption>' in page
    # a contents list links every section
    assert '<a href="#custom">Other</a>' in page and '<nav class="toc">' in page
    assert "<details" not in page


def test_document_is_self_contained_and_printable():
    page = render_document("T", [Section("S", markdown="$x$")], toc=False)
    assert '<nav class="toc">' not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "img-src data:" in csp
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r'(?:src|href)="(?!data:|#)', markup)  # nothing loaded from elsewhere
    assert "data-katex-done" in page and "katex.render" in page
    css = page[page.index("<style>"):page.index("</style>")]
    assert "@page{size:A4;margin:" in css
    print_css = css[css.index("@media print"):]
    assert re.search(r"figure,table,pre,[^{]*\{break-inside:avoid", print_css)
    assert re.search(r"h1,h2,h3,h4,h5,h6\{break-after:avoid", print_css)
    assert "figure img{max-height:215mm" in print_css  # a figure fits one A4 page


def test_figures_are_inlined_by_magic_bytes_only(tmp_path):
    (tmp_path / "a.svg").write_bytes(SVG)
    (tmp_path / "b.png").write_bytes(b"not an image at all")
    (tmp_path / "c.png").symlink_to(tmp_path / "a.svg")
    page = render_document("T", [Section("S", figures=[
        Figure(tmp_path / "a.svg", "svg"), Figure(tmp_path / "b.png", "fake"),
        Figure(tmp_path / "c.png", "link"), Figure(tmp_path / "missing.png"),
        Figure(tmp_path / "x", data=PNG)])])
    assert "data:image/svg+xml;base64," + base64.b64encode(SVG).decode() in page
    assert "figure not shown: b.png is not a PNG, JPEG or SVG image" in page
    assert "figure not shown: c.png is a symbolic link; not followed" in page
    assert "figure not shown: missing.png cannot be read" in page
    assert page.count("data:image/") == 2 + page.count("data:image/svg+xml,%3Csvg")


def test_image_mime_and_read_image_limit(tmp_path):
    assert image_mime(PNG) == "image/png"
    assert image_mime(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert image_mime(SVG) == "image/svg+xml"
    assert image_mime(b"<html><svg></svg></html>") is None
    (tmp_path / "p.png").write_bytes(PNG)
    assert read_image(tmp_path / "p.png") == (PNG, "")
    data, why = read_image(tmp_path / "p.png", limit=len(PNG) - 1)
    assert data is None and f"{len(PNG)} bytes" in why


def test_write_document_is_atomic(tmp_path):
    out = write_document(tmp_path / "sub" / "page.html", "<p>x</p>")
    assert out.read_text() == "<p>x</p>"
    assert [p.name for p in out.parent.iterdir()] == ["page.html"]
