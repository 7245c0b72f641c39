"""The one renderer: a self-contained HTML page from titled sections of Markdown, LaTeX and figures.

``stridelab report`` and the solution sheets both build their pages here. A page is a list of
:class:`Section` records (a heading, a Markdown body with ``$...$`` / ``$$...$$`` LaTeX, figures,
and optionally HTML the caller built itself) turned into one HTML file that needs nothing else:
figures are inlined as base64 data URIs, the bundled KaTeX (fonts included, as data URIs) typesets
the formulas when the page loads, and a Content-Security-Policy forbids the page to load anything
that is not inside it. Every section is expanded (no collapsed ``<details>``), so printing the
page, or :func:`stridelab.report.pdf.print_pdf`, gives every answer's text.

Conventions:

- Markdown is CommonMark with tables (markdown-it-py); raw HTML in it is escaped, and an image
  in Markdown is shown only when its source is a ``data:image/`` URI (anything else would make the
  page, or the PDF printed from it, read a file from the reader's disk).
- Math is lifted out before Markdown sees it (Markdown would eat ``\\\\`` and ``_``) and put back
  as ``<span class="math" data-display="0|1">TeX</span>``; code spans and fences are left alone.
- When KaTeX has typeset every formula, the page's fonts and images have loaded, the page sets
  ``data-katex-done="1"`` on ``<html>``; a printer waits for it.
"""

from __future__ import annotations

import base64
import html
import os
import re
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from stridelab.atomic import write_text_atomic

__all__ = ["Figure", "Section", "render_document", "write_document", "markdown_to_html",
           "image_mime", "MAX_IMAGE_BYTES", "BADGE_KINDS"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # an image larger than this is not inlined
BADGE_KINDS = ("ok", "warn", "fail", "info")


@dataclass
class Figure:
    """A figure: an image file inlined as base64, with a caption (plain text, may hold ``$math$``).

    ``data`` may carry the file's bytes already read (and checked) by the caller, so the file is
    not opened a second time; otherwise ``path`` is read (at most :data:`MAX_IMAGE_BYTES`, no
    symbolic link followed). Only PNG, JPEG and SVG, recognised by their first bytes, are inlined;
    anything else is shown as a line saying why it is missing.
    """

    path: Path
    caption: str = ""
    data: bytes | None = None
    alt: str = ""


@dataclass
class Section:
    """One titled part of a page.

    ``level`` 2 is an ``<h2>``, 3 an ``<h3>`` ...; a section of a deeper level is nested inside the
    section before it. The body is ``html_before`` (trusted HTML), then ``markdown``, then the
    figures, then ``markdown_after`` (text that discusses the figures above it), then ``html``
    (trusted HTML appended to the body, e.g. a table the caller built).
    ``badge`` is a short status text beside the title, coloured by ``badge_kind``.
    """

    title: str
    markdown: str = ""
    figures: list[Figure] = field(default_factory=list)
    level: int = 2
    anchor: str = ""
    badge: str | None = None
    badge_kind: str = "info"
    html: str = ""
    html_before: str = ""
    css_class: str = ""  # extra class names on the section element, e.g. "experiment"
    markdown_after: str = ""  # Markdown after the figures


# ---------------------------------------------------------------------------------------------
# Markdown and math

# $$display$$, or $inline$: no space inside either dollar, no digit right after the closing one
# ("$5 and $10" is money), and across a line break but not a blank line (a sheet file wraps its
# answers' lines, formulas included)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)((?:[^$\n]|\n(?![ \t]*\n))+?)(?<!\s)\$(?!\d)",
                   re.S)
_FENCE = re.compile(r"(^ {0,3}(?:```|~~~).*?^ {0,3}(?:```|~~~)[ \t]*$)", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)
_TOKEN = re.compile(r"MATHTOKEN(\d+)END")


def _math_span(tex: str, display: bool) -> str:
    return (f'<span class="math" data-display="{int(display)}">'
            f"{html.escape(tex.strip())}</span>")


