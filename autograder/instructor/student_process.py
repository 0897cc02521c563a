"""The program that runs inside the sandbox: the student's code, and nothing that scores it.

    python -I student_process.py READ_FD WRITE_FD

It runs the notebook cells the grader sends (the student's solution cells and
the course's setup cells) in one namespace, then answers the grader's requests
on the objects that code made: get a global, get or set an attribute, call,
iterate, copy. Results go back as plain data (protocol.py); any other object
stays here and the grader gets a reference to it. Objects of the grader's tests
that the student's code receives (a test's helper layer, say) stay with the
grader: using them sends a request back.

Nothing here decides a score: the grader runs the tests itself, on the data it
gets. This file and protocol.py are copied into the sandbox's working directory (/tmp/work).
"""

import copy
import io
import linecache
import os
import sys
import traceback
import types

import numpy as np

sys.path.insert(
    0, os.path.dirname(os.path.abspath(__file__))
)  # -I leaves out the script folder: protocol.py is there
from protocol import (  # noqa: E402
    OUTPUT_LIMIT,
    Channel,
    ProtocolError,
    changed_states,
    decode,
    encode,
    without_magics,
)

# Taken before the student's code runs: rebinding numpy's functions later does not change
# what this server reports (what it reports can only cost points anyway: see remote.py).
_array_equal = np.array_equal
_object_dict = object.__getattribute__


class CappedText(io.TextIOBase):
    """A text stream that keeps the first OUTPUT_LIMIT characters and counts the rest."""

    def __init__(self):
        self.parts, self.size, self.dropped = [], 0, 0

    def write(self, text):
        room = OUTPUT_LIMIT - self.size
        self.parts.append(text[: max(room, 0)])
        self.size += min(len(text), max(room, 0))
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def value(self):
        text = "".join(self.parts)
        return text + (f"\n[... {self.dropped} more characters not kept]" if self.dropped else "")


class GraderObject:
    """An object of the grader's tests, given to the student's code; using it asks the grader."""

    def __init__(self, server, export_id, type_name):
        object.__setattr__(self, "_server", server)
        object.__setattr__(self, "_export", export_id)
        object.__setattr__(self, "_type", type_name)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        answer = self._server.ask_grader(
            {"action": "getattr", "export": self._export, "name": name}
        )
        if isinstance(answer, dict) and answer.get("method"):
            return lambda *args, **kwargs: self._server.ask_grader(
                {
                    "action": "call",
                    "export": self._export,
                    "name": name,
                    "args": list(args),
                    "kwargs": kwargs,
                }
            )
        return answer

    def __call__(self, *args, **kwargs):
        return self._server.ask_grader(
            {
                "action": "call",
                "export": self._export,
                "name": None,
                "args": list(args),
                "kwargs": kwargs,
            }
        )

    def __repr__(self):
        return f"<{self._type} (grader)>"


