"""Sphinx extension for the course book (loaded through _config.yml).

1. Static interactivity. Chapters show explorable figures through
   ``_lib.interactive.explore``: a live ipywidgets slider in JupyterLab, a
   self-contained JavaScript animation in the HTML book. The switch is the
   environment variable ``BOOK_INTERACTIVE`` (``static`` or ``widgets``; unset
   means "widgets if a kernel with ipywidgets is running"). Every build of the
   book sets it to ``static`` here, before any chapter is executed: the kernels
   that execute the chapters inherit it, so a built page never holds widget
   state (which would need a widget manager from a CDN and a live kernel).

2. No sphinx-thebe scripts on the pages (see ``_drop_thebe``).

3. Real minus signs in glued numbers. A number pasted into the text with
   ``{glue:text}`` is formatted by Python, which writes a negative number
   with an ASCII hyphen; next to MathJax's minus sign it looks like a dash.
   ``_minus_signs`` replaces the hyphens of pasted numbers with U+2212.

4. The References page labels its sources by author and year
   (``book_bibliography.py``).

5. Accessibility repairs of the generated HTML (``_repair_roles``).

6. Take a chapter home: each chapter page offers its notebook
   (``book_take_home.py``).

7. Checks over the result. After an HTML build, every page is checked for
   resources fetched from another host (the book must read offline) and for
   local links whose file or #fragment does not exist, and for cell outputs
   that show an error (``book_html_checks.py``). Each problem is a Sphinx warning, so a build with
   ``-W`` fails on it.
"""

import os
import re

import book_bibliography
import book_html_checks
import book_take_home
from docutils import nodes
from sphinx.util import logging

INTERACTIVE_ENV = "BOOK_INTERACTIVE"
logger = logging.getLogger(__name__)


def _check_site(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    # The chapters' notebooks first: the pages link to them.
    book_take_home.write_notebooks(app.srcdir, app.outdir)
    for problem in book_html_checks.external_resources(app.outdir):
        logger.warning("[offline] %s", problem, type="book", subtype="offline")
    for problem in book_html_checks.broken_internal_links(app.outdir):
        logger.warning("[links] %s", problem, type="book", subtype="links")
    for problem in book_html_checks.failed_outputs(app.outdir):
        logger.warning("[outputs] %s", problem, type="book", subtype="outputs")


# A pasted number: digits with optional sign, grouping commas, decimal point, exponent, percent.
_NUMBER = re.compile(r"[-+]?[0-9][0-9,]*(\.[0-9]*)?([eE][-+]?[0-9]+)?%?")
MINUS = "\N{MINUS SIGN}"


def _minus_signs(app, doctree, docname):
    """Write the minus of every number pasted by {glue:text} as U+2212, not a hyphen."""
    for node in doctree.findall(nodes.inline):
        if "pasted-text" not in node.get("classes", []):
            continue
        text = node.astext()
        if "-" in text and _NUMBER.fullmatch(text.strip()):
            node.children = [nodes.Text(text.replace("-", MINUS))]


def _drop_thebe(app, pagename, templatename, context, doctree):
    """Remove sphinx-thebe's scripts from every page.

    Jupyter Book always loads sphinx-thebe. The book does not use it (no
    launch buttons: it must read offline), yet its inline configuration script
    is added twice, which makes every page throw "Identifier 'THEBE_JS_URL'
    has already been declared", and it names a CDN. Same-body inline scripts
    added twice are reduced to one.
    """
    kept, bodies = [], set()
    for script in context.get("script_files", []):
        filename = str(getattr(script, "filename", "") or "")
        body = getattr(script, "attributes", {}).get("body", "")
        if filename.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body or "thebe@" in filename:
            continue
        if body:
            if body in bodies:
                continue
            bodies.add(body)
        kept.append(script)
    context["script_files"] = kept


def _repair_roles(app, pagename, templatename, context, doctree):
    """The References page lists its entries in a role="list" whose children
    have role="doc-biblioentry" (docutils' citations); a list may only hold
    list items (axe-core: aria-required-children, critical). They become
    role="listitem"."""
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    os.environ[INTERACTIVE_ENV] = "static"
    app.connect("doctree-resolved", _minus_signs)
    book_bibliography.register()
    app.connect("html-page-context", _drop_thebe)
    app.connect("html-page-context", _repair_roles)
    app.connect("html-page-context", book_take_home.add_box)
    app.connect("build-finished", _check_site)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
