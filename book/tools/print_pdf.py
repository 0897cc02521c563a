"""Print the built book to one PDF, with Debian's headless Chromium.

    .venv/bin/python book/tools/print_pdf.py [--site _build/html]     # = make pdf (after make book)

Every page of the table of contents, in its order, is opened in Chromium
(book/tools/headless_chromium.py: served locally, no other host reachable),
left to finish typesetting its math and loading its figures, and printed with
the print stylesheet of the book (the ``@media print`` rules of
book/_static/book.css: no navigation, hidden code stays hidden, interactive
figures show their first frame and their description, every solution is
opened). pypdf joins the pages into ``<site>/backprop-book.pdf``, with one
bookmark per page, where the site links to it.

Printing the site, rather than building the book again with LaTeX, keeps the
PDF identical to what readers see: the same MathJax typesetting, the same
figure images, the same chapter, figure and equation numbers, and it needs no
TeX installation, only the Chromium that the browser test already uses.

Exit status 0 when the PDF was written and every link of the site, the PDF's
included, resolves; 1 with a message otherwise.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "book" / "_ext"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import book_html_checks  # noqa: E402
from headless_chromium import chromium, chromium_missing, serve, wait_until_rendered  # noqa: E402

PDF_NAME = book_html_checks.PRINTED_AFTER_BUILD[0]
TITLE = "Backprop, from the ground up"

# Before printing: open every solution (sphinx-togglebutton hides them behind a
# button; its own "beforeprint" handler does not run when DevTools prints), and
# return the page's title as shown in its heading.
PREPARE = """
document.querySelectorAll('.admonition.toggle.toggle-hidden button.toggle-button')
  .forEach(button => button.click());
const heading = document.querySelector('main article h1') || document.querySelector('h1');
return heading ? heading.textContent.replace(/#\\s*$/, '').trim() : document.title;
"""

# Chromium draws these in the page margins; they must set their own font size.
FOOTER = (
    '<div style="font-size:8px; width:100%; padding:0 12mm; color:#444; '
    'font-family:sans-serif; display:flex; justify-content:space-between;">'
    '<span>{title}</span><span><span class="pageNumber"></span> / '
    '<span class="totalPages"></span></span></div>'
)
PRINT_OPTIONS = {
    "paperWidth": 8.27,  # A4, in inches
    "paperHeight": 11.69,
    "marginTop": 0.6,
    "marginBottom": 0.7,
    "marginLeft": 0.6,
    "marginRight": 0.6,
    "printBackground": True,
    "preferCSSPageSize": False,
    "displayHeaderFooter": True,
    "headerTemplate": "<span></span>",
}


def toc_pages(repo: Path = REPO) -> list[str]:
    """The site's pages in the order of _toc.yml, as paths relative to the site."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            names.append(chapter["file"])
            names += [section["file"] for section in chapter.get("sections", [])]
    return [f"{name}.html" for name in names]


def print_pages(site: Path, pages: list[str]) -> list[tuple[str, bytes]]:
    """(title, PDF bytes) of every page, printed by Chromium."""
    import html

    printed = []
    with serve(site) as base, chromium() as driver:
        for page in pages:
            driver.get(base + page)
            problems = wait_until_rendered(driver)
            if problems:
                raise RuntimeError(f"{page} did not render: {'; '.join(problems)}")
            title = driver.execute_script(PREPARE)
            time.sleep(0.2)  # let the opened solutions lay out
            options = dict(
                PRINT_OPTIONS,
                footerTemplate=FOOTER.format(title=html.escape(f"{TITLE} \N{EM DASH} {title}")),
            )
            result = driver.execute_cdp_cmd("Page.printToPDF", options)
            printed.append((title, base64.b64decode(result["data"])))
            print(f"printed {page}: {title}", flush=True)
    return printed


def join(printed: list[tuple[str, bytes]], out: Path) -> int:
    """Write the pages into one PDF with a bookmark per page; returns its page count."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for title, data in printed:
        start = len(writer.pages)
        writer.append(PdfReader(io.BytesIO(data)))
        writer.add_outline_item(title, start)
    writer.add_metadata({"/Title": TITLE, "/Author": "The course team"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        writer.write(handle)
    return len(writer.pages)


def build_pdf(site: Path) -> Path:
    """Print the site at ``site`` into ``site/backprop-book.pdf``; returns its path."""
    reason = chromium_missing()
    if reason:
        raise RuntimeError(f"printing the PDF needs Chromium: {reason}")
    pages = toc_pages()
    missing = [page for page in pages if not (site / page).exists()]
    if missing:
        raise RuntimeError(
            f"the site in {site} lacks {', '.join(missing)}: build it first (make book)"
        )
    start = time.monotonic()
    out = site / PDF_NAME
    count = join(print_pages(site, pages), out)
    print(
        f"{out}: {count} pages, {out.stat().st_size / 1e6:.1f} MB, "
        f"printed in {time.monotonic() - start:.0f} s",
        flush=True,
    )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--site",
        type=Path,
        default=REPO / "_build" / "html",
        help="the built HTML book (default: _build/html)",
    )
    args = parser.parse_args(argv)
    try:
        build_pdf(args.site)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    broken = book_html_checks.broken_internal_links(args.site, printed_after_build=True)
    for problem in broken:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
