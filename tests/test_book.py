"""The book: a strict build, offline reading, chapters that run, and a real browser.

The build runs once per test session (``built_book``), through the project's
build command ``book/tools/build_book.py`` into ``_build/``: warnings are
errors, a cell that raises fails it, and the book's Sphinx extension checks
every page for broken internal links, resources from other hosts and error
outputs. Chapter outputs are cached by jupyter-cache between sessions, so a
second run of the suite re-renders without re-executing unchanged chapters.

Markers (tests/conftest.py): a test that uses the built book is marked ``book``,
one that prints the PDF or drives the browser ``browser`` (Debian's chromium and
chromium-driver: skipped with the reason where they are not installed, a failure
under BACKPROP_REQUIRE_ALL=1), and ``test_chapters_run_under_nbval`` ``slow``. In a
parallel run this module's tests run on one worker (tests/conftest.py), so the book is
built into ``_build/`` once; the nbval tests, which do not use the build, run apart.
"""

from __future__ import annotations

import ast
import html
import importlib
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
BUILD = REPO / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
BUILD_LOG = BUILD / "book-build.log"

# The book's extensions and tools are scripts run by the build, not a package.
for folder in (BOOK / "_ext", BOOK / "tools", BOOK):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import book_html_checks  # noqa: E402
import print_pdf  # noqa: E402

from tests.support import book_browser  # noqa: E402
from tests.support.resources import require  # noqa: E402


def toc_files() -> list[str]:
    """Every file in _toc.yml (without suffix), root first."""
    return [page.removesuffix(".html") for page in print_pdf.toc_pages(REPO)]


def chapter_files() -> list[Path]:
    """The numbered chapters (book/NN_*.md) listed in the toc."""
    return [REPO / f"{name}.md" for name in toc_files() if re.match(r"book/\d\d_", name)]


@pytest.fixture(scope="session")
def built_book():
    """Build the book once per session with the project's strict build command."""
    BUILD.mkdir(exist_ok=True)
    start = time.monotonic()
    with open(BUILD_LOG, "w") as log:
        status = subprocess.run(
            [sys.executable, str(BOOK / "tools" / "build_book.py")],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=1800,
        ).returncode
    elapsed = time.monotonic() - start
    if status != 0:
        tail = "\n".join(BUILD_LOG.read_text(errors="replace").splitlines()[-80:])
        pytest.fail(
            f"the book build failed (status {status}, {elapsed:.0f} s); "
            f"full log in {BUILD_LOG}:\n{tail}",
            pytrace=False,
        )
    print(f"book built in {elapsed:.0f} s")
    return HTML


# ---------------------------------------------------------------- configuration


def test_toc_lists_existing_chapter_files():
    names = toc_files()
    assert names[0] == "book/intro"
    for name in names:
        assert (REPO / f"{name}.md").exists(), f"_toc.yml lists {name}, which does not exist"
        assert name.startswith("book/"), f"{name}: every page lives under book/"
    assert chapter_files(), "no chapters in the toc"


def test_config_is_strict_and_keeps_non_chapters_out():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    excluded = set(config["exclude_patterns"])
    for folder in (
        "assignments",
        "solutions",
        "autograder",
        "tests",
        ".venv",
        "_build",
        "benchmarks",
        "packaging",
        "README.md",
    ):
        assert folder in excluded, f"{folder} must be excluded from the book"
    execute = config["execute"]
    assert execute["execute_notebooks"] == "cache"
    assert execute["raise_on_error"] is True and execute["allow_errors"] is False
    assert execute["timeout"] >= 300
    sphinx = config["sphinx"]["config"]
    assert sphinx["mathjax_path"].startswith("vendor/mathjax/"), "MathJax must be served locally"
    assert sphinx["nb_ipywidgets_js"] == {}, "no widget scripts from a CDN"
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]


def test_chapters_are_myst_notebooks():
    for path in chapter_files():
        head = path.read_text().split("---")[1]
        meta = yaml.safe_load(head)
        assert meta["jupytext"]["text_representation"]["format_name"] == "myst", path
        assert meta["kernelspec"]["name"] == "python3", path


# ---------------------------------------------------------------- the strict build