class Server:
    def __init__(self, channel):
        self.channel = channel
        self.namespace = {"__name__": "__main__", "get_ipython": lambda: None}
        self.cells_run = 0
        self.objects, self.ref_of = {}, {}  # ref id -> object; id(object) -> ref id
        self.exports = {}  # the grader's objects seen here, by export id
        self.rngs, self.rng_states = {}, {}  # linked generators and their last reported state
        self.reported = {}  # ref of a watched array -> its bytes as the grader last received them

    # ------------------------------------------------------------- values

    def ref(self, value):
        key = id(value)
        if key not in self.ref_of:
            self.ref_of[key] = len(self.objects) + 1
            self.objects[self.ref_of[key]] = value
        return self.ref_of[key]

    def lineage(self, cls):
        return [[self.ref(c), c.__name__] for c in cls.__mro__ if c is not object]

    def encode_other(self, value):
        if isinstance(value, GraderObject):
            return {"export": value._export}
        if isinstance(value, np.random.Generator):
            for rid, rng in self.rngs.items():
                if rng is value:
                    return {"rng": [rid, rng.bit_generator.state]}
        if isinstance(value, np.ndarray):  # object dtype, subclasses are sent as plain arrays above
            raise TypeError(f"an array of dtype {value.dtype} cannot be sent")
        if isinstance(value, type):
            return {"ref": [self.ref(value), "class", self.lineage(value)]}
        if isinstance(value, types.MethodType) and value.__self__ is not None:
            owner = type(value.__self__)
            on_class = any(value.__name__ in vars(c) for c in owner.__mro__)
            return {"method": [self.ref(value), value.__name__, on_class]}
        return {"ref": [self.ref(value), "instance", self.lineage(type(value))]}

    def decode_other(self, tagged):
        ((tag, content),) = tagged.items()
        if tag == "ref" and content in self.objects:
            return self.objects[content]
        if tag == "export":
            export_id, type_name = content
            if export_id not in self.exports:
                self.exports[export_id] = GraderObject(self, export_id, type_name)
            return self.exports[export_id]
        if tag == "rng":
            rid, state = content
            if rid not in self.rngs:
                self.rngs[rid] = np.random.Generator(np.random.PCG64())
            self.rngs[rid].bit_generator.state = state
            self.rng_states[rid] = state
            return self.rngs[rid]
        raise ProtocolError(f"unknown reference {tag}")

    def send(self, body):
        try:
            data = encode(body, self.encode_other)
        except Exception as error:  # a value that cannot be sent: say so instead
            # The watched arrays counted as sent with it never left: send them all next time.
            self.reported.clear()
            data = encode(
                {
                    "raise": {
                        "type": "TypeError",
                        "message": f"cannot send the result: {error}",
                        "traceback": "",
                    }
                },
                self.encode_other,
            )
        self.channel.send(data)

    def watched(self, refs):
        """[[ref, current contents]] of the arrays the grader watches (see
        remote.RemoteObject.__dict__) that changed since the grader last received them: an
        unchanged array costs a comparison here instead of a copy through the pipe."""
        changed = []
        for ref in refs:
            array = self.objects.get(ref)
            if isinstance(array, np.ndarray):
                contents = self.contents(array)
                if self.reported.get(ref) != contents:
                    changed.append([ref, array])
                self.reported[ref] = contents
        return changed

    @staticmethod
    def contents(array):
        """What tells an array's state apart exactly (-0.0 from 0.0, one NaN from another)."""
        return array.dtype.str, array.shape, array.tobytes()

    def changed_rngs(self):
        return changed_states(self.rngs, self.rng_states)

    # ------------------------------------------------------------- requests

    def serve(self):
        # What the student's code prints outside of a cell (inside a method a test calls) is
        # kept in memory, capped, and dropped: it must not fill a disk or the grader's memory.
        sys.stdout = sys.stderr = CappedText()
        while True:
            sys.stdout.__init__()
            self.handle(decode(self.channel.receive(), self.decode_other))

    def ask_grader(self, request):
        """A callback to the grader; serves the grader's nested requests until it answers."""
        self.send({"callback": request, "rngs": self.changed_rngs()})
        while True:
            message = decode(self.channel.receive(), self.decode_other)
            if "op" in message:
                self.handle(message)
            elif "raise" in message:
                error = message["raise"]
                raise RuntimeError(f"{error.get('type')}: {error.get('message')}")
            else:
                return message.get("value")

    def handle(self, request):
        op = request.get("op")
        for rid, state in (request.get("rngs") or {}).items():  # the grader used a shared generator
            self.decode_other({"rng": [int(rid), state]})
        errstate = request.get("errstate")
        if isinstance(errstate, dict):  # the test's np.errstate applies to this code too
            np.seterr(
                **{k: v for k, v in errstate.items() if k in ("divide", "over", "under", "invalid")}
            )
        watch = [ref for ref in request.get("watch") or [] if isinstance(ref, int)]
        self.reported = {ref: self.reported[ref] for ref in watch if ref in self.reported}
        try:
            if op == "exec":
                value = self.run_cell(request["source"], request.get("cell"))
                self.send({"value": value, "rngs": self.changed_rngs()})
                return
            value, changed = self.apply(op, request)
            self.send(
                {
                    "value": value,
                    "changed": changed,
                    "rngs": self.changed_rngs(),
                    "watched": self.watched(watch),
                }
            )
        except BaseException as error:  # noqa: BLE001 (SystemExit included: the student's, not ours)
            self.send(
                {
                    "raise": {
                        "type": type(error).__name__,
                        "message": str(error)[:4000],
                        "traceback": "".join(traceback.format_exception(error))[-8000:],
                    },
                    "rngs": self.changed_rngs(),
                }
            )

    def apply(self, op, request):
        target = request.get("target")
        if op == "global":
            name = request["name"]
            if name not in self.namespace:
                raise NameError(f"name {name!r} is not defined")
            return self.namespace[name], []
        if op == "getattr":
            return getattr(target, request["name"]), []
        if op == "setattr":
            setattr(target, request["name"], request["value"])
            return None, []
        if op == "callmethod":
            target = getattr(target, request["name"])
            op = "call"
        if op == "call":
            args, kwargs = request["args"], request["kwargs"]
            before = [(i, a.copy()) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
            result = target(*args, **kwargs)
            changed = [
                [i, args[i]] for i, old in before if not _array_equal(args[i], old, equal_nan=True)
            ]
            return result, changed
        if op == "iter":
            return iter(target), []
        if op == "next":
            try:
                return {"item": next(target)}, []
            except StopIteration:
                return {"stop": True}, []
        if op == "len":
            return len(target), []
        if op == "getitem":
            return target[request["key"]], []
        if op == "repr":
            return repr(target)[:2000], []
        if op == "deepcopy":
            return copy.deepcopy(target), []
        if op == "vars":  # the arrays come with references, for the grader to watch them
            attributes = dict(
                _object_dict(target, "__dict__")
            )  # past any __getattribute__ of its class
            refs = {
                name: self.ref(value)
                for name, value in attributes.items()
                if isinstance(value, np.ndarray)
            }
            for name, ref in refs.items():  # the grader's copy starts as these contents
                self.reported[ref] = self.contents(attributes[name])
            return {"values": attributes, "refs": refs}, []
        raise ProtocolError(f"unknown request {op!r}")

    def run_cell(self, source, cell=None):
        """Run a cell's code (IPython magics skipped); returns its stdout, stderr and error.
        cell: its number in the graded notebook (the feedback's In [n]), which names it in
        tracebacks as IPython does."""
        stdout, stderr = CappedText(), CappedText()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        error = None
        # Each cell under its own name, its lines in linecache: a traceback shows the
        # student's line of code, as Jupyter does.
        self.cells_run += 1
        name = f"Cell In[{cell if isinstance(cell, int) else self.cells_run}]"
        code = without_magics(source)
        linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
        try:
            exec(compile(code, name, "exec"), self.namespace)
        except BaseException as exc:  # noqa: BLE001
            error = {
                "ename": type(exc).__name__,
                "evalue": str(exc)[:4000],
                "traceback": "".join(traceback.format_exception(exc))[-8000:],
            }
        finally:
            sys.stdout, sys.stderr = saved
        return {"stdout": stdout.value(), "stderr": stderr.value(), "error": error}


def main():
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    channel = Channel(read_fd, write_fd)
    try:
        Server(channel).serve()
    except Exception:
        pass  # the grader closed the channel, or sent garbage: nothing left to do


if __name__ == "__main__":
    main()
