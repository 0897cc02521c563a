"""Trusted twins of the student's objects: what a check compares the student's answers with.

A test cell runs in the grader, but the objects it checks live in the student's
process (remote.py), and anything that process says about itself may be a lie:
a ``forward`` can be right only when it is first called, a ``params`` attribute
can read ``()`` when the grader asks, a backward can agree with finite
differences of a forward that is wrong the same way. So a check in grading does
not judge the student's code by the student's code. It asks the referee for a
*twin* of the object under test, built here, in the grader, from the
instructor's own solution (the source notebook's solution cells), and compares
the student's answers with the twin's:

- a twin is built the way the test built the student's object: the same class
  (by name, from the instructor's code), called with the same arguments (twins
  of the student's objects among them, and random generators at the state they
  had when the call was made), followed by the same attribute assignments;
- the parameter arrays of a twin (the names the *instructor's* class declares
  in ``params``, else ``W`` and ``b``) are the student's, read once: they are
  inputs, and a lie about them can only make the student's own answers
  disagree with the twin;
- an object whose making the grader did not see (``xor_model``, trained by the
  student's code) gets a twin of the instructor's class with the student's
  attributes as plain data.

The checks (autograder.student.checks) take the twin through
``checks.refereed_by``: expected forward values and the finite differences
that every gradient is compared with come from the twin, on every call.
"""

import ast
import copy
import inspect
import weakref

import numpy as np

from .protocol import without_magics

REFERENCE_MODULE = "__reference__"  # the __name__ of the namespace the instructor's code runs in


class ReferenceUnavailable(RuntimeError):
    """The instructor's code cannot be run in the grader: no check could be trusted."""


def definitions_only(source):
    """The imports, function and class definitions of a cell (what a twin needs); the rest,
    a training run or a data download, is left out so that building the reference is quick."""
    tree = ast.parse(without_magics(source))
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    tree.body = [node for node in tree.body if isinstance(node, kept)]
    return ast.unparse(tree)


