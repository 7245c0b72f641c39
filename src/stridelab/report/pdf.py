"""Print a page made by :func:`stridelab.report.render.render_document` to PDF with Chromium.

The system Chromium runs headless under chromedriver (Selenium) with print media emulated at the
printable width of an A4 page, opens the HTML file, waits until the page's script has typeset
every formula, loaded its fonts and images and fitted each formula into that width (it sets
``data-katex-done`` on ``<html>``), and prints through the DevTools command ``Page.printToPDF``
at scale 1: A4, backgrounds printed, the page's own print stylesheet and margins, and a footer
"page N of M". Nothing on the page is wider than the printable width, so Chromium never shrinks
a page to fit it, and every document prints at one scale.

:func:`measure_print_layout` opens a page the same way and measures what is wider than the
printable width; :func:`body_text_size` reads back the size the body text was printed in.

Nothing here needs the network; the flags below keep Chromium from trying to reach it (without
them it stalls on a machine that has none).
"""

from __future__ import annotations

import base64
import contextlib
import html
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stridelab.atomic import write_bytes_atomic

__all__ = ["print_pdf", "measure_print_layout", "body_text_size", "find_chromium",
           "CHROMIUM_FLAGS", "PRINT_WIDTH_PX"]

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--disable-extensions", "--hide-scrollbars", "--mute-audio")

_A4_INCHES = (8.27, 11.69)
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> tuple[str | None, str | None]:
    """Paths of the Chromium binary and of chromedriver on ``PATH`` (None for each one missing).

    ``STRIDELAB_CHROMIUM`` and ``STRIDELAB_CHROMEDRIVER`` name other binaries.
    """
    browser = os.environ.get("STRIDELAB_CHROMIUM") or next(
        (p for p in map(shutil.which, _BROWSERS) if p), None)
    driver = os.environ.get("STRIDELAB_CHROMEDRIVER") or shutil.which("chromedriver")
    return browser, driver


def _footer(text: str) -> str:
    label = f"{html.escape(text)} · " if text else ""
    return ('<div style="font-size:8px;width:100%;text-align:center;color:#555;'
            'font-family:sans-serif;">'
            f'{label}page <span class="pageNumber"></span> of <span class="totalPages"></span>'
            "</div>")


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "msg", None) or exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


# The printable width of an A4 page with the stylesheet's @page margins (15 mm left and right),
# in CSS pixels (96 per inch): the page is laid out at this width before it is printed, so the
# formulas are fitted to the width they will have on paper.
PRINT_WIDTH_PX = (210 - 15 - 15) / 25.4 * 96  # 680.3


@contextlib.contextmanager
def _browser(browser: str, driver: str, timeout: float) -> Iterator[Any]:
    """A headless Chromium under chromedriver with print media emulated at the printable width."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="stridelab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    drv = None
    try:
        drv = webdriver.Chrome(options=options, service=Service(driver))
        drv.set_page_load_timeout(timeout)
        drv.set_script_timeout(timeout)
        drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": int(PRINT_WIDTH_PX), "height": 1100, "deviceScaleFactor": 1,
            "mobile": False})
        yield drv
    finally:
        if drv is not None:
            try:
                drv.quit()
            except Exception:  # noqa: BLE001 (the PDF is written; a stuck browser must not undo it)
                pass
        shutil.rmtree(profile, ignore_errors=True)


def _open(drv: Any, html_path: Path, timeout: float) -> bool:
    """Load the page and wait until it has typeset and fitted its formulas (False: timed out)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get(html_path.resolve().as_uri())
    try:
        WebDriverWait(drv, timeout, poll_frequency=0.1).until(
            lambda d: d.execute_script(
                "return document.documentElement.getAttribute('data-katex-done')") == "1")
    except TimeoutException:
        return False
    return True


def _missing(browser: str | None, driver: str | None) -> str | None:
    if not browser or not Path(browser).exists():
        return "Chromium not found"
    if not driver or not Path(driver).exists():
        return "chromedriver not found"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


def print_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike, *,
              timeout: float = 120, footer: str = "", browser: str | None = None,
              driver: str | None = None) -> str | None:
    """Print ``html_path`` to ``pdf_path`` (atomically) once KaTeX has typeset the page.

    The page is laid out with print media at the printable width of A4 (:data:`PRINT_WIDTH_PX`)
    so that its script fits every formula into that width, then printed at scale 1 with the
    page's own ``@page`` size and margins, backgrounds, and a footer "page N of M" (preceded by
    ``footer`` when given). ``timeout`` bounds, in seconds, the page load and the wait for the
    typesetting. ``browser`` and ``driver`` default to :func:`find_chromium`.

    Returns None on success, or a short reason why no PDF was written (Chromium, chromedriver or
    selenium missing, the page never finished typesetting, printing failed); ``pdf_path`` is then
    left as it was. The reason names no path: the caller knows where the page is.
    """
    html_path, pdf_path = Path(html_path), Path(pdf_path)
    found_browser, found_driver = find_chromium()
    browser, driver = browser or found_browser, driver or found_driver
    missing = _missing(browser, driver)
    if missing:
        return missing
    if not html_path.is_file():
        return f"{html_path.name}: no such file to print"
    from selenium.common.exceptions import WebDriverException

    try:
        with _browser(browser, driver, timeout) as drv:  # type: ignore[arg-type]
            if not _open(drv, html_path, timeout):
                return f"the page did not finish typesetting within {timeout:g} s"
            result = drv.execute_cdp_cmd("Page.printToPDF", {
                "printBackground": True, "preferCSSPageSize": True, "scale": 1,
                "paperWidth": _A4_INCHES[0], "paperHeight": _A4_INCHES[1],
                "displayHeaderFooter": True, "headerTemplate": "<span></span>",
                "footerTemplate": _footer(footer),
            })
            data = base64.b64decode(result["data"])
            if not data.startswith(b"%PDF-"):
                return "Chromium returned no PDF"
            write_bytes_atomic(pdf_path, data)
            return None
    except (WebDriverException, OSError, KeyError, ValueError) as exc:
        # KeyError/ValueError: a DevTools answer without (valid base64) data
        return f"printing failed ({_one_line(exc)})"


