"""Checks over the built HTML of the book: offline resources and internal links.

Three questions, asked of every page of a built site (``_build/html``):

* ``external_resources(outdir)``: does any page (or stylesheet) make the
  browser fetch something from another host -- a script, stylesheet, font,
  image, frame? The book must read with the network off, so the answer must be
  no. Ordinary ``<a href="https://...">`` links are fine: they load nothing
  until clicked.
* ``broken_internal_links(outdir)``: does every local ``href``/``src`` point at
  a file that exists, and every ``#fragment`` at an element with that id?
  The PDF of the book is printed from the finished site
  (book/tools/print_pdf.py), so the build's own check accepts a link to it;
  ``printed_after_build=True`` checks that link too.

* ``failed_outputs(outdir)``: does any cell output show a traceback, or a
  figure that was printed as text because it could not be drawn?

Each returns a list of human-readable problems (empty when all is well). The
book's Sphinx extension (``book_build``) runs them after every HTML build and
turns each problem into a warning, so ``-W`` fails the build; the tests call
them too. Run by hand::

    python book/_ext/book_html_checks.py _build/html
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Attributes through which a page makes the browser fetch something by itself.
RESOURCE_ATTRIBUTES = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
# <link rel=...> values that load nothing by themselves.
NON_LOADING_LINK_RELS = {
    "canonical",
    "alternate",
    "author",
    "license",
    "help",
    "search",
    "index",
    "next",
    "prev",
    "home",
    "top",
    "up",
    "copyright",
}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
# Files printed from the finished site, after the HTML build: the PDF of the book.
PRINTED_AFTER_BUILD = ("backprop-book.pdf",)
SKIP_SCHEMES = ("mailto:", "javascript:", "data:", "tel:", "blob:", "about:")


def is_external(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith(("http://", "https://", "//", "ftp://", "ws://", "wss://"))


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.resources: list[tuple[str, str]] = []  # (tag, url)
        self.links: list[str] = []  # <a href> and loading <link href>
        self._in_style = False
        self.css_chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for key in ("id", "name"):
            if attributes.get(key):
                self.ids.add(attributes[key])
        for key in RESOURCE_ATTRIBUTES.get(tag, ()):
            value = attributes.get(key)
            if not value:
                continue
            if key == "srcset":
                for candidate in value.split(","):
                    if candidate.strip():
                        self.resources.append((tag, candidate.split()[0]))
            else:
                self.resources.append((tag, value))
        if tag == "link" and attributes.get("href"):
            rels = set((attributes.get("rel") or "").lower().split())
            if rels - NON_LOADING_LINK_RELS or not rels:
                self.resources.append(("link", attributes["href"]))
            else:
                self.links.append(attributes["href"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if attributes.get("style"):
            self.css_chunks.append(attributes["style"])
        if tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css_chunks.append(data)


_PARSED: dict[Path, _PageParser] = {}


def _parse(path: Path) -> _PageParser:
    path = path.resolve()
    if path not in _PARSED:
        parser = _PageParser()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _PARSED[path] = parser
    return _PARSED[path]


def html_pages(outdir) -> list[Path]:
    """Every HTML page of the site, without the vendored static files."""
    outdir = Path(outdir)
    return sorted(
        p
        for p in outdir.rglob("*.html")
        if p.relative_to(outdir).parts[0] not in ("_static", "_sources", "_images")
    )


def _css_urls(text: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(text)]


def external_resources(outdir) -> list[str]:
    """Every place where the built site would fetch something from another host."""
    _PARSED.clear()
    outdir = Path(outdir)
    problems = []
    for page in html_pages(outdir):
        parsed = _parse(page)
        rel = page.relative_to(outdir)
        for tag, url in parsed.resources:
            if is_external(url):
                problems.append(f"{rel}: <{tag}> loads {url} from another host")
        for chunk in parsed.css_chunks:
            for url in _css_urls(chunk):
                if is_external(url):
                    problems.append(f"{rel}: inline CSS loads {url} from another host")
    for css in sorted(outdir.rglob("*.css")):
        for url in _css_urls(css.read_text(encoding="utf-8", errors="replace")):
            if is_external(url):
                problems.append(
                    f"{css.relative_to(outdir)}: stylesheet loads {url} from another host"
                )
    return problems


def _resolve(page: Path, url: str, outdir: Path):
    """The local file a relative URL on ``page`` points at, and its fragment."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = outdir / path.lstrip("/")
    else:
        target = page.parent / path
    if target.is_dir():
        target = target / "index.html"
    return target.resolve(), unquote(parts.fragment)


def broken_internal_links(outdir, printed_after_build=False) -> list[str]:
    """Every local href/src whose file, or whose #fragment, does not exist.

    printed_after_build: also require the files of PRINTED_AFTER_BUILD (when
    False, a link to one of them at the site's root is accepted: they do not
    exist yet when the HTML build checks itself).
    """
    _PARSED.clear()
    outdir = Path(outdir).resolve()
    later = set() if printed_after_build else {outdir / name for name in PRINTED_AFTER_BUILD}
    problems = []
    for page in html_pages(outdir):
        parsed = _parse(page)
        rel = page.relative_to(outdir)
        urls = [("a", u) for u in parsed.links] + list(parsed.resources)
        for tag, url in urls:
            url = url.strip()
            if not url or is_external(url) or url.lower().startswith(SKIP_SCHEMES) or url == "#":
                continue
            if tag == "script" and url.startswith(("{", "{{")):
                continue
            target, fragment = _resolve(page, url, outdir)
            if target in later:
                continue
            if not target.exists():
                problems.append(f"{rel}: <{tag}> points at {url}, which does not exist")
                continue
            if fragment and target.suffix == ".html" and fragment not in _parse(target).ids:
                problems.append(
                    f"{rel}: <{tag}> points at {url}, but that page has no id {fragment!r}"
                )
    return problems


def failed_outputs(outdir) -> list[str]:
    """Cell outputs that show an error instead of a result.

    A cell that raises fails the build, but some failures only leave an error
    *output* in a cell that otherwise succeeded -- for instance a figure that
    could not be rendered (IPython then shows the traceback and falls back to
    "<Figure size ...>"). Those must fail the build too.
    """
    outdir = Path(outdir)
    problems = []
    for page in html_pages(outdir):
        text = page.read_text(encoding="utf-8", errors="replace")
        rel = page.relative_to(outdir)
        tracebacks = text.count('class="output traceback')
        if tracebacks:
            problems.append(f"{rel}: {tracebacks} cell output(s) show a traceback")
        figures = text.count("&lt;Figure size")
        if figures:
            problems.append(f"{rel}: {figures} figure(s) shown as text instead of an image")
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    outdir = Path(argv[0] if argv else "_build/html")
    problems = external_resources(outdir) + broken_internal_links(outdir) + failed_outputs(outdir)
    for problem in problems:
        print(problem)
    print(f"{len(html_pages(outdir))} pages checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
