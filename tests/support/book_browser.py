"""Open the built book in a real, headless Chromium and look at every page.

Used by tests/test_book.py; also runnable by hand to get screenshots::

    .venv/bin/python -m tests.support.book_browser _build/html [--out _build/screenshots]

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
_TOOLS = Path(__file__).resolve().parents[2] / "book" / "tools"
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
    # (figure, smallest text as displayed in px, body text in px), for every figure
    figure_text: list[tuple[str, float, float]] = field(default_factory=list)
    figure_problems: list[str] = field(default_factory=list)  # figures whose text is too small
    # axe-core's violations on the page: {impact: number of rules violated}
    axe: dict[str, int] = field(default_factory=dict)
    keyboard: KeyboardWalk | None = None
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
    // For the legibility check: displayed and natural width, and the smallest
    // text an animation's frames hold (static figures carry it in the PNG).
    url: img.closest('article') && !img.src.startsWith('data:') ? img.src : null,
    shown: img.getBoundingClientRect().width,
    natural: img.naturalWidth,
    smallest: img.closest('.book-interactive')
      ? Number(img.closest('.book-interactive').dataset.smallestTextPx) : null,
  })),
  bodyText: parseFloat(getComputedStyle(
    document.querySelector('article p') || document.body).fontSize),
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


# Text in a figure, as displayed, must be at least this fraction of the body text.
LEGIBLE_FRACTION = 0.8
PNG_TEXT_KEY = "book:smallest-text-px"  # written by book/_lib/legibility.py


def _smallest_text_in_png(url: str) -> float | None:
    """The smallest text size (px of the image) a figure's PNG records, or None."""
    import io

    from PIL import Image

    with urllib.request.urlopen(url, timeout=10) as response:
        data = response.read()
    value = Image.open(io.BytesIO(data)).text.get(PNG_TEXT_KEY)
    return None if value is None else float(value)


def figure_text_problems(report: PageReport, images, body_px: float) -> list[str]:
    """Measure every figure's smallest text as displayed against the body text."""
    problems = []
    for image in images:
        if not image["inContent"] or not image["natural"]:
            continue
        name = (image["url"] or image["src"]).rsplit("/", 1)[-1][:60]
        smallest = image["smallest"]
        if smallest is None and image["url"]:
            smallest = _smallest_text_in_png(image["url"])
        if smallest is None:
            problems.append(
                f"figure {name} does not record its smallest text size (draw it after _lib.setup())"
            )
            continue
        if smallest == 0:  # no text in the figure
            continue
        shown = smallest * image["shown"] / image["natural"]
        report.figure_text.append((name, shown, body_px))
        if shown < LEGIBLE_FRACTION * body_px:
            problems.append(
                f"figure {name}: its smallest text is {shown:.1f} px as displayed, "
                f"under {LEGIBLE_FRACTION:.0%} of the body text ({body_px:.0f} px)"
            )
    return problems


AXE = Path(__file__).resolve().parents[2] / "book" / "tools" / "vendor" / "axe-core" / "axe.min.js"
# Impacts that fail the check (axe-core's scale: minor, moderate, serious, critical).
AXE_FAILING = ("serious", "critical")
RUN_AXE = """
const done = arguments[arguments.length - 1];
// preload: false -- axe would fetch the theme's stylesheets' @imports from the wrong folder
axe.run(document, {resultTypes: ['violations'], preload: false}).then(
  result => done(result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')), count: v.nodes.length}))),
  error => done('error: ' + error));
"""


def axe_missing() -> str | None:
    if AXE.exists():
        return None
    return f"{AXE} is missing: run bash book/tools/setup_offline_assets.sh (axe-core from npm)"


def axe_problems(driver, report: PageReport) -> list[str]:
    """Run axe-core on the current page; the serious and critical violations."""
    driver.execute_script(AXE.read_text())
    violations = driver.execute_async_script(RUN_AXE)
    if isinstance(violations, str):
        return [f"axe-core: {violations}"]
    problems = []
    for violation in violations:
        impact = violation["impact"] or "unknown"
        report.axe[impact] = report.axe.get(impact, 0) + 1
        if impact in AXE_FAILING:
            problems.append(
                f"axe {impact}: {violation['id']} ({violation['help']}) on "
                f"{violation['count']} element(s), e.g. {violation['targets']}"
            )
    return problems