def _lift_math(text: str, store: list[str]) -> str:
    """Replace each formula outside code by ``MATHTOKENnEND``; ``store`` collects their HTML."""

    def lift(match: re.Match) -> str:
        display = match.group(1) is not None
        store.append(_math_span(match.group(1) if display else match.group(2), display))
        return f"MATHTOKEN{len(store) - 1}END"

    def outside_spans(piece: str) -> str:
        out, last = [], 0
        for span in _CODE_SPAN.finditer(piece):
            out.append(_MATH.sub(lift, piece[last:span.start()]))
            out.append(span.group(0))
            last = span.end()
        out.append(_MATH.sub(lift, piece[last:]))
        return "".join(out)

    return "".join(p if _FENCE.fullmatch(p) else outside_spans(p) for p in _FENCE.split(text))


def _restore_math(rendered: str, store: list[str]) -> str:
    def put_back(match: re.Match) -> str:
        i = int(match.group(1))
        return store[i] if i < len(store) else match.group(0)

    return _TOKEN.sub(put_back, rendered)


@lru_cache(maxsize=1)
def _markdown_parser():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules.get("image")

    def image(renderer, tokens, idx, options, env):  # bound as a renderer method
        # only images inside the page are shown: a file or URL would be fetched by the reader
        src = tokens[idx].attrGet("src") or ""
        if src.startswith("data:image/") and default_image is not None:
            return default_image(tokens, idx, options, env)
        alt = "".join(t.content for t in (tokens[idx].children or []))
        return f'<span class="image-omitted">[image not shown: {html.escape(alt or src)}]</span>'

    md.add_render_rule("image", image)
    return md


def markdown_to_html(text: str) -> str:
    """Markdown (CommonMark + tables) to HTML, with ``$...$`` and ``$$...$$`` kept for KaTeX.

    Raw HTML in ``text`` is escaped; HTML comments are dropped (authors' notes, not content).
    """
    store: list[str] = []
    text = _lift_math(_COMMENT.sub("", text), store)
    return _restore_math(_markdown_parser().render(text), store)


def inline_text(text: str) -> str:
    """Plain text (a title, a caption, a table cell) escaped, with its ``$math$`` typeset."""
    store: list[str] = []
    lifted = _lift_math(text, store)
    return _restore_math(html.escape(lifted), store)


# ---------------------------------------------------------------------------------------------
# images

def image_mime(data: bytes) -> str | None:
    """The MIME type of an image recognised by its first bytes (PNG, JPEG, SVG), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"<?xml", b"<svg", b"<!--", b"<!DOCTYPE svg")) and b"<svg" in head:
        return "image/svg+xml"
    return None


def read_image(path: Path, limit: int = MAX_IMAGE_BYTES) -> tuple[bytes | None, str]:
    """The bytes of an image file and ``""``, or None and why it cannot be used.

    A symbolic link is not followed, a file over ``limit`` bytes or one that is not a PNG, JPEG
    or SVG by its first bytes is refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if Path(path).is_symlink():
            return None, f"{Path(path).name} is a symbolic link; not followed"
        return None, f"{Path(path).name} cannot be read ({exc.strerror or exc})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, f"{Path(path).name} is not a regular file"
        if info.st_size > limit:
            return None, f"{Path(path).name} is {info.st_size:,} bytes (limit {limit:,})"
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        return None, f"{Path(path).name} is over {limit:,} bytes"
    if image_mime(data) is None:
        return None, f"{Path(path).name} is not a PNG, JPEG or SVG image"
    return data, ""


def _figure_html(fig: Figure) -> str:
    caption = fig.caption or ""
    name = Path(fig.path).name if str(fig.path) else "figure"
    if fig.data is not None:
        data, why = (fig.data, "") if image_mime(fig.data) else (None, f"{name} is not an image")
    else:
        data, why = read_image(Path(fig.path))
    alt = html.escape(fig.alt or caption or name)
    if data is None:
        return f'<p class="figure-missing">figure not shown: {html.escape(why)}</p>'
    uri = f"data:{image_mime(data)};base64," + base64.b64encode(data).decode("ascii")
    figcaption = f"<figcaption>{inline_text(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{alt}">{figcaption}</figure>'


# ---------------------------------------------------------------------------------------------
# assets

@lru_cache(maxsize=1)
def _katex_assets() -> str:
    """KaTeX's stylesheet (fonts inlined as data URIs) and script."""
    root = Path(__file__).with_name("katex")
    css = (root / "katex.min.css").read_text(encoding="utf-8")

    def inline_font(match: re.Match) -> str:
        data = base64.b64encode((root / "fonts" / f"{match.group(1)}.woff2").read_bytes())
        return f'src:url(data:font/woff2;base64,{data.decode("ascii")}) format("woff2")'

    css = re.sub(r'src:url\(fonts/([\w-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) '
                 r'format\("[a-z]+"\))*', inline_font, css)
    js = (root / "katex.min.js").read_text(encoding="utf-8")
    return f"<style>{css}</style>\n<script>{js}</script>"


