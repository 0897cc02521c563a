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
everything else is JSON. Sizes are capped so that a message can never make the
grader allocate more than MAX_PAYLOAD bytes. This file is also copied into the
sandbox, so it imports nothing from the package.
"""

import json
import math
import os
import re
import select
import struct
import time

import numpy as np

MAX_HEADER = 16 * 2**20
MAX_PAYLOAD = 512 * 2**20
ARRAY_KINDS = "biuf"  # bool, signed, unsigned, float: what a gradient check can compare
MAX_DEPTH = 32


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
            data = np.array(value, order="C", copy=True, subok=False)  # 0-d stays 0-d
            arrays.append({"dtype": data.dtype.str, "shape": list(data.shape)})
            chunks.append(data.tobytes())
            return {"nd": len(arrays) - 1}
        if type(value) is list:
            return {"list": [walk(v, depth + 1) for v in value]}
        if type(value) is tuple:
            return {"tuple": [walk(v, depth + 1) for v in value]}
        if type(value) is dict and all(isinstance(k, str) for k in value):
            return {"dict": [[k, walk(v, depth + 1)] for k, v in value.items()]}
        return encode_other(value)

    header = json.dumps({"body": walk(body, 0), "arrays": arrays}, allow_nan=False).encode()
    payload = b"".join(chunks)
    return struct.pack(">II", len(header), len(payload)) + header + payload


def decode(message, decode_other):
    """The value of a message (header bytes, payload bytes). decode_other(tagged dict) ->
    value, for the reference tags; it raises ProtocolError for unknown ones."""
    header, payload = message
    try:
        parsed = json.loads(header)
        specs, body = parsed["arrays"], parsed["body"]
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise ProtocolError(f"not a valid header: {type(error).__name__}") from None
    arrays, offset = [], 0
    for spec in specs:
        try:
            dtype = np.dtype(spec["dtype"])
            shape = tuple(int(n) for n in spec["shape"])
        except Exception:
            raise ProtocolError(f"not a valid array description: {str(spec)[:200]}") from None
        if dtype.kind not in ARRAY_KINDS or dtype.hasobject or any(n < 0 for n in shape) or len(shape) > 32:
            raise ProtocolError(f"refused array of dtype {dtype} and shape {shape}")
        size = dtype.itemsize * math.prod(shape)
        if offset + size > len(payload):
            raise ProtocolError("the arrays are larger than the payload")
        arrays.append(np.frombuffer(payload, dtype, math.prod(shape), offset).reshape(shape).copy())
        offset += size

    def walk(value, depth):
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deep")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            raise ProtocolError(f"not a valid value: {str(value)[:200]}")
        (tag, content), = value.items()
        if tag == "nd" and isinstance(content, int) and 0 <= content < len(arrays):
            return arrays[content]
        if tag == "float" and content in ("nan", "inf", "-inf"):
            return float(content)
        if tag in ("list", "tuple") and isinstance(content, list):
            items = [walk(v, depth + 1) for v in content]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(content, list):
            pairs = [(k, walk(v, depth + 1)) for k, v in content if isinstance(k, str)]
            return dict(pairs)
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
    """Messages over a pair of file descriptors (pipes)."""

    def __init__(self, read_fd, write_fd):
        self.read_fd, self.write_fd = read_fd, write_fd

    def send(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.write_fd, view)
            view = view[written:]

    def receive(self, timeout=None):
        """(header bytes, payload bytes) of the next message; Timeout, Closed or ProtocolError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sizes = self._read(8, deadline)
        header_size, payload_size = struct.unpack(">II", sizes)
        if header_size > MAX_HEADER or payload_size > MAX_PAYLOAD:
            raise ProtocolError(f"message too large ({header_size} + {payload_size} bytes)")
        return self._read(header_size, deadline), self._read(payload_size, deadline)

    def _read(self, size, deadline):
        parts, remaining = [], size
        while remaining:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                    raise Timeout()
            chunk = os.read(self.read_fd, min(remaining, 1 << 20))
            if not chunk:
                raise Closed()
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)
