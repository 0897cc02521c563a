"""Debian's Chromium, headless and cut off from other hosts, on a locally served site.

Shared by the PDF printer (book/tools/print_pdf.py) and the browser test
(tests/support/book_browser.py)::

    with serve(site) as base, chromium() as driver:
        driver.get(base + "book/intro.html")
        wait_until_rendered(driver)

Chromium and its driver come from Debian (``apt-get install chromium
chromium-driver``); selenium drives them. The site is served on 127.0.0.1 by
a small HTTP server in this process. The browser is started with a proxy on a
dead local port for everything that is not loopback, so no page can reach
another host.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--window-size=1280,1000",
]


def chromium_missing() -> str | None:
    """Why Chromium cannot be driven here, or None when it can."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        return f"{' and '.join(missing)} not installed: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install 'selenium>=4.20,<5'"
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _dead_port() -> int:
    """A local port with nothing listening (the proxy that goes nowhere)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def chromium(log_requests=False):
    """A selenium Chrome driver on Debian's chromium, cut off from other hosts.

    log_requests: record the DevTools performance log (every request), for
    ``driver.get_log("performance")``.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="book-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # Everything that is not loopback goes to a proxy that does not exist.
    options.add_argument(f"--proxy-server=http://127.0.0.1:{_dead_port()}")
    options.add_argument("--proxy-bypass-list=127.0.0.1;localhost;[::1]")
    if log_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const start = Date.now();
const loads = Array.from(document.scripts).some(s => /mathjax/i.test(s.src || ''));
if (!loads) { done(document.querySelector('.math') ? 'math on the page but MathJax not loaded' : 'ok'); return; }
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('ok'), (e) => done('error: ' + e));
  } else if (Date.now() - start > 20000) {
    done('MathJax never started');
  } else {
    setTimeout(poll, 100);
  }
})();
"""  # noqa: E501 (code a student writes, kept verbatim)

WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const images = Array.from(document.images);
  const pending = images.filter(img => !(img.complete && img.getAttribute('src')));
  if (pending.length === 0 || Date.now() - start > 20000) { done(pending.length); }
  else { setTimeout(poll, 100); }
})();
"""


def wait_until_rendered(driver) -> list[str]:
    """Wait for MathJax and the images of the current page; the problems, if any."""
    problems = []
    status = driver.execute_async_script(WAIT_FOR_MATHJAX)
    if status != "ok":
        problems.append(f"MathJax: {status}")
    pending = driver.execute_async_script(WAIT_FOR_IMAGES)
    if pending:
        problems.append(f"{pending} image(s) never finished loading")
    return problems