# Typeset every formula, wait for fonts and images, fit every formula into the width it has, then
# mark the page done for a printer. Fitting: a display formula wider than its column may break
# after a relation or an operator (KaTeX splits a formula into such "bases"), continuation lines
# indented; a piece that still does not fit (a matrix, an aligned block) is set in a smaller font
# size, that formula alone. The page itself is never scaled, so every page prints at one scale.
_ON_LOAD = """<script>
(function () {
  var INDENT = 1.5;  // em: continuation lines of a broken display formula
  function render(el) {
    katex.render(el.dataset.tex, el, {displayMode: el.dataset.display === '1',
                                      throwOnError: false, strict: 'ignore'});
  }
  function typeset() {
    if (!window.katex) { return; }
    document.querySelectorAll('span.math').forEach(function (el) {
      if (el.dataset.tex === undefined) { el.dataset.tex = el.textContent; }
      render(el);
    });
  }
  function block(el) {
    var b = el.parentElement;
    while (b && getComputedStyle(b).display.indexOf('inline') === 0) { b = b.parentElement; }
    return b || document.body;
  }
  function room(b) {
    var cs = getComputedStyle(b);
    return b.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  }
  function pieces(el) {
    return el.querySelectorAll('.katex-html > .base, .katex-html > .mgroup, .katex-html > .tag');
  }
  function widest(el) {
    var w = 0;
    pieces(el).forEach(function (x) { w = Math.max(w, x.getBoundingClientRect().width); });
    return w;
  }
  // glue the bases from one relation to the next into one piece, so that a broken formula
  // breaks after "=" first; a piece wider than the line is unglued again (breaks after + too)
  function glue(el, avail) {
    el.querySelectorAll('.katex-html').forEach(function (line) {
      var group = null;
      Array.prototype.slice.call(line.children).forEach(function (b) {
        if (!b.classList.contains('base')) { group = null; return; }
        if (!group) {
          group = document.createElement('span');
          group.className = 'mgroup';
          line.insertBefore(group, b);
        }
        group.appendChild(b);
        var atoms = Array.prototype.filter.call(b.children, function (c) {
          return !c.classList.contains('mspace');
        });
        var last = atoms[atoms.length - 1];
        if (last && last.classList.contains('mrel')) { group = null; }
      });
    });
    el.querySelectorAll('.mgroup').forEach(function (g) {
      if (g.getBoundingClientRect().width > avail + 0.5) {
        while (g.firstChild) { g.parentNode.insertBefore(g.firstChild, g); }
        g.parentNode.removeChild(g);
      }
    });
  }
  function fitOne(el) {
    if (el.classList.contains('wrap') || el.style.fontSize) {
      el.classList.remove('wrap');
      el.style.fontSize = '';
      render(el);
    }
    var display = el.dataset.display === '1';
    var avail = display ? room(el) : room(block(el));
    if (avail <= 0) { return; }
    if (display) {
      if (el.scrollWidth <= el.clientWidth + 0.5) { return; }
      el.classList.add('wrap');
      avail -= INDENT * parseFloat(getComputedStyle(el).fontSize) * 1.21;
      glue(el, avail);
    }
    var w = widest(el), scale = 1;
    for (var i = 0; i < 8 && w > avail + 0.5; i++) {
      scale *= Math.min(0.98, avail / w);
      el.style.fontSize = scale.toFixed(4) + 'em';
      w = widest(el);
    }
  }
  var fittedAt = null;
  function fit() {
    var width = document.body.clientWidth;
    if (width === fittedAt) { return; }
    fittedAt = width;
    document.querySelectorAll('span.math').forEach(fitOne);
  }
  function start() {
    typeset();
    var images = Array.prototype.map.call(document.images, function (img) {
      return img.decode ? img.decode().catch(function () {}) : Promise.resolve();
    });
    var fonts = document.fonts ? document.fonts.ready : Promise.resolve();
    Promise.all(images.concat([fonts])).then(function () {
      fit();
      window.addEventListener('resize', fit);
      if (window.matchMedia) {
        var print = window.matchMedia('print');
        if (print.addEventListener) { print.addEventListener('change', fit); }
      }
      document.documentElement.setAttribute('data-katex-done', '1');
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
</script>"""

