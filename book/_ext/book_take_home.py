"""Take a chapter home: its notebook to download from its page, with how to run it.

After an HTML build, every numbered chapter (``book/NN_*.md``) is written into
the site as

* ``notebooks/NN_name.ipynb``: the chapter as a Jupyter notebook, converted
  from its MyST source by jupytext, without outputs (they come back when it
  runs);
* ``notebooks/NN_name.zip``: the same notebook with the book's helper package
  ``_lib/`` beside it, which the chapter imports: unzip and run.

and each chapter page ends with a box that links both and says how to run
them with the student toolkit. The files are plain downloads in the site's
folder, so they work offline like the rest of the book.
"""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

FOLDER = "notebooks"
CHAPTER = re.compile(r"^book/(\d\d_[A-Za-z0-9_]+)$")


def chapter_stem(docname: str) -> str | None:
    found = CHAPTER.match(docname)
    return found.group(1) if found else None


def box(stem: str) -> str:
    """The HTML that ends a chapter page (the page is one folder below the site's root)."""
    notebook, bundle = f"../{FOLDER}/{stem}.ipynb", f"../{FOLDER}/{stem}.zip"
    stem = html.escape(stem)
    return f"""
<section class="book-take-home" aria-labelledby="take-home-{stem}">
<h2 id="take-home-{stem}">Run this chapter yourself</h2>
<p>This chapter is a notebook. Download it with the book's helper package
<code>_lib</code> beside it, <a href="{bundle}" download>{stem}.zip</a>, or the
notebook alone, <a href="{notebook}" download>{stem}.ipynb</a>.</p>
<ol>
<li>Unzip <code>{stem}.zip</code> into a folder of its own.</li>
<li>Install the course toolkit (the <code>backprop-autograder</code> package:
<code>pip install ./packaging/autograder</code> from the course repository, or
the wheel your instructor hands out) and the notebook tools:
<code>pip install jupyterlab myst-nb</code>.</li>
<li>Run <code>jupyter lab</code> in that folder, open
<code>{stem}.ipynb</code> and run the cells from the top. The interactive
figures become sliders; cells that draw with the course's reference
implementation print a one-line note instead.</li>
</ol>
<p>Nothing is downloaded when the notebook runs. More in
<a href="how_to_use.html#running-the-chapters-yourself">How to use this book</a>.</p>
</section>
"""


def add_box(app, pagename, templatename, context, doctree):
    stem = chapter_stem(pagename)
    if stem and context.get("body") is not None:
        context["body"] += box(stem)


def write_notebooks(srcdir, outdir) -> list[Path]:
    """Write the notebook and the zip of every chapter into ``outdir/notebooks``."""
    import jupytext

    book = Path(srcdir) / "book"
    folder = Path(outdir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    helpers = sorted(p for p in (book / "_lib").rglob("*.py") if "__pycache__" not in p.parts)
    written = []
    for source in sorted(book.glob("[0-9][0-9]_*.md")):
        notebook = folder / f"{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), notebook, fmt="ipynb")
        bundle = folder / f"{source.stem}.zip"
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(notebook, f"{source.stem}/{notebook.name}")
            for helper in helpers:
                archive.write(helper, f"{source.stem}/{helper.relative_to(book).as_posix()}")
        written += [notebook, bundle]
    return written
