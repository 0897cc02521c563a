"""The one place that uses nbgrader's private internals; nothing else touches them.

Grading splits nbgrader's Autograde converter in two (see grade.py): the sanitizing step
and the scoring step run in the parent process, the execution in between in worker
processes. nbgrader's public API runs the three in one call
(``Autograde.convert_single_notebook``: sanitize, then execute and score), so the second
half alone needs:

- ``Autograde._sanitizing``: False makes the converter read its input from autograded/
  (the executed notebooks) instead of submitted/, and ``_init_preprocessors`` choose the
  scoring preprocessors instead of the sanitizing ones. nbgrader flips it itself between
  the two halves; there is no public switch.
- ``Autograde._init_preprocessors()``: registers the chosen preprocessors on the
  converter's exporter. ``start()`` would call it only for the sanitizing half.
- ``BaseConverter.convert_single_notebook`` (public, but called past Autograde's
  override of it): converts one notebook with the registered preprocessors, without the
  sanitizing and execution that Autograde's own override would run again.

- ``nbgrader.api.create_engine``: the name nbgrader's ``Gradebook`` creates its SQLAlchemy
  engine with, one per Gradebook opened. SQLAlchemy keeps its compiled statements per
  engine, so every Gradebook opened compiles its queries again, and a grading run opens
  several per submission (nbgrader's own scoring steps among them). ``one_engine_per_database``
  lends them one engine per database for the length of a run.

Checked against nbgrader 0.9.5 and 0.9.6 (pyproject.toml allows ``>=0.9.5,<0.10``);
tests/test_nbgrader_internals.py fails if an installed nbgrader no longer has them.
"""

import contextlib

import nbgrader.api
from nbconvert.writers import FilesWriter
from nbgrader.converters.base import BaseConverter


def score_executed(converter, notebook_paths, run):
    """Run an Autograde converter's steps after the execution (output limits, scores into
    the gradebook) on executed notebooks in autograded/, one by one.

    converter: nbgrader's Autograde with ``autograde_preprocessors`` already set (Execute
    left out); run: calls a step and returns the reason it failed in one line, or None
    (nbgrader_run.run). Returns the first failure's reason, or None.
    """
    converter._sanitizing = False  # its input folder is now autograded/
    converter.writer = FilesWriter(parent=converter, config=converter.config)
    converter.exporter = converter.exporter_class(parent=converter, config=converter.config)
    converter._init_preprocessors()
    for path in notebook_paths:
        problem = run(lambda path=path: BaseConverter.convert_single_notebook(converter, str(path)))
        if problem:
            return problem
    return None


@contextlib.contextmanager
def one_engine_per_database():
    """Within: every nbgrader Gradebook opened on one database URL (with the same options)
    uses one SQLAlchemy engine, whose compiled statements and connections the next one reuses;
    the engines are disposed of at the end. Re-entrant (an inner use changes nothing)."""
    original = nbgrader.api.create_engine
    if getattr(original, "shared_engines", None) is not None:
        yield
        return
    engines = {}

    def shared(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = original(url, **options)
        return engines[key]

    shared.shared_engines = engines
    nbgrader.api.create_engine = shared
    try:
        yield
    finally:
        nbgrader.api.create_engine = original
        for engine in engines.values():
            engine.dispose()
