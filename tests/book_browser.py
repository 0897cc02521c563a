"""Open the built book in a real, headless Chromium and look at every page.

Used by tests/test_book.py; also runnable by hand to get screenshots::

    .venv/bin/python tests/book_browser.py _build/html [--out _build/screenshots]

Chromium runs headless and cut off from other hosts (book/tools/headless_chromium.py);
every request the pages make is also recorded from the DevTools log, and any
request to a host other than this machine is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
_TOOLS = Path(__file__).resolve().parents[1] / "book" / "tools"
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))

from headless_chromium import (  # noqa: E402  (book/tools, shared with the PDF printer)
    WAIT_FOR_IMAGES,
    WAIT_FOR_MATHJAX,
    chromium,
    chromium_missing,
    serve,
)


@dataclass
class PageReport:
    path: str
    math_elements: int = 0
    typeset: int = 0
    images: int = 0
    interactive: int = 0
    problems: list[str] = field(default_factory=list)


PAGE_FACTS = """
const math = Array.from(document.querySelectorAll('.math'));
const main = document.querySelector('main') || document.body;
return {
  math: math.length,
  typeset: math.filter(el => el.querySelector('mjx-container')).length,
  mathErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  text: main.innerText,
  images: Array.from(document.images).map(img => ({
    src: (img.getAttribute('src') || '').slice(0, 120),
    ok: img.complete && img.naturalWidth > 0,
    alt: img.getAttribute('alt'),
    inContent: !!img.closest('article'),
  })),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  interactive: document.querySelectorAll('.book-interactive').length,
};
"""

SLIDE_ANIMATION = """
const box = document.querySelectorAll('.book-interactive')[arguments[0]];
const slider = box.querySelector('input[type=range]');
const img = box.querySelector('.animation img');
if (!slider || !img) return 'missing slider or image';
if (Number(slider.max) < 1) return 'animation has a single frame';
const before = img.src;
slider.value = (Number(slider.value) + 1) % (Number(slider.max) + 1);
slider.dispatchEvent(new Event('input'));
const after = img.src;
return before !== after ? 'ok' : 'the image did not change when the slider moved';
"""


def _local(url: str, base: str) -> bool:
    return url.startswith(base)


def _outside_requests(driver) -> list[str]:
    """Requests recorded in the DevTools log that went to (or tried) another host."""
    outside = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.requestWillBeSent":
            continue
        url = message["params"]["request"]["url"]
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            outside.append(url)
    return outside


def _check_link(url: str, cache: dict) -> str | None:
    """None if ``url`` (on the local server) exists, including its #fragment."""
    page, fragment = urldefrag(url)
    if page not in cache:
        try:
            with urllib.request.urlopen(page, timeout=10) as response:
                cache[page] = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as err:
            cache[page] = err
        except urllib.error.URLError as err:  # pragma: no cover - server gone
            cache[page] = err
    body = cache[page]
    if isinstance(body, Exception):
        return f"link to {url} fails: {body}"
    if fragment and page.endswith(".html"):
        if f'id="{fragment}"' not in body and f"id='{fragment}'" not in body \
                and f'name="{fragment}"' not in body:
            return f"link to {url}: no element with id {fragment!r}"
    return None


