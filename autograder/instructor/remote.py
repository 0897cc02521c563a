"""The grader's side of the student's process: its objects, seen through proxies.

The course's test cells run here, in the grader, unchanged. The names they use
that the student's code defines (`ReLU`, `softmax`, `xor_model`) are looked up
in the student's process and come back as plain data (arrays, numbers, strings,
lists) or as proxies. A proxy forwards attribute access, calls, iteration and
copies to the student's process; what comes back is again plain data or a
proxy. A proxy has the student's class name (``type(layer).__name__`` reads
"Linear") and no comparison, arithmetic or ``__array__`` of its own: whatever
the student's objects claim about themselves, a test compares real numpy
arrays built here from bytes.

Objects of the tests that the student's code receives (a test's helper layer)
stay here; the student's process asks for their attributes and calls them.
Random generators passed to the student's code are shared: their state is
copied back and forth with every request, so a test's ``rng`` advances as if
the code had run in the same process.
"""

import ast
import builtins
import inspect
import time
import weakref

import numpy as np

from .protocol import (
    Closed,
    ProtocolError,
    Timeout,
    changed_states,
    decode,
    encode,
    without_magics,
)

CELL_MODULE = "__grader__"  # the __name__ of the namespace the test cells run in


class StudentError(Exception):
    """An exception raised by the student's code (its type name, message and traceback)."""

    def __init__(self, type_name, message, traceback=""):
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message, self.student_traceback = type_name, message, traceback


class StudentProcessLost(Exception):
    """The student's process died, hung or broke the protocol; the request has no answer."""


class OutOfTime(BaseException):
    """The cell ran past its wall-clock limit. A BaseException, so that a test's
    ``except Exception`` cannot swallow it and go on asking the student's code."""


_error_classes = {}


def student_error(type_name, message, traceback):
    """A StudentError that is also the builtin exception of that name (AttributeError, KeyError,
    ...), so that getattr defaults and `except KeyError` in a test behave as usual."""
    builtin = getattr(builtins, type_name, None)
    if (
        not (isinstance(builtin, type) and issubclass(builtin, Exception))
        or builtin is StopIteration
    ):
        builtin = None
    if type_name not in _error_classes:
        bases = (StudentError, builtin) if builtin else (StudentError,)
        _error_classes[type_name] = type(
            type_name,
            bases,
            {"__init__": StudentError.__init__, "__str__": lambda self: f"{self.message}"},
        )
    return _error_classes[type_name](type_name, message, traceback)


class RemoteClass(type):
    """The metaclass of proxy classes: calling one constructs the object in the student's
    process."""

    def __call__(cls, *args, **kwargs):
        return cls._student.call(cls, args, kwargs)

    def __repr__(cls):
        return f"<class {cls.__name__!r} of the student's code>"


