"""Print a page made by :func:`stridelab.report.render.render_document` to PDF with Chromium.

The system Chromium runs headless under chromedriver (Selenium), opens the HTML file, waits
until the page's script has typeset every formula and loaded its fonts and images (it sets
``data-katex-done`` on ``<html>``), and prints through the DevTools command
``Page.printToPDF``: A4, backgrounds printed, the page's own print stylesheet and margins, and a
footer "page N of M". Nothing here needs the network; the flags below keep Chromium from
trying to reach it (without them it stalls on a machine that has none).
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import tempfile
from pathlib import Path

from stridelab.atomic import write_bytes_atomic

__all__ = ["print_pdf", "find_chromium", "CHROMIUM_FLAGS"]

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


def print_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike, *,
              timeout: float = 120, footer: str = "", browser: str | None = None,
              driver: str | None = None) -> str | None:
    """Print ``html_path`` to ``pdf_path`` (atomically) once KaTeX has typeset the page.

    A4, backgrounds printed, the page's ``@page`` margins, a footer "page N of M" (preceded by
    ``footer`` when given). ``timeout`` bounds, in seconds, the page load and the wait for the
    typesetting. ``browser`` and ``driver`` default to :func:`find_chromium`.

    Returns None on success, or one line saying why no PDF was written (Chromium or chromedriver
    missing, the page never finished typesetting, printing failed); ``pdf_path`` is then left as
    it was.
    """
    html_path, pdf_path = Path(html_path), Path(pdf_path)
    found_browser, found_driver = find_chromium()
    browser, driver = browser or found_browser, driver or found_driver
    if not browser or not Path(browser).exists():
        return ("Chromium not found: install Debian's chromium and chromium-driver to get the PDF; "
                f"the HTML is at {html_path}")
    if not driver or not Path(driver).exists():
        return ("chromedriver not found: install Debian's chromium-driver to get the PDF; "
                f"the HTML is at {html_path}")
    if not html_path.is_file():
        return f"{html_path}: no such file to print"
    try:
        from selenium import webdriver
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return f"selenium is not installed (pip install selenium); the HTML is at {html_path}"

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
        drv.get(html_path.resolve().as_uri())
        try:
            WebDriverWait(drv, timeout, poll_frequency=0.1).until(
                lambda d: d.execute_script(
                    "return document.documentElement.getAttribute('data-katex-done')") == "1")
        except TimeoutException:
            return (f"printing {html_path} to PDF: the page did not finish typesetting within "
                    f"{timeout:g} s; the HTML is at {html_path}")
        result = drv.execute_cdp_cmd("Page.printToPDF", {
            "printBackground": True, "preferCSSPageSize": True,
            "paperWidth": _A4_INCHES[0], "paperHeight": _A4_INCHES[1],
            "displayHeaderFooter": True, "headerTemplate": "<span></span>",
            "footerTemplate": _footer(footer),
        })
        data = base64.b64decode(result["data"])
        if not data.startswith(b"%PDF-"):
            return f"printing {html_path} to PDF: Chromium returned no PDF"
        write_bytes_atomic(pdf_path, data)
        return None
    except (WebDriverException, OSError, KeyError, ValueError) as exc:
        # KeyError/ValueError: a DevTools answer without (valid base64) data
        return f"printing {html_path} to PDF failed ({_one_line(exc)})"
    finally:
        if drv is not None:
            try:
                drv.quit()
            except Exception:  # noqa: BLE001 (the PDF is written; a stuck browser must not undo it)
                pass
        shutil.rmtree(profile, ignore_errors=True)