def test_book_builds_every_page(built_book):
    for name in toc_files():
        assert (built_book / f"{name}.html").exists(), f"{name} was not built"
    assert (built_book / "index.html").exists()
    assert (built_book / "_static" / "vendor" / "mathjax" / "tex-chtml.js").exists()


def test_site_holds_nothing_but_the_book(built_book):
    built = {p.relative_to(built_book).as_posix() for p in built_book.rglob("*") if p.is_file()}
    for forbidden in (
        "assignments/",
        "solutions/",
        "autograder/",
        "tests/",
        "benchmarks/",
        "packaging/",
        ".venv/",
        "README",
    ):
        leaked = sorted(p for p in built if forbidden in p and not p.startswith("_static/"))
        assert not leaked, f"the site holds files from {forbidden}: {leaked[:5]}"
    pages = {
        p.removesuffix(".html")
        for p in built
        if p.endswith(".html") and not p.startswith(("_static/", "_sources/"))
    }
    assert pages == set(toc_files()) | {"index", "genindex", "search"}


def test_site_reads_offline_and_links_resolve(built_book):
    assert book_html_checks.external_resources(built_book) == []
    assert book_html_checks.broken_internal_links(built_book) == []
    assert book_html_checks.failed_outputs(built_book) == []


def test_every_figure_has_alt_text(built_book):
    for name in toc_files():
        page = (built_book / f"{name}.html").read_text()
        for tag in re.findall(r"<img\b[^>]*>", page):
            alt = re.search(r'\balt="([^"]*)"', tag)
            assert alt and alt.group(1).strip(), f"{name}: image without alt text: {tag[:120]}"


# A number each chapter quotes from an executed cell (glued), as it appears on the page.
GLUED = {
    "book/01_forward_pass": "235,146",  # parameters of 784-256-128-10
    "book/02_chain_rule_jacobians": "235,136",  # multiplications of reverse mode
    "book/03_backprop_graphs": "1.2706",  # -dy/dx1 of the worked graph example
    "book/04_softmax_cross_entropy": "0.4170",  # cross-entropy of the worked example
    "book/05_sgd": "173",  # gradient-descent steps on the ill-conditioned quadratic
    "book/06_xor": "0.6365",  # the entropy H(1/3) of a training plateau
    "book/07_mnist": "98.07",  # test accuracy of the validation-selected network, measured once
    "book/08_generalisation": "0.364",  # validation loss with the best weight decay
    "book/09_initialisation": "0.225",  # training loss of the deep ReLU network from He's init
}


@pytest.mark.parametrize("chapter", [name for name in toc_files() if name[5:7].isdigit()])
def test_chapter_has_its_figures_numbers_exercises_and_interactive(built_book, chapter):
    page = (built_book / f"{chapter}.html").read_text()
    figures = re.findall(r'<figure[^>]*id="fig-[^"]+"', page)
    assert len(figures) >= 3, f"{chapter} has {len(figures)} numbered figures"
    assert page.count('data-book-interactive="jshtml"') >= 1, f"{chapter} has no interactive figure"
    assert GLUED[chapter] in page, f"{chapter}: the glued number {GLUED[chapter]} is missing"
    assert page.count('class="exercise') >= 3 or page.count("exercise admonition") >= 3
    assert "Learning objectives" in page and "Summary" in page


def test_pytorch_appendix_ran_with_pytorch(built_book):
    """Where PyTorch is installed (make setup installs it), the appendix shows its numbers:
    chapter 3's gradient from torch's .backward(), not the placeholder of a build without it."""
    page = (built_book / "book" / "appendix_pytorch.html").read_text()
    note = "did not run: `pip install torch`"  # what a PyTorch cell prints without PyTorch
    if importlib.util.find_spec("torch") is None:
        assert note in page, "without PyTorch the page must say what is missing"
        pytest.skip("PyTorch is not installed: make setup installs it")
    assert note not in page
    # chapter 3's dy/dx1 with the natural and with the base-10 logarithm, from torch
    assert "\N{MINUS SIGN}1.2706" in page and "\N{MINUS SIGN}0.5518" in page


def test_glued_negative_numbers_use_a_minus_sign(built_book):
    page = (built_book / "book" / "03_backprop_graphs.html").read_text()
    pasted = re.findall(r'class="pasted-text">([^<]*)<', page)
    assert any(text.startswith("\N{MINUS SIGN}") for text in pasted)
    assert not any(re.fullmatch(r"-[0-9.,]+", text) for text in pasted), "a hyphen as a minus sign"