FOCUSED = """
const el = document.activeElement;
if (!el || el === document.body || el === document.documentElement) return 'null';
const style = getComputedStyle(el);
const box = el.getBoundingClientRect();
// As JSON: some elements (MathJax's) make the driver fail to serialise a plain object.
return JSON.stringify({
  tag: String(el.tagName).toLowerCase(),
  type: String(el.getAttribute('type') || ''),
  name: String(el.getAttribute('aria-label') || el.innerText || el.getAttribute('title') || '')
    .trim().slice(0, 50),
  inNavigation: !!el.closest('.bd-sidebar-primary, nav.bd-docs-nav'),
  figure: el.closest('.book-interactive')
    ? Array.from(document.querySelectorAll('.book-interactive')).indexOf(el.closest('.book-interactive'))
    : -1,
  indicator: Boolean((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== 'none'),
  visible: Boolean(box.width > 0 && box.height > 0),
});
"""  # noqa: E501 (code a student writes, kept verbatim)
FRAME = (
    "return document.querySelectorAll('.book-interactive')[arguments[0]]"
    ".querySelector('.animation img').src;"
)


@dataclass
class KeyboardWalk:
    path: str
    stops: int = 0
    navigation: int = 0  # stops in the book's navigation
    figure_controls: int = 0  # stops on the controls of interactive figures
    problems: list[str] = field(default_factory=list)


