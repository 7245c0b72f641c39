"""The main job end to end: the report built from every registered experiment's smoke run (on
the embedded mnist-5k; each run's own artifacts are checked by tests/experiments/test_contract.py)
loads in a real headless Chromium with every image decoded and no console errors."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from stridelab.experiments.registry import all_experiments

EXPERIMENTS = [e.name for e in all_experiments()]


def _chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.mark.browser
def test_report_in_headless_chromium(smoke_runs, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    browser, driver = _chromium()
    if not (browser and driver):
        pytest.skip("Chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver)")
    root, report = smoke_runs.root, smoke_runs.report()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingOptions", {"browser": "ALL"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    drv = webdriver.Chrome(options=options, service=Service(driver))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{report.name}"
        drv.get(url)
        drv.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        drv.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        images = drv.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const imgs = Array.from(document.images);
            Promise.all(imgs.map(i => i.decode().then(() => true, () => false)))
                .then(ok => done(imgs.map((i, k) => [i.alt, ok[k] && i.naturalWidth > 0])));
        """)
        assert images, "the report has no images"
        broken = [alt for alt, ok in images if not ok]
        assert not broken, f"images that did not load: {broken}"
        n_sections = drv.execute_script(
            "return document.querySelectorAll('section.experiment').length")
        assert n_sections == len(EXPERIMENTS)
        assert drv.execute_script("return document.querySelectorAll('details').length") == 0
        unreadable = drv.execute_script("""
            return Array.from(document.querySelectorAll('.badge')).filter(b => {
                const s = getComputedStyle(b);
                return !b.textContent.trim() || s.color === s.backgroundColor;
            }).map(b => b.textContent);""")
        assert not unreadable, f"badges whose text cannot be read: {unreadable}"
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(drv, 30).until(lambda d: d.execute_script(  # the printer waits for this
            "return document.documentElement.getAttribute('data-katex-done')") == "1")
        n_math, n_rendered, n_bad = drv.execute_script(
            "return [document.querySelectorAll('span.math').length,"
            " document.querySelectorAll('span.math .katex').length,"
            " document.querySelectorAll('.katex-error').length]")
        assert n_rendered == n_math, "some formulas were not typeset"
        assert n_bad == 0, "KaTeX could not parse some formulas"
        errors = [entry for entry in drv.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        shot = Path(tmp_path) / "report.png"
        assert drv.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        drv.quit()
        server.shutdown()