# The page may load nothing from outside itself: no file from the reader's disk, no network.
_CSP = ("default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'")

# an inline icon: a page that asks its server for /favicon.ico logs a 404 in the console
_FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
            "%3Crect width='16' height='16' rx='3' fill='%233b7dd8'/%3E%3Cpath d='M4 4h8v8H4z' "
            "fill='none' stroke='white' stroke-width='1.5'/%3E%3C/svg%3E")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1150px;
margin:2em auto;padding:0 1em;color:#1d2329;line-height:1.5}
header.title h1{margin-bottom:.1em}header.title .subtitle{font-size:1.15em;color:#333;margin:.2em 0}
table.meta{font-size:.9em}table.meta th{background:none;border:none;padding:.1em .8em .1em 0}
table.meta td{border:none;padding:.1em 0}
h2{border-bottom:2px solid #e3e7ec;padding-bottom:.2em;margin-top:2.2em}
h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #d8dde3;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f4f6f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;border:1px solid #e3e7ec}
img{max-width:100%;box-sizing:border-box}table{max-width:100%}td{overflow-wrap:anywhere}
th{overflow-wrap:break-word}table.meta th{white-space:nowrap}pre code{padding:0}
p,li,blockquote{overflow-wrap:break-word}code{overflow-wrap:anywhere}
figcaption{font-size:.9em;color:#555}
.badge{font-size:.6em;padding:.2em .6em;border-radius:.6em;vertical-align:middle;color:#fff;
background:#5a6b7d;white-space:nowrap;font-weight:600}
.badge.ok{background:#2a8a4a}.badge.warn{background:#b07800}.badge.fail{background:#c0392b}
.badge.info{background:#5a6b7d}td .badge{font-size:.8em}
.muted{color:#666}
.desc{color:#444;font-style:italic}
.reason{background:#fff7e0;padding:.5em;border-left:3px solid #b07800}
.damaged{background:#fdecea;padding:.5em;border-left:3px solid #c0392b}
.notes{background:#f6f9fc;border-left:3px solid #3b7dd8;padding:.2em 1em}
.figure-missing,.image-omitted{color:#c0392b;font-style:italic}
pre{background:#f4f6f8;padding:.6em;overflow-x:auto;font-size:.85em}
code{background:#f4f6f8;padding:0 .2em}
nav.toc ol{padding-left:2.6em}nav.toc li{margin:.1em 0}
span.math[data-display="1"]{display:block;overflow-x:auto;margin:.6em 0}
span.math.wrap .katex-display>.katex{white-space:normal;text-align:left;padding-left:1.5em;
text-indent:-1.5em}
span.math.wrap .katex-display>.katex .base{text-indent:0}
span.math.wrap .mgroup{display:inline-block;white-space:nowrap;text-indent:0}
@page{size:A4;margin:16mm 15mm 18mm 15mm}
@media print{
body{max-width:none;margin:0;padding:0;font-size:10pt}
a{color:inherit;text-decoration:none}
h1,h2,h3,h4,h5,h6{break-after:avoid;page-break-after:avoid;break-inside:avoid}
figure,table,pre,.katex-display,span.math[data-display="1"],.reason,.damaged{break-inside:avoid;
page-break-inside:avoid}
figure img{max-height:215mm;width:auto;max-width:100%;object-fit:contain}
pre{white-space:break-spaces;overflow-wrap:anywhere;overflow:visible}
span.math[data-display="1"]{overflow:visible}
section{break-inside:auto}
h2{margin-top:1.4em}
}
"""


# ---------------------------------------------------------------------------------------------
# the page

def _slug(text: str) -> str:
    slug = re.sub(r"[^0-9A-Za-z]+", "-", re.sub(r"\$[^$]*\$", "", text)).strip("-").lower()
    return slug or "section"


def _unique(anchor: str, used: set[str]) -> str:
    candidate, i = anchor, 2
    while candidate in used:
        candidate, i = f"{anchor}-{i}", i + 1
    used.add(candidate)
    return candidate


def _badge(text: str | None, kind: str) -> str:
    if not text:
        return ""
    kind = kind if kind in BADGE_KINDS else "info"
    return f' <span class="badge {kind}">{html.escape(text)}</span>'


def _section_body(section: Section, level: int) -> str:
    parts = [f"<h{level}>{inline_text(section.title)}"
             f"{_badge(section.badge, section.badge_kind)}</h{level}>"]
    if section.html_before:
        parts.append(section.html_before)
    if section.markdown.strip():
        parts.append(markdown_to_html(section.markdown))
    parts.extend(_figure_html(fig) for fig in section.figures)
    if section.markdown_after.strip():
        parts.append(markdown_to_html(section.markdown_after))
    if section.html:
        parts.append(section.html)
    return "\n".join(parts)


def _toc(entries: Sequence[tuple[int, str, str]]) -> str:
    if not entries:
        return ""
    top = min(level for level, _, _ in entries)
    items = []
    for level, anchor, title in entries:
        if level > top + 1:
            continue  # the contents list two levels at most
        cls = ' class="sub"' if level > top else ""
        items.append(f'<li{cls}><a href="#{html.escape(anchor)}">{inline_text(title)}</a></li>')
    return f'<nav class="toc"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


def render_document(title: str, sections: Iterable[Section], *, subtitle: str = "",
                    meta: Sequence[tuple[str, str]] = (), toc: bool = True,
                    lang: str = "en") -> str:
    """A self-contained HTML page.

    Parameters
    ----------
    title, subtitle : plain text (may hold ``$math$``) for the title block.
    sections : the page's :class:`Section` records, in order; a deeper ``level`` nests inside the
        section before it.
    meta : ``(label, value)`` rows of plain text (no math) under the title: course, date ...
    toc : put a table of contents (two levels) after the title block.

    Notes
    -----
    Figures are inlined, the bundled KaTeX is inlined only when some text holds math, KaTeX runs on
    load and then ``data-katex-done="1"`` is set on ``<html>``. The print stylesheet sets A4 pages
    and margins, keeps headings with what follows and never breaks inside a figure, table or
    display formula; a figure is scaled to fit one page.
    """
    sections = list(sections)
    used: set[str] = set()
    anchors = [_unique(s.anchor or _slug(s.title), used) for s in sections]
    body: list[str] = []
    open_levels: list[int] = []
    for section, anchor in zip(sections, anchors):
        level = min(max(int(section.level), 2), 6)
        while open_levels and open_levels[-1] >= level:
            body.append("</section>")
            open_levels.pop()
        classes = " ".join([f"level-{level}"] + section.css_class.split())
        body.append(f'<section id="{html.escape(anchor)}" class="{html.escape(classes)}">')
        body.append(_section_body(section, level))
        open_levels.append(level)
    body.extend("</section>" for _ in open_levels)
    main = "\n".join(body)
    contents = _toc([(min(max(int(s.level), 2), 6), a, s.title)
                     for s, a in zip(sections, anchors)]) if toc else ""
    head_rows = "".join(f"<tr><th>{html.escape(str(label))}</th><td>{html.escape(str(value))}</td>"
                        "</tr>" for label, value in meta)
    title_block = (f'<header class="title"><h1>{inline_text(title)}</h1>'
                   + (f'<p class="subtitle">{inline_text(subtitle)}</p>' if subtitle else "")
                   + (f'<table class="meta">{head_rows}</table>' if head_rows else "")
                   + "</header>")
    has_math = 'class="math"' in main or 'class="math"' in title_block
    katex = _katex_assets() if has_math else ""
    plain_title = re.sub(r"\s+", " ", title).strip()
    return f"""<!DOCTYPE html>
<html lang="{html.escape(lang)}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="stridelab">
<link rel="icon" href="{_FAVICON}">
<title>{html.escape(plain_title)}</title><style>{_CSS}</style></head>
<body>
{title_block}
{contents}
<main>
{main}
</main>
{katex}
{_ON_LOAD}
</body></html>
"""


def write_document(path: str | os.PathLike, html: str) -> Path:
    """Write the page to ``path`` atomically (a temporary file, then a rename); returns the path."""
    return write_text_atomic(path, html)


def generated_stamp() -> str:
    """The local date and time a page is generated, as shown in title blocks."""
    return time.strftime("%Y-%m-%d %H:%M")