REFERENCES = "book/references.html"


def citation_ids(built_book) -> set[str]:
    """The ids of the entries on the References page."""
    page = (built_book / REFERENCES).read_text()
    return set(re.findall(r'<div class="citation" id="([^"]+)"', page))


@pytest.mark.parametrize("chapter", [name for name in toc_files() if name[5:7].isdigit()])
def test_chapter_cites_at_least_three_sources_on_the_references_page(built_book, chapter):
    entries = citation_ids(built_book)
    assert len(entries) >= 20, f"the References page lists only {len(entries)} sources"
    page = (built_book / f"{chapter}.html").read_text()
    cited = set(re.findall(r'href="references\.html#([^"]+)"', page))
    assert len(cited) >= 3, f"{chapter} cites {len(cited)} sources"
    assert cited <= entries, f"{chapter}: citations without an entry: {sorted(cited - entries)}"
    assert 'id="further-reading"' in page, f"{chapter} has no Further reading section"


def test_glossary_and_index(built_book):
    """The glossary defines at least 40 terms, the chapters link to them, and the
    index lists at least 80 entries, each linking to a place in the book."""
    glossary = (built_book / "book" / "glossary.html").read_text()
    terms = set(re.findall(r'<dt id="(term-[^"]+)"', glossary))
    assert len(terms) >= 40, f"the glossary defines {len(terms)} terms"
    for chapter in (name for name in toc_files() if name[5:7].isdigit()):
        page = (built_book / f"{chapter}.html").read_text()
        linked = set(re.findall(r'href="glossary\.html#(term-[^"]+)"', page))
        assert len(linked) >= 2, f"{chapter} links to {len(linked)} glossary terms"
        assert linked <= terms, f"{chapter}: links to undefined terms {sorted(linked - terms)}"
    index = (built_book / "genindex.html").read_text()
    entries = re.findall(r'<li><a href="([^"]+)">', index)
    assert len(entries) >= 80, f"the index has {len(entries)} entries"
    for href in entries:
        target, _, fragment = href.partition("#")
        assert (built_book / target).exists(), f"index entry points at missing {href}"
        assert f'id="{fragment}"' in (built_book / target).read_text(), f"no anchor for {href}"


@pytest.mark.parametrize("chapter", [name for name in toc_files() if name[5:7].isdigit()])
def test_chapter_page_offers_its_notebook(built_book, chapter):
    """Each chapter page links its notebook (no outputs) and a zip with the helpers,
    as files of the site (offline), and says how to run them with the toolkit."""
    import zipfile

    import nbformat

    page = (built_book / f"{chapter}.html").read_text()
    stem = chapter.removeprefix("book/")
    for suffix in (".ipynb", ".zip"):
        assert f'href="../notebooks/{stem}{suffix}"' in page, f"{chapter} does not link {suffix}"
    assert "pip install ./packaging/autograder" in page
    notebook = nbformat.read(built_book / "notebooks" / f"{stem}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) >= 5 and not any(cell.outputs for cell in code)
    with zipfile.ZipFile(built_book / "notebooks" / f"{stem}.zip") as bundle:
        names = set(bundle.namelist())
    assert {f"{stem}/{stem}.ipynb", f"{stem}/_lib/__init__.py", f"{stem}/_lib/style.py"} <= names


def test_html_checks_catch_what_they_should(tmp_path):
    """The checks are not vacuous: each kind of problem on a made-up site is found."""
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "theme.css").write_text(
        "@import url('https://fonts.example.org/font.css');\nbody{}"
    )
    (tmp_path / "other.html").write_text('<p id="here">x</p>')
    (tmp_path / "index.html").write_text(
        textwrap.dedent("""\
        <link rel="stylesheet" href="_static/theme.css">
        <script src="https://cdn.example.org/lib.js"></script>
        <img src="//cdn.example.org/x.png" alt="x">
        <a href="https://example.org/">an ordinary outside link is fine</a>
        <a href="other.html#here">fine</a>
        <a href="other.html#gone">missing fragment</a>
        <a href="missing.html">missing page</a>
        <a href="backprop-book.pdf">the PDF, printed after the build</a>
        <div class="output traceback highlight-ipythontb">Traceback</div>
        <pre>&lt;Figure size 640x480 with 1 Axes&gt;</pre>
        """)
    )
    outside = book_html_checks.external_resources(tmp_path)
    assert any("cdn.example.org/lib.js" in p for p in outside)
    assert any("//cdn.example.org/x.png" in p for p in outside)
    assert any("fonts.example.org" in p for p in outside)
    assert not any("https://example.org/" in p for p in outside)
    links = book_html_checks.broken_internal_links(tmp_path)
    assert any("#gone" in p for p in links) and any("missing.html" in p for p in links)
    assert not any("#here" in p for p in links)
    assert not any("backprop-book.pdf" in p for p in links)
    after_printing = book_html_checks.broken_internal_links(tmp_path, printed_after_build=True)
    assert any("backprop-book.pdf" in p for p in after_printing)
    outputs = book_html_checks.failed_outputs(tmp_path)
    assert len(outputs) == 2


