"""The wire format between the grader and the student's sandboxed process: plain data only.

A message is a JSON header followed by the raw bytes of the arrays it carries:

    8 bytes: header length, payload length (big-endian uint32 each)
    header:  JSON {"body": <value>, "arrays": [{"dtype": "<f8", "shape": [2, 3]}, ...]}
    payload: the arrays' bytes, one after another

A value is JSON (None, bool, int, finite float, str) or one of these tagged forms:
{"nd": i} the i-th array (numeric or bool dtype only), {"float": "nan"|"inf"|"-inf"},
{"list": [...]}, {"tuple": [...]}, {"dict": [[key, value], ...]} (str keys), and
the references the two sides define ({"ref": ...} objects living in the student's
process, {"export": ...} objects living in the grader's, {"rng": ...} random generators).

Nothing is ever unpickled: an array is rebuilt from its dtype, shape and bytes, and
everything else is JSON. Decoding is bounded: the header's size (MAX_HEADER) and its
count of JSON containers (MAX_CONTAINERS, checked before it is parsed: the parsed
objects are the grader's memory), the number of arrays (MAX_ARRAYS), their dtypes
(plain numeric ones), and their elements (the payload, MAX_PAYLOAD bytes, holds them
all); values nest at most MAX_DEPTH deep. A channel's reads and writes have deadlines
(Channel). This file is also copied into the sandbox, so it imports nothing from the package.
"""

import json
import math
import os
import re
import select
import struct
import time

import numpy as np

MAX_HEADER = 8 * 2**20
MAX_CONTAINERS = 250_000  # JSON lists and objects in a header: about 25 MB once parsed
MAX_PAYLOAD = 512 * 2**20
MAX_ARRAYS = 65_536
DTYPE = re.compile(r"[<>|=]?(b1|[iu][1248]|f(2|4|8|12|16))")  # bool, signed, unsigned, float
ARRAY_KINDS = "biuf"  # what a gradient check can compare
MAX_DEPTH = 32
PIPE_CHUNK = 1 << 20  # bytes per read or write system call
# Characters of a cell's output kept: the student's process keeps this much of its stdout and
# stderr per cell, and the grader this much of any output text it stores in the notebook.
OUTPUT_LIMIT = 64 * 1024


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


class Timeout(Exception):
    """No reply within the time limit."""


class Closed(Exception):
    """The other side closed the channel (its process ended)."""


# ----------------------------------------------------------------- encoding


def encode(body, encode_other):
    """bytes of a message. encode_other(value) -> a tagged dict, for values that are not
    plain data (references); it raises TypeError for what may not be sent."""
    arrays, chunks = [], []

    def walk(value, depth):
        if depth > MAX_DEPTH:
            raise TypeError("a value nested too deep to send")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.ndarray) and value.dtype.kind in ARRAY_KINDS:
            data = np.asarray(value, order="C")  # a plain array, 0-d stays 0-d
            arrays.append({"dtype": data.dtype.str, "shape": list(data.shape)})
            chunks.append(data.tobytes())  # the copy that is sent
            return {"nd": len(arrays) - 1}
        if type(value) is list:
            return {"list": [walk(v, depth + 1) for v in value]}
        if type(value) is tuple:
            return {"tuple": [walk(v, depth + 1) for v in value]}
        if type(value) is dict and all(isinstance(k, str) for k in value):
            return {"dict": [[k, walk(v, depth + 1)] for k, v in value.items()]}
        return encode_other(value)

    header = json.dumps({"body": walk(body, 0), "arrays": arrays}, allow_nan=False).encode()
    if len(header) > MAX_HEADER or len(arrays) > MAX_ARRAYS or sum(map(len, chunks)) > MAX_PAYLOAD:
        raise TypeError("a value too large to send")
    payload = b"".join(chunks)
    return struct.pack(">II", len(header), len(payload)) + header + payload


