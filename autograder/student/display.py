"""How a failure reaches the student: pointing at their code, and short tracebacks in Jupyter.

A failed check raises GradientCheckError deep inside the toolkit. What the
student needs is the test line that failed, the diagnosis right under it, and
the line of *their* code to look at. Three things here give that:

* :func:`point_at_code` adds a note to the error naming the student's method
  and line (``Your code: Cell In[5], line 27, in Linear.backward``), with the
  line itself. Notes show under the message in IPython, pytest and plain Python.
* :func:`render_traceback` is IPython's display of a GradientCheckError (its
  ``_render_traceback_``): the traceback keeps the notebook's frames and, for a
  crash, the student's frames where it happened; the toolkit's frames and the
  chained exception are left out.
* :func:`install_in_ipython` makes IPython add the course's hint to NumPy's
  shape and truth-value errors raised by the student's own code outside a check
  (a test cell calling ``forward`` directly).

This module is the only one that touches IPython (only when it is running):
its traceback formatter and cell names.
"""

import copy
import inspect
import re
import sys
import types
from pathlib import Path

import numpy as np

from . import diagnosis as dx

TOOLKIT = Path(__file__).resolve().parents[1]  # the autograder package

# The methods a diagnosis points at when no gradient names a line.
FORWARD_KEYS = {"mutates_input", "stale_cache", "missing_cache"}
# Crashes: the traceback itself shows the student's line.
CRASH_KEYS = {"crash", "matmul_shapes", "broadcast_shapes", "array_truth"}


# ------------------------------------------------------------- the student's code


def point_at_code(error, subject, quantity=None, input_quantity=None):
    """Add to ``error`` a note with the student's line to look at; nothing if unknown.

    subject:  the layer or loss checked (its class's forward/backward), or the
              derivative function checked by check_function.
    quantity: what the failure is about: a parameter gradient ("dW": the line
              that sets it), the input gradient (``input_quantity``, e.g. "dX":
              backward's return line), "the output"/"the value" (forward's
              return line), "the derivative" (the function's return line).
    """
    key = getattr(getattr(error, "diagnosis", None), "key", None)
    if key in CRASH_KEYS:
        return
    try:
        found = _location(subject, quantity, input_quantity, key)
    except Exception:  # pointing is a courtesy: never let it hide the failure
        found = None
    if found is not None:
        error.add_note(found)


def _location(subject, quantity, input_quantity, key):
    if inspect.isfunction(subject):
        if quantity != "the derivative":
            return None
        function, stage = subject, None
    else:
        forward = quantity in ("the output", "the value") or key in FORWARD_KEYS
        stage = "forward" if forward else "backward"
        # At grading the subject is the grader's proxy of the student's object: its class
        # finds the method in the cells the grader sent to the student's process.
        source_of = getattr(type(subject), "student_source_of", None)
        if source_of is not None:
            found = source_of(subject, stage)
            if found is None:
                return None
            lines, start, cell = found
            name = f"{type(subject).__name__}.{stage}"
            return _pointer(lines, start, quantity, input_quantity, key, stage, name, cell)
        function = _delegate(subject, stage)
    code = getattr(function, "__code__", None)
    if code is None or _in_toolkit(code.co_filename):
        return None
    lines, start = inspect.getsourcelines(function)
    name = function.__qualname__.replace(".<locals>", "")
    return _pointer(lines, start, quantity, input_quantity, key, stage, name, code.co_filename)


def _pointer(lines, start, quantity, input_quantity, key, stage, name, filename):
    """'Your code: <place>, in <name>' and the line to look at, of a function's source `lines`
    (starting at line `start` of `filename`)."""
    if quantity and quantity != input_quantity and quantity.startswith("d") and stage:
        # the first line that sets the parameter gradient, e.g. self.dW = ...
        pattern, pick = rf"\bself\.{re.escape(quantity)}\b\s*(\[[^\]]*\])?\s*[-+*/]?=(?!=)", 0
    elif quantity and key not in FORWARD_KEYS:
        pattern, pick = r"^\s*return\b", -1  # the last return
    else:
        pattern, pick = None, 0
    matches = [i for i, line in enumerate(lines) if pattern and re.search(pattern, line)]
    offset = matches[pick] if matches else 0  # else the def line
    place = cell_name(filename, start + offset)
    return f"Your code: {place}, in {name}\n    {lines[offset].strip()}"