# ---------------------------------------------------------------- what the book may show


GRADED_METHODS = {"forward", "backward", "step", "_apply", "_derivative"}
GRADED_FUNCTIONS = {"sigmoid", "softmax", "log_softmax", "train", "minibatches"}


def graded_code_lines() -> set[str]:
    """Distinctive lines of the reference implementation's graded code."""
    lines = set()
    for module in sorted((REPO / "solutions").glob("*.py")):
        tree = ast.parse(module.read_text())
        source = module.read_text().splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda) and module.name == "elementwise.py":
                # The activations' f and f' (the table layers and gates share), as a
                # layer's method would return them.
                code = f"return {ast.unparse(node.body)}"
                if len(code) >= 16:
                    lines.add(code)
            graded = isinstance(node, ast.FunctionDef) and (
                node.name in GRADED_METHODS or node.name in GRADED_FUNCTIONS
            )
            if not graded:
                continue
            body = node.body[1:] if ast.get_docstring(node) else node.body
            for statement in body:
                for line in source[statement.lineno - 1 : statement.end_lineno]:
                    code = " ".join(line.split("#")[0].split())
                    # A delegation to the base class (return super().forward(x)) shows nothing.
                    skip = ("raise", "check_array", '"', "'", "return super().")
                    if len(code) >= 16 and not code.startswith(skip):
                        lines.add(code)
    return lines