def keyboard_walk(driver, base: str, path: str, max_tabs: int = 1500) -> KeyboardWalk:
    """Tab through a page from the top, as a keyboard user would.

    Every element that takes focus must be visible and show a focus
    indicator; the first stop must be the skip link; the navigation and
    every interactive figure's slider and buttons must be reached, and the
    arrow keys on a slider must change its figure.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    walk = KeyboardWalk(path)
    driver.get(base + path)
    driver.execute_async_script(WAIT_FOR_MATHJAX)
    figures = driver.execute_script("return document.querySelectorAll('.book-interactive').length")
    reached: dict[int, set[str]] = {index: set() for index in range(figures)}
    first = None
    for _ in range(max_tabs):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        try:
            stop = json.loads(driver.execute_script(FOCUSED))
        except WebDriverException as error:
            element = driver.execute_script(
                "return String(document.activeElement && document.activeElement.outerHTML)"
            )
            walk.problems.append(
                f"cannot inspect the focused element {element[:200]!r}: "
                f"{str(error).splitlines()[0]}"
            )
            break
        if stop is None:  # focus left the page: the walk is complete
            break
        walk.stops += 1
        first = first or stop
        where = f"{stop['tag']} {stop['name']!r}"
        if not stop["visible"]:
            walk.problems.append(f"keyboard focus on an invisible element: {where}")
        elif not stop["indicator"]:
            walk.problems.append(f"no visible focus indicator on {where}")
        walk.navigation += stop["inNavigation"]
        if stop["figure"] >= 0:
            walk.figure_controls += 1
            kind = "slider" if stop["type"] == "range" else stop["tag"]
            if kind == "slider" and "slider" not in reached[stop["figure"]]:
                before = driver.execute_script(FRAME, stop["figure"])
                ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
                if driver.execute_script(FRAME, stop["figure"]) == before:  # at the last frame?
                    ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
                if driver.execute_script(FRAME, stop["figure"]) == before:
                    walk.problems.append(
                        f"interactive figure {stop['figure'] + 1}: the arrow "
                        f"keys on its slider do not change the figure"
                    )
            reached[stop["figure"]].add(kind)
    else:
        walk.problems.append(f"focus still on the page after {max_tabs} tabs")
    if first is None or "skip" not in first["name"].lower():
        walk.problems.append(f"the first tab stop is not a skip link: {first}")
    if not walk.navigation:
        walk.problems.append("the keyboard never reaches the navigation")
    for index, kinds in reached.items():
        if not {"slider", "button"} <= kinds:
            walk.problems.append(
                f"interactive figure {index + 1}: the keyboard reaches only "
                f"{sorted(kinds) or 'nothing'}"
            )
    return walk


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
        if (
            f'id="{fragment}"' not in body
            and f"id='{fragment}'" not in body
            and f'name="{fragment}"' not in body
        ):
            return f"link to {url}: no element with id {fragment!r}"
    return None


def check_site(
    html_dir, screenshot_dir=None, screenshot_pages=(), dark_pages=(), keyboard_pages=()
):
    """Visit every page of the built site; return (reports, outside_requests).

    Every page is checked (math, images, figure text size, links, console,
    axe-core); keyboard_pages are also walked with the tab key.

    screenshot_pages: relative paths (e.g. 'book/01_forward_pass.html') to save
    as PNG under screenshot_dir (the first screen, and the full page);
    dark_pages: the same in the dark theme.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
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
                    f"{facts['math'] - facts['typeset']} of {facts['math']} math elements not "
                    "typeset"
                )
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
            report.figure_problems += figure_text_problems(
                report, facts["images"], facts["bodyText"]
            )
            report.problems += axe_problems(driver, report)
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
                if entry.get("level") == "SEVERE" and "/favicon.ico" not in entry.get(
                    "message", ""
                ):
                    report.problems.append(f"console: {entry.get('message', '')[:200]}")
            outside += [f"{path}: {url}" for url in _outside_requests(driver)]
            if screenshot_dir and path in screenshot_pages:
                _screenshots(driver, Path(screenshot_dir), path, theme="light")
            if path in keyboard_pages:
                report.keyboard = keyboard_walk(driver, base, path)
                report.problems += report.keyboard.problems
        if screenshot_dir:
            for path in dark_pages:
                driver.get(base + path)
                driver.execute_script(
                    "localStorage.setItem('theme', 'dark'); localStorage.setItem('mode', 'dark');"
                )
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

    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {
                "x": 0,
                "y": 0,
                "width": 1280,
                "height": min(int(height), 30000),
                "scale": 0.5,
            },
        },
    )
    (out / f"{stem}-full.png").write_bytes(base64.b64decode(shot["data"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description="check the built book in headless Chromium")
    parser.add_argument("html", nargs="?", default="_build/html")
    parser.add_argument(
        "--out", default=None, help="folder for screenshots (default: <html>/../screenshots)"
    )
    args = parser.parse_args(argv)
    reason = chromium_missing() or axe_missing()
    if reason:
        print(reason)
        return 2
    html = Path(args.html)
    out = Path(args.out) if args.out else html.parent / "screenshots"
    chapters = sorted(p.relative_to(html).as_posix() for p in (html / "book").glob("*.html"))
    reports, outside = check_site(
        html, out, screenshot_pages=chapters, dark_pages=chapters[:1], keyboard_pages=chapters
    )
    bad = 0
    for report in reports:
        flag = "ok " if not report.problems else "BAD"
        print(
            f"{flag} {report.path}: math {report.typeset}/{report.math_elements}, "
            f"images {report.images}, interactive {report.interactive}, "
            f"axe {report.axe or 'no violations'}"
        )
        if report.figure_text:
            smallest = min(report.figure_text, key=lambda f: f[1])
            print(
                f"      smallest figure text {smallest[1]:.1f} px ({smallest[0]}), "
                f"body {smallest[2]:.0f} px"
            )
        if report.keyboard:
            walk = report.keyboard
            print(
                f"      keyboard: {walk.stops} tab stops, {walk.navigation} in the navigation, "
                f"{walk.figure_controls} on interactive figures"
            )
        for problem in report.problems + report.figure_problems:
            print(f"      {problem}")
        bad += bool(report.problems or report.figure_problems)
    for url in outside:
        print(f"outside request: {url}")
    print(f"screenshots in {out}")
    return 1 if bad or outside else 0


if __name__ == "__main__":
    sys.exit(main())
