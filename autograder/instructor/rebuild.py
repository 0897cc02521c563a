"""The notebook that is graded: the instructor's, with only the student's code put in.

nbgrader grades the notebook the student hands in, after putting back the
read-only cells it knows. Here the graded notebook is built from the
instructor's source notebook instead: every cell, its metadata and the
kernelspec come from the source; from the submission only two things are
taken, the source of each solution cell (matched by grade_id) and cells the
student added (plain cells without nbgrader metadata, kept in place: honest
students add helper cells). A deleted solution cell gets the release's
`raise NotImplementedError()`.

Everything else the submission changed is not used, and is reported as a
flag for the instructor (so is a test that the handed-in notebook shows
passing and that fails when graded: hidden cases, or outputs edited by hand), as are code patterns
that only make sense as an
attempt on the grader (hooks into IPython, rebinding a library function,
ending the process, reading the course files, the network).
"""

import ast
import copy

import nbformat

from .bundle import HIDDEN_MARKERS, SOLUTION_MARKERS, region_pattern
from .protocol import without_magics
from .status import Flag

NOT_IMPLEMENTED = "raise NotImplementedError()"
SOLUTION_REGION = region_pattern(SOLUTION_MARKERS)
HIDDEN_REGION = region_pattern(HIDDEN_MARKERS, line_end=True)


def nbgrader_role(cell):
    """The cell's nbgrader metadata; {} when a submission put something else there (e.g. a
    string)."""
    role = cell.metadata.get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
    return role if isinstance(role, dict) else {}