class RemoteObject:
    """A proxy of an object in the student's process."""

    __slots__ = ("_ref", "__weakref__")
    _student = None  # set on each proxy class
    _methods = frozenset()

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith(
            "__"
        ):  # no __array__, __eq__, ... from the student
            raise AttributeError(name)
        if name in type(self)._methods:  # a method seen before: no round trip to fetch it
            return RemoteMethod(self, name)
        value = self._student.request("getattr", target=self, name=name)
        if isinstance(value, BoundMethod) and value.on_class:
            type(self)._methods = type(self)._methods | {name}
            return RemoteMethod(self, name)
        if self._student.referee is not None:
            self._student.referee.attribute(value, self, name)
        return value

    def __setattr__(self, name, value):
        if name in RemoteObject.__slots__:
            object.__setattr__(self, name, value)
        else:
            self._student.request("setattr", target=self, name=name, value=value)
            if self._student.referee is not None:
                self._student.referee.assigned(self, name, value)

    def __call__(self, *args, **kwargs):
        return self._student.call(self, args, kwargs)

    def __iter__(self):
        iterator = self._student.request("iter", target=self)
        while True:
            step = self._student.request("next", target=iterator)
            if "stop" in step:
                return
            yield step["item"]

    def __next__(self):
        step = self._student.request("next", target=self)
        if "stop" in step:
            raise StopIteration
        return step["item"]

    def __len__(self):
        return self._student.request("len", target=self)

    def __getitem__(self, key):
        return self._student.request("getitem", target=self, key=key)

    def __repr__(self):
        return self._student.request("repr", target=self)

    def __deepcopy__(self, memo):
        return self._student.copy(self)

    @property
    def __dict__(self):
        """vars(proxy): the object's attributes as data. Its arrays are watched: when a request
        changes one in the student's process, our copy is refreshed in place with the answer,
        so that a check that kept them sees the student's code change them (check_layer's
        "backward changed what forward stored"). Unchanged arrays do not travel."""
        found = self._student.request("vars", target=self)
        for name, ref in found["refs"].items():
            self._student.watch(found["values"][name], ref)
        return found["values"]

    def __copy__(self):
        return self._student.copy(self)

    def student_source_of(self, method):
        """Where the student wrote `method` of this object's class (StudentCode.method_source):
        what a failed check points at (autograder.student.display)."""
        return self._student.method_source(type(self).__name__, method)


class RemoteMethod:
    """A bound method of a proxy: calling it is one request."""

    __slots__ = ("owner", "name")

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __call__(self, *args, **kwargs):
        return self.owner._student.request(
            "callmethod", target=self.owner, name=self.name, args=list(args), kwargs=kwargs
        )

    def __repr__(self):
        return f"<method {self.name} of {type(self.owner).__name__} (student)>"


class BoundMethod:
    """A bound method in the student's process, as returned by an attribute lookup."""

    def __init__(self, student, ref, name, on_class):
        self._student, self._ref, self.name, self.on_class = student, ref, str(name), bool(on_class)

    def __call__(self, *args, **kwargs):
        return self._student.request("call", target=self, args=list(args), kwargs=kwargs)

    def __repr__(self):
        return f"<method {self.name} (student)>"