def check_site(html_dir, screenshot_dir=None, screenshot_pages=(), dark_pages=()):
    """Visit every page of the built site; return (reports, outside_requests).

    screenshot_pages: relative paths (e.g. 'book/01_forward_pass.html') to save
    as PNG under screenshot_dir (the first screen, and the full page);
    dark_pages: the same in the dark theme.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
    import book_html_checks

    html_dir = Path(html_dir)
    pages = [p.relative_to(html_dir).as_posix() for p in book_html_checks.html_pages(html_dir)]
    reports, outside = [], []
    link_cache: dict = {}
    if screenshot_dir:
        Path(screenshot_dir).mkdir(parents=True, exist_ok=True)
    with serve(html_dir) as base, chromium(log_requests=True) as driver:
        for path in pages:
            report = PageReport(path)
            reports.append(report)
            driver.get(base + path)
            status = driver.execute_async_script(WAIT_FOR_MATHJAX)
            if status != "ok":
                report.problems.append(f"MathJax: {status}")
            pending = driver.execute_async_script(WAIT_FOR_IMAGES)
            if pending:
                report.problems.append(f"{pending} image(s) never finished loading")
            facts = driver.execute_script(PAGE_FACTS)
            report.math_elements, report.typeset = facts["math"], facts["typeset"]
            report.images, report.interactive = len(facts["images"]), facts["interactive"]
            if facts["typeset"] != facts["math"]:
                report.problems.append(
                    f"{facts['math'] - facts['typeset']} of {facts['math']} math elements not typeset")
            if facts["mathErrors"]:
                report.problems.append(f"{facts['mathErrors']} MathJax error(s)")
            for raw in ("$$", "\\begin{", "\\frac{", "{glue:"):
                if raw in facts["text"]:
                    report.problems.append(f"raw {raw!r} in the page text")
            for image in facts["images"]:
                if not image["ok"]:
                    report.problems.append(f"image not loaded: {image['src']}")
                if image["inContent"] and not (image["alt"] or "").strip():
                    report.problems.append(f"image without alt text: {image['src']}")
            for index in range(facts["interactive"]):
                outcome = driver.execute_script(SLIDE_ANIMATION, index)
                if outcome != "ok":
                    report.problems.append(f"interactive figure {index + 1}: {outcome}")
            for url in facts["links"]:
                if _local(url, base):
                    problem = _check_link(url, link_cache)
                    if problem:
                        report.problems.append(problem)
            for entry in driver.get_log("browser"):
                # Uncaught errors, failed loads, console.error. The browser asks for
                # /favicon.ico by itself on pages without an icon link (the redirect
                # page index.html): that is not the book's request.
                if entry.get("level") == "SEVERE" and "/favicon.ico" not in entry.get("message", ""):
                    report.problems.append(f"console: {entry.get('message', '')[:200]}")
            outside += [f"{path}: {url}" for url in _outside_requests(driver)]
            if screenshot_dir and path in screenshot_pages:
                _screenshots(driver, Path(screenshot_dir), path, theme="light")
        if screenshot_dir:
            for path in dark_pages:
                driver.get(base + path)
                driver.execute_script("localStorage.setItem('theme', 'dark'); "
                                      "localStorage.setItem('mode', 'dark');")
                driver.get(base + path)
                driver.execute_async_script(WAIT_FOR_MATHJAX)
                driver.execute_async_script(WAIT_FOR_IMAGES)
                _screenshots(driver, Path(screenshot_dir), path, theme="dark")
                driver.execute_script("localStorage.clear();")
            outside += [f"(dark theme): {url}" for url in _outside_requests(driver)]
    return reports, outside


def _screenshots(driver, out: Path, path: str, theme: str):
    stem = path.removesuffix(".html").replace("/", "_") + ("" if theme == "light" else "-dark")
    time.sleep(0.3)
    driver.save_screenshot(str(out / f"{stem}.png"))
    # The whole page, in one image (DevTools can capture beyond the window).
    height = driver.execute_script("return document.documentElement.scrollHeight")
    import base64

    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": min(int(height), 30000), "scale": 0.5},
    })
    (out / f"{stem}-full.png").write_bytes(base64.b64decode(shot["data"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description="check the built book in headless Chromium")
    parser.add_argument("html", nargs="?", default="_build/html")
    parser.add_argument("--out", default=None, help="folder for screenshots (default: <html>/../screenshots)")
    args = parser.parse_args(argv)
    reason = chromium_missing()
    if reason:
        print(reason)
        return 2
    html = Path(args.html)
    out = Path(args.out) if args.out else html.parent / "screenshots"
    chapters = sorted(p.relative_to(html).as_posix() for p in (html / "book").glob("*.html"))
    reports, outside = check_site(html, out, screenshot_pages=chapters, dark_pages=chapters[:1])
    bad = 0
    for report in reports:
        flag = "ok " if not report.problems else "BAD"
        print(f"{flag} {report.path}: math {report.typeset}/{report.math_elements}, "
              f"images {report.images}, interactive {report.interactive}")
        for problem in report.problems:
            print(f"      {problem}")
        bad += bool(report.problems)
    for url in outside:
        print(f"outside request: {url}")
    print(f"screenshots in {out}")
    return 1 if bad or outside else 0


if __name__ == "__main__":
    sys.exit(main())
