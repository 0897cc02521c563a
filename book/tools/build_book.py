"""Build the course book, strictly, with an execution cache that stays honest.

    .venv/bin/python book/tools/build_book.py [--clean] [--quiet]

Run from anywhere; it works on the repository that holds it. Steps:

1. Make sure the offline assets are in place (MathJax from npm, see
   setup_offline_assets.sh); fetch them if missing.
2. Keep the execution cache honest. jupyter-cache keys a chapter on its own
   code only, so a change in a package the chapters import would go unnoticed
   and the book would show stale figures. The fingerprint of those packages
   (every file under solutions/, autograder/ and book/_lib/) is kept in
   _build/.book_dependencies; when it differs, _build/.jupyter_cache is
   removed so every chapter runs again. ``--clean`` removes the whole
   _build/html and the cache.
3. Build: ``jupyter-book build <repo> -W -n --keep-going`` -- warnings are
   errors (this includes anything a chapter writes to stderr), a cell that
   raises fails the build, references must resolve (nitpicky). The book's
   Sphinx extension (book/_ext/book_build.py) then checks every page for
   broken internal links and for resources from other hosts.

Exit status: that of jupyter-book (0 when the book built cleanly).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "_build"
CACHE = BUILD / ".jupyter_cache"
STAMP = BUILD / ".book_dependencies"
MATHJAX = REPO / "book" / "_static" / "vendor" / "mathjax" / "tex-chtml.js"
# Packages the chapters import: a change in any of them must re-run the chapters.
DEPENDENCIES = ("solutions", "autograder", "book/_lib")


def dependency_fingerprint(repo: Path | None = None) -> str:
    """A hash of every file of the packages the chapters import."""
    repo = REPO if repo is None else repo
    digest = hashlib.sha256()
    for name in DEPENDENCIES:
        root = repo / name
        if not root.exists():
            digest.update(f"{name}: missing\n".encode())
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(repo)).encode())
                digest.update(b"\0")
                digest.update(path.read_bytes())
                digest.update(b"\0")
    return digest.hexdigest()


def ensure_assets():
    if MATHJAX.exists():
        return
    script = REPO / "book" / "tools" / "setup_offline_assets.sh"
    print(f"MathJax is missing: running {script.relative_to(REPO)}", flush=True)
    subprocess.run(["bash", str(script)], check=True)


def refresh_cache(clean: bool) -> str:
    fingerprint = dependency_fingerprint()
    if clean:
        shutil.rmtree(BUILD / "html", ignore_errors=True)
        shutil.rmtree(BUILD / ".doctrees", ignore_errors=True)
        shutil.rmtree(CACHE, ignore_errors=True)
    elif CACHE.exists():
        previous = STAMP.read_text().strip() if STAMP.exists() else ""
        if previous != fingerprint:
            print(
                "solutions/, autograder/ or book/_lib/ changed: clearing the execution cache",
                flush=True,
            )
            shutil.rmtree(CACHE, ignore_errors=True)
            # Pages rendered from the old outputs must be re-rendered too.
            shutil.rmtree(BUILD / ".doctrees", ignore_errors=True)
    return fingerprint


def jupyter_book() -> str:
    beside = Path(sys.executable).with_name("jupyter-book")
    return str(beside) if beside.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def build(clean=False, quiet=False) -> int:
    ensure_assets()
    fingerprint = refresh_cache(clean)
    # matplotlib's font cache lives in the build folder: a per-user cache written by another
    # virtualenv (since deleted) lists fonts that are gone, and every figure would then warn.
    # Import matplotlib once here: it builds that cache and says so on stderr, which inside
    # a chapter would fail the build.
    os.environ.setdefault("MPLCONFIGDIR", str(REPO / "_build" / "matplotlib"))
    Path(os.environ["MPLCONFIGDIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], check=True)
    # --all: re-read every page, so a warning from an unchanged page is reported
    # again (Sphinx would skip it and pass); executed outputs still come from the cache.
    command = [
        jupyter_book(),
        "build",
        str(REPO),
        "--builder",
        "html",
        "--all",
        "-W",
        "-n",
        "--keep-going",
    ]
    if quiet:
        command.append("--quiet")
    print("$ " + " ".join(command), flush=True)
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    # Chapters draw with the notebook's inline backend; an inherited MPLBACKEND
    # (test runners set Agg) must not reach their kernels.
    env.pop("MPLBACKEND", None)
    start = time.monotonic()
    status = subprocess.run(command, cwd=REPO, env=env).returncode
    print(
        f"jupyter-book finished with status {status} in {time.monotonic() - start:.0f} s",
        flush=True,
    )
    if status == 0:
        STAMP.parent.mkdir(parents=True, exist_ok=True)
        STAMP.write_text(fingerprint + "\n")
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clean", action="store_true", help="remove the built site and the execution cache first"
    )
    parser.add_argument("--quiet", action="store_true", help="less output from Sphinx")
    args = parser.parse_args(argv)
    return build(clean=args.clean, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