def reference_namespace(cells):
    """Run the definitions of the instructor's cells (sources, in notebook order) in a fresh
    namespace of this process; returns it. A cell that fails to define raises
    ReferenceUnavailable: every student's checks would fail against missing twins."""
    namespace = {"__name__": REFERENCE_MODULE}
    for number, source in enumerate(cells, start=1):
        try:
            exec(compile(definitions_only(source), f"<{REFERENCE_MODULE} cell>", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 (the instructor's code: its failure is the grader's)
            first_line = source.strip().splitlines()[0] if source.strip() else ""
            raise ReferenceUnavailable(
                f"the instructor's code cell {number} ({first_line[:60]!r}) does not run "
                f"in the grader: {type(error).__name__}: {error}"
            ) from None
    return namespace


class Referee:
    """Records how the test made each student object (remote.py tells it) and builds twins."""

    def __init__(self, namespace, is_proxy):
        self.namespace = namespace
        self.is_proxy = is_proxy  # object -> True for a proxy of a student object
        self.origins = (
            weakref.WeakKeyDictionary()
        )  # proxy -> ("global", name) | ("call", ...) | ...
        self.edits = weakref.WeakKeyDictionary()  # proxy -> [(name, value)] assigned by the tests

    # ------------------------------------------------------------- what remote.py reports

    def global_name(self, proxy, name):
        self._origin(proxy, ("global", name))

    @staticmethod
    def before_call(args, kwargs):
        """What a call must be replayed with: its arguments (arrays copied) and the state of
        the random generators among them, taken before the student's code draws from them."""
        states = {
            id(a): copy.deepcopy(a.bit_generator.state)
            for a in (*args, *kwargs.values())
            if isinstance(a, np.random.Generator)
        }
        return [_kept(a) for a in args], {k: _kept(v) for k, v in kwargs.items()}, states

    def called(self, result, callee, replay):
        """`result` came back from calling `callee` (a class or function of the student's)
        with the arguments `replay` (what before_call returned)."""
        self._origin(result, ("call", callee, *replay))

    def copied(self, result, original):
        self._origin(result, ("copy", original, len(self.edits.get(original, []))))

    def attribute(self, result, owner, name):
        self._origin(result, ("attribute", owner, name))

    def assigned(self, proxy, name, value):
        if self.is_proxy(proxy):
            self.edits.setdefault(proxy, []).append((name, _kept(value)))

    def _origin(self, value, origin):
        if self.is_proxy(value) and value not in self.origins:
            self.origins[value] = origin

    # ------------------------------------------------------------- twins

    def twin(self, value):
        """A trusted twin of `value` (see the module docstring). Raises LookupError, naming
        what is missing, when there is none."""
        return self._twin(value, {})

    def _twin(self, value, memo):
        if id(value) in memo:  # memo keeps the value alive too: a freed value's id is reused
            return memo[id(value)][1]
        if self.is_proxy(value):
            made = self._made(value, memo)
            for name, assigned in self.edits.get(value, []):
                setattr(made, name, self._twin(assigned, memo))
            if not isinstance(made, type) and not inspect.isroutine(made):
                self._take_parameters(made, value, depth=0)
        elif isinstance(value, np.ndarray):
            made = value.copy()
        elif isinstance(value, (list, tuple)):
            made = type(value)(self._twin(item, memo) for item in value)
        elif isinstance(value, dict):
            made = {key: self._twin(item, memo) for key, item in value.items()}
        elif (
            isinstance(value, np.random.Generator)
            or not hasattr(value, "__dict__")
            or isinstance(value, type)
        ):
            made = value
        elif callable(value) and not hasattr(type(value), "forward"):
            made = value  # a test's function
        else:  # an object of the tests that may hold student objects (a test's helper layer)
            made = copy.copy(value)
            for name, item in vars(value).items():
                setattr(made, name, self._twin(item, memo))
        memo[id(value)] = value, made
        return made

    def _made(self, proxy, memo):
        origin = self.origins.get(proxy)
        kind = origin[0] if origin else None
        if kind is None and isinstance(proxy, type):  # a student class reached another way
            return self._reference(proxy.__name__)
        if kind == "global" and (
            isinstance(self.namespace.get(origin[1]), type)
            or inspect.isfunction(self.namespace.get(origin[1]))
        ):
            return self.namespace[origin[1]]  # a class or function: the instructor's
        if kind == "call":
            _, callee, args, kwargs, states = origin
            function = self._twin(callee, memo)
            args = [
                _replayed(a, states) if isinstance(a, np.random.Generator) else self._twin(a, memo)
                for a in args
            ]
            kwargs = {
                k: _replayed(v, states)
                if isinstance(v, np.random.Generator)
                else self._twin(v, memo)
                for k, v in kwargs.items()
            }
            return function(*args, **kwargs)
        if kind == "copy":
            original, edits_then = origin[1], origin[2]
            made = copy.deepcopy(self._made(original, {}))
            for name, assigned in self.edits.get(original, [])[:edits_then]:
                setattr(made, name, self._twin(assigned, memo))
            return made
        if kind == "attribute":
            return getattr(self._twin(origin[1], memo), origin[2])
        return self._from_state(proxy, memo)

    def _from_state(self, proxy, memo):
        """A twin of an object the grader did not see made: the instructor's class of the same
        name, with the student's attributes (plain data, and twins of the objects among them)."""
        cls = self._reference(type(proxy).__name__)
        made = cls.__new__(cls)
        memo[id(proxy)] = proxy, made
        for name, value in dict(vars(proxy)).items():
            if not name.startswith("__"):
                setattr(made, name, self._twin(value, memo))
        return made

    def _reference(self, name):
        found = self.namespace.get(name)
        if found is None:
            raise LookupError(f"the instructor's notebook defines no {name!r} to compare with")
        return found

    def _take_parameters(self, made, proxy, depth):
        """The student's values of the parameters the instructor's class declares, and the same
        for the layers it holds (a Sequential's), matched by position."""
        if depth > 8:
            return
        for name in parameter_names(made):
            value = getattr(proxy, name, None)
            mine = getattr(made, name)
            if isinstance(value, np.ndarray) and value.shape == np.shape(mine):
                setattr(made, name, np.array(value, dtype=np.asarray(mine).dtype))
        for name, held in list(vars(made).items()) if hasattr(made, "__dict__") else ():
            if (
                isinstance(held, (list, tuple))
                and held
                and all(hasattr(h, "forward") for h in held)
            ):
                theirs = getattr(proxy, name, None)
                if isinstance(theirs, (list, tuple)) and len(theirs) == len(held):
                    for mine, their in zip(held, theirs, strict=True):
                        if self.is_proxy(their):
                            self._take_parameters(mine, their, depth + 1)


def parameter_names(obj):
    """The parameter attributes of a trusted object: its `params`, else those of W, b it has."""
    declared = getattr(obj, "params", None)
    if isinstance(declared, (tuple, list)) and all(isinstance(n, str) for n in declared):
        return tuple(declared)
    return tuple(n for n in ("W", "b") if isinstance(getattr(obj, n, None), np.ndarray))


def _replayed(generator, states):
    """A new generator at the state `generator` had when the recorded call was made."""
    state = states.get(id(generator))
    twin = np.random.Generator(type(generator.bit_generator)())
    twin.bit_generator.state = copy.deepcopy(
        state if state is not None else generator.bit_generator.state
    )
    return twin


def _kept(value):
    """A value as it was when recorded: arrays (also in a list or tuple) are copied."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) in (list, tuple):
        return type(value)(_kept(item) for item in value)
    return value