def normalised(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def test_book_never_shows_graded_code(built_book):
    """No line of a graded function's reference code is in the book's sources,
    its helpers or its pages (hidden cells call ``solutions`` instead)."""
    graded = graded_code_lines()
    assert len(graded) > 20, "found too few graded lines to make this test meaningful"
    sources = [
        *BOOK.rglob("*.md"),
        *(BOOK / "_lib").rglob("*.py"),
        *[p for p in built_book.rglob("*.html") if "_static" not in p.parts],
        *(built_book / "_sources").rglob("*"),
    ]
    for path in sources:
        if not path.is_file():
            continue
        text = normalised(path.read_text(errors="replace"))
        shown = sorted(line for line in graded if line in text)
        assert not shown, f"{path.relative_to(REPO)} shows graded code: {shown[:3]}"


# ---------------------------------------------------------------- helpers


def test_interactive_switch_and_static_animation(monkeypatch):
    interactive = importlib.import_module("_lib.interactive")
    monkeypatch.setenv("BOOK_INTERACTIVE", "widgets")
    assert interactive.interactive_mode() == "widgets"
    monkeypatch.setenv("BOOK_INTERACTIVE", "static")
    assert interactive.interactive_mode() == "static"
    monkeypatch.delenv("BOOK_INTERACTIVE")
    assert interactive.interactive_mode() == "static"  # no kernel in a test process

    def draw(fig, power):
        ax = fig.subplots()
        ax.plot([0, 1, 2], [0, 1, 2**power])

    page = interactive.jshtml(draw, [1, 2, 3], label="power", alt="a curve that steepens")
    assert 'data-book-interactive="jshtml"' in page
    assert 'alt="a curve that steepens"' in page
    assert page.count("data:image/png;base64") == 3
    assert 'type="range"' in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "the animation loads something"
    assert "set_frame(2)" in interactive.jshtml(
        draw, [1, 2, 3], label="power", alt="a curve", initial=2
    )


def test_attempt_hides_only_an_unfilled_skeleton(capsys):
    practice = importlib.import_module("_lib.practice")
    with practice.attempt("f"):
        raise NotImplementedError
    try:
        raise NotImplementedError("skeleton")
    except NotImplementedError as original:
        wrapped = AssertionError("f raised NotImplementedError")
        wrapped.__cause__ = original
    with practice.attempt("f"):
        raise wrapped
    assert capsys.readouterr().out.count("Not implemented yet") == 2
    with pytest.raises(AssertionError, match="wrong"):
        with practice.attempt("f"):
            raise AssertionError("wrong derivative")


def test_cache_is_cleared_when_imported_packages_change(tmp_path, monkeypatch):
    build_book = importlib.import_module("build_book")
    for name in build_book.DEPENDENCIES:
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(build_book, "REPO", tmp_path)
    monkeypatch.setattr(build_book, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(build_book, "CACHE", tmp_path / "_build" / ".jupyter_cache")
    monkeypatch.setattr(build_book, "STAMP", tmp_path / "_build" / ".book_dependencies")

    build_book.CACHE.mkdir(parents=True)
    build_book.STAMP.write_text(build_book.dependency_fingerprint())
    build_book.refresh_cache(clean=False)
    assert build_book.CACHE.exists(), "an unchanged tree keeps the cache"
    (tmp_path / "solutions" / "module.py").write_text("x = 2\n")
    build_book.refresh_cache(clean=False)
    assert not build_book.CACHE.exists(), "a change in solutions/ clears the cache"


# ---------------------------------------------------------------- chapters as notebooks


@pytest.mark.slow
@pytest.mark.parametrize("reference", ["with-reference", "student-without-reference"])
def test_chapters_run_under_nbval(tmp_path, reference):
    """Every chapter, converted to .ipynb, runs top to bottom under nbval --nbval-lax,
    with live widgets (as in JupyterLab); once as the instructor (reference package
    installed) and once as a student (cells that need it print a note instead)."""
    jupytext = importlib.import_module("jupytext")
    notebooks = []
    for chapter in chapter_files():
        target = tmp_path / f"{chapter.stem}.ipynb"
        jupytext.write(jupytext.read(chapter), target)
        notebooks.append(str(target))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BOOK), env.get("PYTHONPATH")]))
    env["BOOK_INTERACTIVE"] = "widgets"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env.pop("BOOK_WITHOUT_REFERENCE", None)
    env.pop("MPLBACKEND", None)  # an inherited Agg would hide the chapters' inline figures
    if reference == "student-without-reference":
        env["BOOK_WITHOUT_REFERENCE"] = "1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-cell-timeout=600",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            *notebooks,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


# ---------------------------------------------------------------- the PDF