def grade_id(cell):
    gid = nbgrader_role(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def rebuild(source, submitted):
    """(graded notebook, [Flag]) from the instructor's `source` notebook and the student's
    `submitted` notebook (both nbformat v4 NotebookNodes)."""
    flags = structural_flags(source, submitted)
    solutions = {}
    added_after = {}  # grade_id of the last known cell before an added cell -> [added cells]
    last_known = None
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid is not None:
            if nbgrader_role(cell).get("solution") and gid not in solutions:
                solutions[gid] = cell.source
            last_known = gid
        elif cell.cell_type == "code" and cell.source.strip():
            added_after.setdefault(last_known, []).append(cell.source)

    graded = copy.deepcopy(source)
    cells = [nbformat.v4.new_code_cell(code) for code in added_after.get(None, [])]
    for cell in graded.cells:
        gid = grade_id(cell)
        if nbgrader_role(cell).get("solution"):
            cell.source = solutions.get(gid, solution_stub(cell.source))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        cells += [nbformat.v4.new_code_cell(code) for code in added_after.get(gid, [])]
    graded.cells = cells
    for code in [
        c.source
        for c in cells
        if c.cell_type == "code" and (not grade_id(c) or nbgrader_role(c).get("solution"))
    ]:
        flags += code_flags(code)
    return graded, sorted(set(flags), key=str)


def solution_stub(source):
    """What the release has in place of a solution region (the cell's code around it kept)."""
    return SOLUTION_REGION.sub(NOT_IMPLEMENTED, source)


def claimed_passes(submitted):
    """grade_ids of the test cells that the handed-in notebook shows as run without an error
    (what the student saw, or what the file was edited to show)."""
    return {
        grade_id(cell)
        for cell in submitted.cells
        if nbgrader_role(cell).get("grade")
        and cell.cell_type == "code"
        and cell.get("outputs")
        and not any(output.get("output_type") == "error" for output in cell.outputs)
    }


# ----------------------------------------------------------------- what was changed


def structural_flags(source, submitted):
    """Flags for the ways `submitted` differs from `source` outside the solution cells."""
    flags = []
    known = {grade_id(c): c for c in source.cells if grade_id(c)}
    seen = {}
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        original = known.get(gid)
        if original is None:
            flags.append(
                Flag(
                    "unknown-cell",
                    f"a cell with grade_id {gid!r} that the assignment does not have",
                )
            )
            continue
        if nbgrader_role(cell) != _role_without_checksum(
            nbgrader_role(original), nbgrader_role(cell)
        ):
            flags.append(Flag("changed-metadata", f"the nbgrader metadata of {gid!r} was changed"))
        tags = set(map(str, _list(cell.metadata.get("tags")))) - set(
            original.metadata.get("tags", [])
        )
        if tags:
            flags.append(Flag("added-tags", f"tags {sorted(tags)} added to {gid!r}"))
        if not nbgrader_role(original).get("solution") and _normal(cell.source) not in (
            _normal(original.source),
            _normal(_released(original)),
        ):
            flags.append(Flag("edited-read-only-cell", f"the read-only cell {gid!r} was edited"))
    for gid, count in seen.items():
        if count > 1:
            flags.append(Flag("duplicated-cell", f"{gid!r} appears {count} times"))
    for gid, cell in known.items():
        if gid not in seen:
            kind = "deleted-test-cell" if nbgrader_role(cell).get("grade") else "deleted-cell"
            flags.append(Flag(kind, f"{gid!r} is missing"))
    kernelspec = submitted.metadata.get("kernelspec", {})
    kernel = kernelspec.get("name") if isinstance(kernelspec, dict) else repr(kernelspec)
    if kernel != source.metadata.get("kernelspec", {}).get("name"):
        flags.append(Flag("changed-kernelspec", f"kernel {kernel!r}"))
    return flags


def _list(value):
    return value if isinstance(value, list) else []


def _role_without_checksum(original, submitted):
    """The source's nbgrader metadata as the release has it (nbgrader adds a checksum and
    may carry fields the source leaves implicit)."""
    role = dict(original)
    for key in ("checksum", "cell_type", "schema_version"):
        if key in submitted:
            role[key] = submitted[key]
        else:
            role.pop(key, None)
    return role


def _released(cell):
    """A read-only cell as the release shows it: hidden tests removed."""
    return HIDDEN_REGION.sub("", cell.source)


def _normal(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


# ----------------------------------------------------------------- what the code tries

LIBRARIES = {
    "np",
    "numpy",
    "builtins",
    "sys",
    "math",
    "autograder",
    "__builtins__",
    "os",
    "warnings",
}

# (flag kind, description, test on an AST node)
ATTEMPTS = (
    (
        "ipython-hooks",
        "hooks into IPython (get_ipython, transformers, events, custom exceptions)",
        lambda n: (
            _name(n)
            in {
                "get_ipython",
                "input_transformers_cleanup",
                "input_transformers_post",
                "ast_transformers",
                "set_custom_exc",
                "register_magic_function",
            }
            or (_name(n) == "register" and "events" in _dotted(n))
        ),
    ),
    (
        "rebinds-library",
        "assigns to an attribute of numpy, builtins, sys or a module",
        lambda n: (
            (
                isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                and any(
                    isinstance(t, ast.Attribute) and _root(t) in LIBRARIES
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                )
            )
            or (
                _dotted(n) in {"setattr", "delattr"}
                and bool(n.args)
                and _root(n.args[0]) in LIBRARIES
            )
        ),
    ),
    (
        "introspection",
        "inspects the interpreter (frames, loaded modules, the garbage collector)",
        lambda n: (
            _dotted(n)
            in {
                "sys._getframe",
                "sys.modules",
                "inspect.currentframe",
                "inspect.stack",
                "gc.get_objects",
                "gc.get_referrers",
            }
            or bool(_imports(n) & {"gc", "inspect"})
        ),
    ),
    (
        "process-control",
        "ends or forks the process, or handles signals",
        lambda n: (
            _dotted(n)
            in {
                "os._exit",
                "os.fork",
                "os.kill",
                "os.killpg",
                "signal.signal",
                "sys.exit",
                "os.system",
                "os.execv",
                "os.execl",
                "ctypes.CDLL",
            }
        ),
    ),
    (
        "system-access",
        "subprocesses, sockets, or the network",
        lambda n: bool(
            _imports(n)
            & {
                "subprocess",
                "socket",
                "urllib",
                "requests",
                "http",
                "ctypes",
                "multiprocessing",
                "shutil",
                "resource",
            }
        ),
    ),
    (
        "reads-files",
        "opens files or lists folders (the course, other students)",
        lambda n: (
            _dotted(n)
            in {"open", "os.listdir", "os.walk", "glob.glob", "os.scandir", "pathlib.Path"}
            or (_name(n) in {"read_text", "read_bytes", "iterdir", "rglob"})
        ),
    ),
    (
        "silences-output",
        "replaces stdout or stderr",
        lambda n: (
            isinstance(n, ast.Assign)
            and any(_dotted(t) in {"sys.stdout", "sys.stderr"} for t in n.targets)
        ),
    ),
)


def numeric_derivatives(tree):
    """Flags for a backward (or a Jacobian) computed numerically: the assignments ask for the
    formula. Finite differences miss the tolerance and, entry by entry, the hidden tests'
    time limits; a complex-step derivative is exact, so its use is shown to the instructor."""
    flags = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef) or not (
            function.name == "backward" or function.name.endswith("jacobian")
        ):
            continue
        for node in ast.walk(function):
            numeric = _name(node) in {"numeric_gradient", "numeric_jacobian"} and isinstance(
                node, ast.Call
            )
            if numeric or (isinstance(node, ast.Constant) and isinstance(node.value, complex)):
                flags.append(
                    Flag(
                        "numeric-derivative",
                        f"{function.name} differentiates numerically "
                        f"(line {node.lineno}: {ast.unparse(node)[:60]!r})",
                    )
                )
                break
    return flags


def code_flags(source):
    """Flags for what a student's cell tries; a cell that does not parse gets none."""
    try:
        tree = ast.parse(without_magics(source))
    except SyntaxError:
        return []
    found = {(flag.kind, flag.detail): flag for flag in numeric_derivatives(tree)}
    for node in ast.walk(tree):
        for kind, description, test in ATTEMPTS:
            try:
                hit = test(node)
            except Exception:
                hit = False
            line = getattr(node, "lineno", 0)
            if hit and (kind, line) not in found:  # one flag per kind and line
                found[kind, line] = Flag(
                    kind, f"{description} (line {line}: {ast.unparse(node)[:80]!r})"
                )
    return list(found.values())


def _imports(node):
    """The top-level packages an import statement imports ({"os"} for `from os.path import
    join`); an empty set for any other node."""
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {(node.module or "").split(".")[0]}
    return set()


def _dotted(node):
    """'os._exit' for a call or attribute chain on names; '' otherwise."""
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _name(node):
    """The last name of a call, attribute or name node."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""