# every element of the page whose box reaches past the body's right edge (or starts left of it) by
# more than half a pixel, outermost first; not the formulas' hidden MathML copies, nor the shapes
# inside an SVG (KaTeX draws stretchy symbols as wide paths that their svg element clips)
_OVERFLOW_JS = """
var body = document.body.getBoundingClientRect(), found = [];
document.querySelectorAll('body *').forEach(function (el) {
  if (el.closest('.katex-mathml') || el.tagName === 'SCRIPT' || el.tagName === 'STYLE') { return; }
  if (el instanceof SVGElement && el.tagName.toLowerCase() !== 'svg') { return; }  // clipped by its svg
  var r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) { return; }
  if (r.right > body.right + 0.5 || r.left < body.left - 0.5) {
    var parent = el.parentElement, outer = true;
    for (var p = parent; p; p = p.parentElement) {
      if (found.some(function (f) { return f.el === p; })) { outer = false; break; }
    }
    if (outer) { found.push({el: el, width: r.right - body.left}); }
  }
});
return {width: body.width, overflow: found.map(function (f) {
  return {tag: f.el.tagName.toLowerCase(), cls: String(f.el.className || ''),
          width: f.width, text: (f.el.textContent || '').replace(/\\s+/g, ' ').slice(0, 120)};
})};
"""


def measure_print_layout(html_path: str | os.PathLike, *, timeout: float = 120,
                         browser: str | None = None, driver: str | None = None) -> dict:
    """How ``html_path`` lays out on paper: the printable width and every element wider.

    The page is opened as :func:`print_pdf` opens it (print media, the printable width of A4,
    formulas typeset and fitted) and every element is measured. Returns ``{"width": px,
    "overflow": [{"tag", "cls", "width", "text"}, ...]}`` with the outermost elements whose box
    reaches past the printable width (their right edge, in px from the body's left edge), and
    ``"widest"``: the right edge of the widest visible element. Raises RuntimeError when Chromium
    is missing or the page does not finish typesetting.
    """
    html_path = Path(html_path)
    found_browser, found_driver = find_chromium()
    browser, driver = browser or found_browser, driver or found_driver
    missing = _missing(browser, driver)
    if missing:
        raise RuntimeError(missing)
    with _browser(browser, driver, timeout) as drv:  # type: ignore[arg-type]
        if not _open(drv, html_path, timeout):
            raise RuntimeError(f"{html_path.name} did not finish typesetting within {timeout:g} s")
        result = drv.execute_script(_OVERFLOW_JS)
        result["widest"] = drv.execute_script(
            "var b = document.body.getBoundingClientRect(), w = 0;"
            "document.querySelectorAll('body *').forEach(function (el) {"
            "  if (el.closest('.katex-mathml')) { return; }"
            "  if (el instanceof SVGElement && el.tagName.toLowerCase() !== 'svg') { return; }"
            "  var r = el.getBoundingClientRect();"
            "  if (r.width > 0 && r.height > 0) { w = Math.max(w, r.right - b.left); }"
            "}); return w;")
    return result


def body_text_size(pdf_path: str | os.PathLike) -> float:
    """The size, in points, in which most characters of a PDF are set: its body text.

    Each run of text counts with its number of characters and its size as drawn: the font size
    times the vertical scale of the text and the page's transformation matrices. A page that
    Chromium shrank to fit something wide draws its 10 pt text at 6.7 pt; one printed at scale 1
    draws it at 10 pt.
    """
    import math
    from collections import Counter

    from pypdf import PdfReader

    weights: Counter = Counter()

    def visit(text, cm, tm, font, size):  # pypdf's text visitor: (text, cm, tm, font, size)
        chars = len(text.strip())
        if chars and size:
            scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
            weights[round(size * scale, 1)] += chars

    for page in PdfReader(str(pdf_path)).pages:
        page.extract_text(visitor_text=visit)
    if not weights:
        raise ValueError(f"{Path(pdf_path).name} holds no text")
    return weights.most_common(1)[0][0]