class StudentCode:
    """Requests to one student process over a protocol.Channel, and the proxies they return."""

    def __init__(self, channel, timeout):
        self.channel, self.timeout = channel, timeout
        self.proxies, self.classes = {}, {}  # ref id -> proxy object / proxy class
        self.exports, self.export_of = {}, {}  # export id -> grader object; id(object) -> export id
        self.rngs, self.rng_of, self.rng_seen = {}, {}, {}  # shared generators and their last state
        self.lost = None  # why the process is gone, once it is
        self.deadline = None  # time.monotonic() by which the current cell must be done
        self.watched = weakref.WeakValueDictionary()  # ref in the student's process -> our copy
        self.referee = None  # a referee.Referee, told how the tests made each object
        self.cells = {}  # notebook cell number -> the source sent to run there

    def call(self, target, args, kwargs):
        """target(*args, **kwargs) in the student's process, for a class or function proxy."""
        replay = self.referee.before_call(args, kwargs) if self.referee is not None else None
        value = self.request("call", target=target, args=list(args), kwargs=kwargs)
        if replay is not None:
            self.referee.called(value, target, replay)
        return value

    def copy(self, target):
        value = self.request("deepcopy", target=target)
        if self.referee is not None:
            self.referee.copied(value, target)
        return value

    # ------------------------------------------------------------- requests

    def request(self, op, timeout=None, **fields):
        """Send a request, serve the student's callbacks, return the decoded answer."""
        if self.lost:
            raise StudentProcessLost(self.lost)
        timeout = timeout or self.timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise OutOfTime("the cell ran past its time limit")
            timeout = min(timeout, left)
        fields["rngs"] = self._rngs_to_send()
        fields["errstate"] = np.geterr()
        fields["watch"] = list(
            self.watched
        )  # a test's np.errstate(over="raise") holds for the student's code too
        data = encode({"op": op, **fields}, self._encode_other)  # a TypeError here is the test's
        try:
            message = self._exchange(data, timeout)
        except Timeout:
            self.lost = f"no answer within {timeout:.0f} s"
        except Closed:
            self.lost = "the student's process ended (os._exit, a crash, or a resource limit)"
        except (ProtocolError, OSError, ValueError, RecursionError) as error:
            self.lost = f"the student's process broke the protocol ({error})"
        if self.lost:
            raise StudentProcessLost(self.lost)
        if "raise" in message:
            error = message["raise"]
            raise student_error(
                str(error.get("type")), str(error.get("message")), str(error.get("traceback"))
            )
        for ref, contents in message.get("watched") or []:
            array = self.watched.get(ref)
            if (
                array is not None
                and isinstance(contents, np.ndarray)
                and contents.shape == array.shape
            ):
                array[...] = contents
        for index, array in message.get("changed") or []:  # arguments the call modified in place
            argument = fields.get("args", [])[index] if op in ("call", "callmethod") else None
            if (
                isinstance(argument, np.ndarray)
                and isinstance(array, np.ndarray)
                and array.shape == argument.shape
            ):
                argument[...] = array
        return message.get("value")

    def _exchange(self, data, timeout):
        """Send an encoded request and serve callbacks until the answer (a decoded dict) arrives,
        all within `timeout` seconds: callbacks do not buy the student's code more time."""
        until = time.monotonic() + timeout
        self.channel.send(data, timeout)
        while True:
            left = until - time.monotonic()
            if left <= 0:
                raise Timeout()
            message = decode(self.channel.receive(left), self._decode_other)
            if not isinstance(message, dict):
                raise ProtocolError("an answer that is not a message")
            self._receive_rngs(message.get("rngs") or {})
            if "callback" not in message:
                return message
            self._answer_callback(message["callback"])

    def watch(self, array, ref):
        """Keep `array` (our copy of the student's array `ref`) up to date while it is alive."""
        if isinstance(array, np.ndarray):
            self.watched[ref] = array

    def run_cell(self, source, timeout, cell=None):
        """Run cell code in the student's process: {"stdout", "stderr", "error"}. cell: its
        number in the notebook (In [n]), for the student's tracebacks."""
        if cell is not None:
            self.cells[cell] = source  # the grader's own copy: where a failed check points
        return self.request("exec", timeout=timeout, source=source, cell=cell)

    def method_source(self, class_name, method):
        """(source lines, first line number, "Cell In[n]") of `class_name.method` as the last
        cell defining that class wrote it, from the cells this grader sent; None if none did."""
        for number in sorted(self.cells, reverse=True):
            code = without_magics(self.cells[number])
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and node.name == class_name:
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef) and item.name == method:
                            body = code.splitlines()[item.lineno - 1 : item.end_lineno]
                            return body, item.lineno, f"Cell In[{number}]"
                    return None
        return None

    def global_name(self, name):
        return self.request("global", name=name)

    # ------------------------------------------------------------- encoding

    def _encode_other(self, value):
        if isinstance(value, (RemoteObject, RemoteClass, BoundMethod)):
            if value._student is not self:
                raise TypeError("an object of an earlier run of the student's code")
            return {"ref": value._class_ref if isinstance(value, RemoteClass) else value._ref}
        if isinstance(value, np.random.Generator):
            rid = self.rng_of.setdefault(id(value), len(self.rng_of) + 1)
            self.rngs[rid] = value
            self.rng_seen[rid] = value.bit_generator.state
            return {"rng": [rid, value.bit_generator.state]}
        if getattr(type(value), "__module__", None) == CELL_MODULE or (
            inspect.isfunction(value) and value.__module__ == CELL_MODULE
        ):
            eid = self.export_of.setdefault(id(value), len(self.export_of) + 1)
            self.exports[eid] = value
            return {"export": [eid, type(value).__name__]}
        raise TypeError(f"a {type(value).__name__} cannot be given to the student's code")

    def _decode_other(self, tagged):
        ((tag, content),) = tagged.items()
        if tag == "ref" and isinstance(content, list) and len(content) == 3:
            ref, kind, lineage = content
            cls = self._proxy_class(lineage)
            if kind == "class":
                return cls
            if ref not in self.proxies:
                proxy = object.__new__(cls)
                object.__setattr__(proxy, "_ref", ref)
                self.proxies[ref] = proxy
            return self.proxies[ref]
        if tag == "method" and isinstance(content, list) and len(content) == 3:
            return BoundMethod(self, *content)
        if tag == "export" and content in self.exports:
            return self.exports[content]
        if tag == "rng" and isinstance(content, list) and content[0] in self.rngs:
            return self.rngs[content[0]]
        raise ProtocolError(f"unknown reference {str(tagged)[:100]}")

    def _proxy_class(self, lineage):
        """The proxy class of a student class, given its MRO [[ref, name], ...] (object left out):
        one class per student class, subclassing the proxy of the next class in the MRO."""
        base = RemoteObject
        for ref, name in reversed(lineage):
            if ref not in self.classes:
                cls = RemoteClass(str(name), (base,), {"__slots__": (), "_student": self})
                type.__setattr__(cls, "_class_ref", ref)
                self.classes[ref] = cls
            base = self.classes[ref]
        return base

    # ------------------------------------------------------------- shared generators

    def _rngs_to_send(self):
        return changed_states(self.rngs, self.rng_seen)

    def _receive_rngs(self, states):
        for rid, state in states.items():
            rng = self.rngs.get(int(rid))
            if rng is not None and isinstance(state, dict):
                try:
                    rng.bit_generator.state = state
                except (TypeError, ValueError, KeyError):
                    raise ProtocolError("an invalid generator state") from None
                self.rng_seen[int(rid)] = rng.bit_generator.state

    # ------------------------------------------------------------- callbacks

    def _answer_callback(self, callback):
        """The student's code uses an object of the tests: only its public attributes and
        methods, never anything reachable from it."""
        try:
            obj = self.exports[callback["export"]]
            name = callback.get("name")
            if name is not None and (not isinstance(name, str) or name.startswith("_")):
                raise AttributeError(f"{name!r} is not available to the student's code")
            if callback["action"] == "getattr":
                value = getattr(obj, name)
                answer = (
                    {"method": True} if inspect.ismethod(value) and value.__self__ is obj else value
                )
            elif callback["action"] == "call":
                function = obj if name is None else getattr(obj, name)
                if name is not None and not (
                    inspect.ismethod(function) and function.__self__ is obj
                ):
                    raise TypeError(f"{name} is not a method")
                answer = function(*callback.get("args", []), **callback.get("kwargs", {}))
            else:
                raise ProtocolError("unknown callback")
            self.channel.send(
                encode({"value": answer, "rngs": self._rngs_to_send()}, self._encode_other)
            )
        except (ProtocolError, KeyError) as error:
            raise ProtocolError(f"invalid callback: {error}") from None
        except Exception as error:
            self.channel.send(
                encode(
                    {
                        "raise": {"type": type(error).__name__, "message": str(error)[:2000]},
                        "rngs": {},
                    },
                    self._encode_other,
                )
            )


class Namespace(dict):
    """The globals of the test cells: their own names first, then the student's."""

    def __init__(self, student):
        super().__init__(__name__=CELL_MODULE, __builtins__=builtins)
        self.student = student

    def __missing__(self, name):
        if hasattr(builtins, name) or name.startswith("__"):
            raise KeyError(name)
        try:
            value = self.student.global_name(name)
        except NameError:
            raise KeyError(name) from None
        if self.student.referee is not None:
            self.student.referee.global_name(value, name)
        return value