@pytest.fixture(scope="session")
def built_pdf(built_book):
    """The PDF printed from the built site, once per session (``make pdf``)."""
    require("browser")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(BOOK / "tools" / "print_pdf.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(
            f"printing the PDF failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    print(f"PDF printed in {time.monotonic() - start:.0f} s")
    return built_book / print_pdf.PDF_NAME


def plain(text: str) -> str:
    """Text for comparing a page with the PDF: ligatures undone, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", html.unescape(text)).split())


def strip_tags(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", fragment)


def code_text(page: str) -> str:
    """What a page shows as code (<pre> blocks), where TeX may legitimately appear."""
    blocks = re.findall(r"<pre.*?</pre>", page, re.S)
    return "\n".join(plain(strip_tags(block)) for block in blocks)


def test_pdf_holds_the_whole_book_typeset(built_book, built_pdf):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(built_pdf)
    texts = [plain(page.extract_text()) for page in reader.pages]
    assert 80 <= len(texts) <= 600, f"the PDF has {len(texts)} pages"
    everything = "\n".join(texts)
    pages = {name: (built_book / f"{name}.html").read_text() for name in toc_files()}
    # One bookmark per page of the site, in the order of the table of contents.
    assert len(reader.outline) == len(pages)
    # Math is typeset: TeX source shows only where the site shows it as code.
    code = "\n".join(code_text(page) for page in pages.values())
    for token in ("\\frac", "\\(", "\\[", "\\begin{", "$$", "{glue", "{cite", "{term"):
        assert everything.count(token) <= code.count(token), f"raw {token!r} in the PDF"
    inline = re.compile(r"\$[^$\s][^$\n]{0,80}\$")
    assert len(inline.findall(everything)) <= len(inline.findall(code)), "raw $...$ in the PDF"
    for name, page in pages.items():
        # Numbered like the site: the chapter heading, and every figure on a page with an image.
        heading = re.search(r'<h1><span class="section-number">([^<]+)</span>([^<]+)', page)
        if heading:
            assert plain(heading.group(1) + heading.group(2)) in everything, name
        for number, caption in re.findall(
            r'<span class="caption-number">(Fig\. [0-9.]+) </span><span class="caption-text">'
            r"(.*?)</span>",
            page,
            re.S,
        ):
            words = " ".join(plain(strip_tags(caption)).split()[:3])
            found = [i for i, text in enumerate(texts) if f"{number} {words}" in text]
            assert found, f"{name}: {number} ({words}...) is not in the PDF"
            assert all(reader.pages[i].images for i in found), (
                f"{number} is on a page without an image"
            )
        # Every exercise comes with its solution, opened.
        for solution in re.findall(r'<section id="solution-content">(.*?)</section>', page, re.S):
            runs = [
                plain(strip_tags(run))
                for run in re.split(
                    r'<(?:span|div) class="math[^>]*>.*?</(?:span|div)>', solution, flags=re.S
                )
            ]
            longest = max(runs, key=len)
            assert longest[:60] in everything, f"{name}: a solution is missing ({longest[:60]!r})"


# ---------------------------------------------------------------- a real browser


@pytest.fixture(scope="session")
def browser_reports(built_book, built_pdf):
    """Every page visited once in headless Chromium: (reports by path, outside requests)."""
    require("browser")
    chapters = [f"{name}.html" for name in toc_files() if re.match(r"book/\d\d_", name)]
    reports, outside = book_browser.check_site(
        built_book,
        SCREENSHOTS,
        screenshot_pages=chapters,
        dark_pages=chapters[:1],
        keyboard_pages=chapters,
    )
    for report in reports:
        print(
            f"{report.path}: axe {report.axe or 'no violations'}"
            + (
                f"; keyboard {report.keyboard.stops} stops, {report.keyboard.navigation} in the "
                f"navigation, {report.keyboard.figure_controls} on interactive figures"
                if report.keyboard
                else ""
            )
        )
    return {r.path: r for r in reports}, outside


def test_pages_in_headless_chromium(browser_reports):
    """Math, images, links, console, no other host; axe-core finds no serious or
    critical violation on any page; the keyboard reaches the navigation and every
    interactive figure's controls on every chapter."""
    by_path, outside = browser_reports
    problems = [f"{r.path}: {p}" for r in by_path.values() for p in r.problems]
    assert not problems, "\n".join(problems)
    assert not outside, "requests to other hosts:\n" + "\n".join(outside)
    assert {f"{name}.html" for name in toc_files()} <= set(by_path)
    first = by_path["book/01_forward_pass.html"]
    assert first.math_elements > 50 and first.typeset == first.math_elements
    assert first.images >= 4 and first.interactive >= 1
    chapters = [f"{name}.html" for name in toc_files() if re.match(r"book/\d\d_", name)]
    for chapter in chapters:
        stem = chapter.removesuffix(".html").replace("/", "_")
        assert (SCREENSHOTS / f"{stem}.png").stat().st_size > 10_000
        walk = by_path[chapter].keyboard
        assert walk and walk.navigation > 0 and walk.figure_controls > 0, chapter


def test_interactive_figures_have_text_alternatives(built_book):
    for name in toc_files():
        page = (built_book / f"{name}.html").read_text()
        for box in re.findall(r'<div class="book-interactive"[^>]*>', page):
            assert re.search(r'aria-label="[^"]{20,}"', box), f"{name}: {box[:200]}"
            assert 'role="group"' in box, f"{name}: {box[:200]}"


def test_figure_text_is_legible(browser_reports):
    """The smallest text of every figure, as displayed, is at least 80% of the body text."""
    by_path, _ = browser_reports
    problems = [f"{r.path}: {p}" for r in by_path.values() for p in r.figure_problems]
    measured = sum(len(r.figure_text) for r in by_path.values())
    assert measured >= 30, f"only {measured} figures measured"
    assert not problems, "\n".join(problems)