def _delegate(subject, stage):
    """subject's method ``stage``, or that of an object it hands the call to (a test's wrapper)."""
    method = getattr(type(subject), stage, None)
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        return method
    handed = re.search(rf"self\.(\w+)\.{stage}\(", source)
    inner = getattr(subject, handed.group(1), None) if handed else None
    if inner is not None and getattr(type(inner), stage, None) is not None:
        return getattr(type(inner), stage)
    return method


def cell_name(filename, line):
    """'Cell In[5], line 27' for code run in IPython (or graded: filename 'Cell In[5]'), else
    'file.py, line 27'."""
    if re.fullmatch(r"Cell In\[\d+\]", filename):
        return f"{filename}, line {line}"
    shell = _shell()
    named = shell.compile.format_code_name(filename) if shell is not None else None
    if named:
        return f"{named[0]} {named[1]}, line {line}"
    path = Path(filename)
    try:
        path = path.resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{path}, line {line}"


def _in_toolkit(filename):
    try:
        return Path(filename).resolve().is_relative_to(TOOLKIT)
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------ IPython


def _shell():
    """The running IPython shell, or None (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if get is not None else None


def render_traceback(error):
    """IPython's structured traceback of a failed check: the student's frames and the message.

    The notebook's frames (the test line) come first; for a crash, the student's
    frames where their code raised follow; then the message and its notes.
    """
    shell = _shell()
    try:
        frames = _outside_toolkit(error.__traceback__)
        cause = error.__cause__
        if cause is not None and getattr(error.diagnosis, "key", None) in CRASH_KEYS:
            frames += _outside_toolkit(cause.__traceback__)
        shown = copy.copy(error)  # shown without the chain, the original keeps it (%debug)
        shown.__cause__, shown.__context__, shown.__suppress_context__ = None, None, True
        return shell.InteractiveTB.structured_traceback(
            type(shown), shown, _joined(frames), tb_offset=0
        )
    except Exception:  # never lose the error: IPython shows no error output if this raises
        return shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__)


def _outside_toolkit(tb):
    """The frames of a traceback that are neither the toolkit's nor IPython's own."""
    frames = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not _in_toolkit(filename) and not _in_package(filename, "IPython"):
            frames.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _joined(frames):
    """A traceback made of the given (frame, lasti, lineno), in order."""
    tb = None
    for frame, lasti, lineno in reversed(frames):
        tb = types.TracebackType(tb, frame, lasti, lineno)
    return tb


def _in_package(filename, package):
    module = sys.modules.get(package)
    root = Path(getattr(module, "__file__", "") or "").parent
    return bool(module) and Path(filename).is_relative_to(root)


def install_in_ipython():
    """In a running IPython, add the course's hint to NumPy's shape errors (ValueError).

    Only if no other custom exception handler is set; the error is displayed
    as usual otherwise (the hint is a note under the message).
    """
    shell = _shell()
    if shell is None or getattr(shell, "custom_exceptions", None) != ():
        return
    shell.set_custom_exc((ValueError,), _show_with_hint)


def _show_with_hint(shell, etype, value, tb, tb_offset=None):
    try:
        note = hint_note(value, tb)
        if note and note not in getattr(value, "__notes__", ()):
            value.add_note(note)
    except Exception:  # the hint is a courtesy: the error is shown regardless
        pass
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def hint_note(error, tb):
    """'Likely mistake: ...' for a NumPy shape or truth-value error, else None."""
    found = hint_for(error, tb)
    return None if found is None else f"Likely mistake: {found[2]}"


def hint_for(error, tb):
    """diagnosis.numpy_hint's (key, what, hint) for an error, worded from its innermost frame."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame if tb is not None else None
    local = frame.f_locals if frame is not None else {}
    owner = local.get("self")
    caller = frame.f_code.co_name if frame is not None else ""
    shapes = {n: np.shape(v) for n, v in local.items() if n in ("x", "grad_out") and _array(v)}
    if owner is not None:
        caller = f"{type(owner).__name__}.{caller}"
        shapes.update(
            (n, np.shape(getattr(owner, n))) for n in ("W", "b") if _array(getattr(owner, n, None))
        )
    return dx.numpy_hint(error, caller, shapes)


def _array(value):
    return isinstance(value, np.ndarray)