def decode(message, decode_other):
    """The value of a message (header bytes, payload bytes or bytearray). decode_other(tagged dict)
    ->
    value, for the reference tags; it raises ProtocolError for unknown ones."""
    header, payload = message
    if len(header) > MAX_HEADER or header.count(b"[") + header.count(b"{") > MAX_CONTAINERS:
        raise ProtocolError("a header too large to decode")
    try:
        parsed = json.loads(header)
        specs, body = parsed["arrays"], parsed["body"]
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise ProtocolError(f"not a valid header: {type(error).__name__}") from None
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise ProtocolError("not a valid list of arrays")
    arrays, offset = [], 0
    for spec in specs:
        try:
            if not (type(spec["dtype"]) is str and DTYPE.fullmatch(spec["dtype"])):
                raise ValueError
            dtype = np.dtype(spec["dtype"])
            if not (
                isinstance(spec["shape"], list)
                and len(spec["shape"]) <= 32
                and all(type(n) is int and n >= 0 for n in spec["shape"])
            ):
                raise ValueError
            shape = tuple(spec["shape"])
        except Exception:
            raise ProtocolError(f"refused array description: {str(spec)[:200]}") from None
        count = math.prod(shape)
        size = dtype.itemsize * count
        if offset + size > len(payload):
            raise ProtocolError("the arrays are larger than the payload")
        arrays.append(np.frombuffer(payload, dtype, count, offset).reshape(shape).copy())
        offset += size

    def walk(value, depth):
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deep")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            raise ProtocolError(f"not a valid value: {str(value)[:200]}")
        ((tag, content),) = value.items()
        if tag == "nd" and type(content) is int and 0 <= content < len(arrays):
            return arrays[content]
        if tag == "float" and content in ("nan", "inf", "-inf"):
            return float(content)
        if tag in ("list", "tuple") and isinstance(content, list):
            items = [walk(v, depth + 1) for v in content]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(content, list):
            if not all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in content
            ):
                raise ProtocolError("not a valid dict")
            return {k: walk(v, depth + 1) for k, v in content}
        return decode_other(value)

    return walk(body, 0)


def changed_states(generators, last_sent):
    """{str(id): state} of the shared random generators whose state changed since it was last
    sent (both sides send these with every message); updates last_sent."""
    changed = {}
    for key, generator in generators.items():
        state = generator.bit_generator.state
        if state != last_sent.get(key):
            last_sent[key] = changed[str(key)] = state
    return changed


MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)


def without_magics(source):
    """Cell code with IPython's line magics and shell escapes replaced by `pass` (indent kept)."""
    return MAGIC.sub(r"\1pass", source)


# ----------------------------------------------------------------- the channel


class Channel:
    """Messages over a pair of file descriptors (pipes), every read and write bounded in time.

    timeout: the seconds a send or receive may take when the call gives none (None: no limit;
    the grader's side always has one). Writes are non-blocking, so a process that stops
    reading makes send() raise Timeout instead of blocking the writer forever."""

    def __init__(self, read_fd, write_fd, timeout=None):
        self.read_fd, self.write_fd, self.timeout = read_fd, write_fd, timeout
        os.set_blocking(write_fd, False)

    def _deadline(self, timeout):
        timeout = self.timeout if timeout is None else timeout
        return None if timeout is None else time.monotonic() + timeout

    def _wait(self, fd, writing, deadline):
        """Until fd is readable (writable); Timeout once the deadline has passed."""
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise Timeout()
        ready = select.select([], [fd], [], left) if writing else select.select([fd], [], [], left)
        if not any(ready):
            raise Timeout()

    def send(self, data, timeout=None):
        """Write a message (bytes from encode()); Timeout if the other side does not take it in
        time."""
        deadline = self._deadline(timeout)
        view = memoryview(data)
        while view:
            self._wait(self.write_fd, True, deadline)
            try:
                written = os.write(self.write_fd, view[:PIPE_CHUNK])
            except BlockingIOError:  # another writer filled the pipe first
                continue
            view = view[written:]

    def receive(self, timeout=None):
        """(header bytes, payload bytearray) of the next message; Timeout, Closed or
        ProtocolError."""
        deadline = self._deadline(timeout)
        sizes = self._read(8, deadline)
        header_size, payload_size = struct.unpack(">II", sizes)
        if header_size > MAX_HEADER or payload_size > MAX_PAYLOAD:
            raise ProtocolError(f"message too large ({header_size} + {payload_size} bytes)")
        return bytes(self._read(header_size, deadline)), self._read(payload_size, deadline)

    def _read(self, size, deadline):
        """Exactly `size` bytes, read into one buffer (no second copy of a large payload)."""
        buffer = bytearray(size)
        view, done = memoryview(buffer), 0
        while done < size:
            if deadline is not None:
                self._wait(self.read_fd, False, deadline)
            count = os.readv(self.read_fd, [view[done : done + PIPE_CHUNK]])
            if not count:
                raise Closed()
            done += count
        return buffer
