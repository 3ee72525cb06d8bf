"""Wire format between the grader and the sandboxed worker: never pickle.

A message is ``struct("!II")`` = (length of the JSON header, number of buffers),
the UTF-8 JSON header, then each buffer as ``struct("!Q")`` length + raw bytes.
Values travel as plain data (see :func:`encode`): ``None``/bool/int/float/str,
lists, tuples, dicts, bytes, numpy arrays of numeric, bool or fixed-width string
dtype (sent as raw bytes with dtype and shape; object dtype is refused), numpy
scalars, torch tensors (sent as arrays, tagged, rebuilt as tensors on the other
side) and remote references (``{"$t": "ref"}``) for everything else.
"""
from __future__ import annotations

import builtins
import importlib.util
import json
import math
import os
import select
import struct
import threading
import time
from enum import StrEnum

import numpy as np

HEAD = struct.Struct("!II")
BUFLEN = struct.Struct("!Q")
MAX_JSON = 32 << 20          # a header larger than this is a protocol violation
MAX_BUFFERS = 100_000
ALLOWED_KINDS = set("biufcSU")  # numpy dtype kinds that may cross
MAX_DEPTH = 200
# The names Python provides without an import, as this process's interpreter has them when the
# protocol is loaded (before the worker adds ``display``). Both sides leave them out of the
# student's names: the worker lists a student's global that shadows one, remote.py keeps them out
# of graded_names and of the namespace a test cell sees.
BUILTIN_NAMES = frozenset(dir(builtins))


class Op(StrEnum):
    """What the grader asks the worker (``{"op": ...}`` in a request's JSON header: a plain string
    on the wire). remote.py sends them, worker.py's ``dispatch`` serves them."""
    LOAD = "load"            # run the student's extracted definitions
    CALL = "call"            # call a remote object with plain-data arguments
    RUN = "run"              # run public code (a public test's run_student, a probe) in the student's namespace
    GETATTR = "getattr"
    SETATTR = "setattr"
    LEN = "len"
    ITER = "iter"
    GETITEM = "getitem"
    CONTAINS = "contains"
    REPR = "repr"
    STR = "str"
    THREADS = "threads"      # how many Python threads the student's code left running
    RELEASE = "release"      # forget remote references


class Fault(StrEnum):
    """Why the sandbox gave no answer to a request (``sandbox.SandboxFault.kind``). Not a status:
    remote.FAULT_OUTCOME maps each to the status of the test it stopped, in one place."""
    TIMEOUT = "timeout"      # the CPU limit of the request, or the wall-clock backstop
    MEMORY = "memory"        # killed for its memory (cgroup), or its answer too big for the grader's memory
    CRASH = "crash"          # the process died, exited, or sent an invalid answer


class Failure(StrEnum):
    """Why the worker answered a request with an error (``{"ok": false, "error": {"kind": ...}}``:
    a plain string on the wire). worker.describe_exception sets it, remote.Session.op reads it;
    like everything from the sandbox it is a claim of the student's side, trusted only to hurt
    that student's own test."""
    RAISED = "raised"        # the code raised an exception: raised again in the grader as the student's
    FORBIDDEN = "forbidden"  # it reached an API the assignment forbids
    MEMORY = "memory"        # a MemoryError in the sandbox
    NO_RESULT = "no_result"  # a "run" request: the checked code did not set `result` (:class:`NoResult`)


class NoResult(Exception):
    """The checked code of a "run" request (a public test's ``run_student``, a probe) did not set
    ``result``: raised by the worker (``Failure.NO_RESULT`` on the wire) and again in the grader,
    where ``Session.run_student`` turns it into the test's failure; matched by type, never by text."""


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


class PeerGone(Exception):
    """The other side closed the pipe (the sandbox died)."""


class Timeout(Exception):
    """A deadline passed while waiting for the other side."""


class NotEncodable(TypeError):
    """A value that cannot travel as plain data."""


class TooLarge(ProtocolError):
    """A value or a message is larger than the receiving side accepts (:class:`Budget` while
    decoding, ``Reader.max_bytes`` while reading)."""


class Budget:
    """What one decoded value may cost the receiving side: ``items`` Python objects (list,
    tuple and dict entries, numbers, strings...) and ``nbytes`` bytes of arrays and bytes.

    Checked while decoding, so refusing a huge value costs at most the budget itself
    (a 4.5-million-element list sent back is refused after ``items`` nodes, never copied).
    """

    __slots__ = ("items", "nbytes", "max_items", "max_nbytes")

    def __init__(self, items: int = 1_000_000, nbytes: int = 1 << 40):
        self.items = self.max_items = int(items)
        self.nbytes = self.max_nbytes = int(nbytes)

    def take(self, items: int = 1, nbytes: int = 0) -> None:
        self.items -= items
        self.nbytes -= nbytes
        if self.items < 0:
            raise TooLarge(f"more than {self.max_items:,} items (lists, tuples and dicts count each element)")
        if self.nbytes < 0:
            raise TooLarge(f"more than {self.max_nbytes / 2**20:,.0f} MB of arrays")

    @property
    def used_items(self) -> int:
        return self.max_items - self.items

    @property
    def used_nbytes(self) -> int:
        return self.max_nbytes - self.nbytes


# ----------------------------------------------------------------------------- torch

# The torch module, imported whole once (:func:`load_torch`): decoding a tensor never imports
# torch lazily on a grading thread (a second thread would see a half-initialised module),
# and encoding never looks torch up at all (a tensor is recognised by its own type).
_TORCH_LOCK = threading.Lock()
_TORCH: list = []          # [] not loaded yet; [module] or [None] (not installed)


def load_torch():
    """The torch module (imported now if need be, under a lock), or None when torch is not
    installed. The grader calls it before its thread pool starts (grader_process.prepare_grader)."""
    if _TORCH:
        return _TORCH[0]
    with _TORCH_LOCK:
        if not _TORCH:
            mod = None
            if importlib.util.find_spec("torch") is not None:
                import torch as mod
            _TORCH.append(mod)
        return _TORCH[0]


def _is_tensor(value) -> bool:
    """A plain ``torch.Tensor`` (not a subclass such as ``Parameter``), recognised by its type:
    no access to the torch module, which another thread may still be importing."""
    t = type(value)
    return t.__name__ == "Tensor" and t.__module__ == "torch" and t.__qualname__ == "Tensor"


# ----------------------------------------------------------------------------- encoding


def encode(value, bufs: list, arrays: list | None = None, to_ref=None, _depth: int = 0):
    """Encode ``value`` into a JSON-able tree; array bytes are appended to ``bufs``.

    ``arrays`` (optional) collects ``(buffer_index, original_object)`` for every
    array or tensor leaf, so the grader can tell which of its inputs a call changed
    (the worker answers with the buffer indices; nothing is written back).
    ``to_ref(obj) -> dict`` is called for objects that are not plain data; when it
    is None such objects raise :class:`NotEncodable`.
    """
    if _depth > MAX_DEPTH:
        raise NotEncodable("value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) in (int,):
        return value
    if isinstance(value, float) and type(value) is float:
        if math.isfinite(value):
            return value
        return {"$t": "float", "v": repr(value)}
    if isinstance(value, RefBase):
        return {"$t": "ref", "id": value._ref_id}
    if isinstance(value, np.ndarray):
        return _encode_array(value, bufs, arrays, "nd")
    if isinstance(value, np.generic):
        if value.dtype.kind not in ALLOWED_KINDS:
            return _not_plain(value, to_ref)
        bufs.append(value.tobytes())
        return {"$t": "npscalar", "dtype": value.dtype.str, "b": len(bufs) - 1}
    if isinstance(value, (bytes, bytearray)):
        bufs.append(bytes(value))
        return {"$t": "bytes", "b": len(bufs) - 1}
    if _is_tensor(value):
        try:
            arr = value.detach().cpu().numpy()
        except Exception:
            return _not_plain(value, to_ref)
        node = _encode_array(arr, bufs, None, "torch")
        if arrays is not None:
            arrays.append((node["b"], value))
        node["grad"] = bool(value.requires_grad)
        return node
    if type(value) in (list, tuple):
        items = [encode(v, bufs, arrays, to_ref, _depth + 1) for v in value]
        return {"$t": "list" if type(value) is list else "tuple", "v": items}
    if type(value) is dict:
        if all(type(k) is str for k in value):
            return {"$t": "dict", "v": {k: encode(v, bufs, arrays, to_ref, _depth + 1) for k, v in value.items()}}
        return {"$t": "kv", "v": [[encode(k, bufs, None, None, _depth + 1), encode(v, bufs, arrays, to_ref, _depth + 1)]
                                  for k, v in value.items()]}
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # int/float subclasses
        return encode(int(value) if isinstance(value, int) else float(value), bufs, arrays, to_ref, _depth)
    return _not_plain(value, to_ref)


def _not_plain(value, to_ref):
    if to_ref is None:
        raise NotEncodable(f"a {type(value).__module__}.{type(value).__qualname__} cannot be sent as plain data")
    return to_ref(value)


def _encode_array(arr: np.ndarray, bufs, arrays, tag):
    if arr.dtype.kind not in ALLOWED_KINDS or arr.dtype.fields is not None:
        raise NotEncodable(f"arrays of dtype {arr.dtype} cannot be sent (only numeric, bool or string arrays)")
    if arrays is not None and tag == "nd":
        arrays.append((len(bufs), arr))
    bufs.append(np.ascontiguousarray(arr).tobytes())
    return {"$t": tag, "dtype": arr.dtype.str, "shape": list(arr.shape), "b": len(bufs) - 1}


class RefBase:
    """Marker base class of remote references (grader side)."""
    _ref_id: int


def decode(node, bufs: list, from_ref=None, arrays: list | None = None, _depth: int = 0,
           budget: Budget | None = None):
    """Inverse of :func:`encode`. ``from_ref(id) -> object`` rebuilds references.

    ``arrays`` (optional) collects ``(buffer_index, decoded_array)``. ``budget`` (optional,
    a :class:`Budget`) bounds what the value may cost: :class:`TooLarge` past it.
    """
    if _depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if budget is not None:
        budget.take(1)
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict):
        tag = node.get("$t")
        if tag == "list":
            return [decode(v, bufs, from_ref, arrays, _depth + 1, budget) for v in _seq(node["v"])]
        if tag == "tuple":
            return tuple(decode(v, bufs, from_ref, arrays, _depth + 1, budget) for v in _seq(node["v"]))
        if tag == "dict":
            items = node["v"]
            if not isinstance(items, dict):
                raise ProtocolError("bad dict")
            return {str(k): decode(v, bufs, from_ref, arrays, _depth + 1, budget) for k, v in items.items()}
        if tag == "kv":
            out = {}
            for pair in _seq(node["v"]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ProtocolError("bad key-value pair")
                k, v = pair
                key = decode(k, bufs, None, None, _depth + 1, budget)
                if isinstance(key, list):
                    key = tuple(key)
                out[key] = decode(v, bufs, from_ref, arrays, _depth + 1, budget)
            return out
        if tag == "float":
            return float(node["v"])
        if tag in ("nd", "torch"):
            arr = _decode_array(node, bufs, budget)
            if tag == "torch":
                torch = load_torch()
                if torch is None:
                    raise ProtocolError("a torch tensor was sent, but torch is not installed here")
                t = torch.from_numpy(arr)
                if node.get("grad") and t.is_floating_point():
                    t.requires_grad_(True)
                if arrays is not None:
                    arrays.append((node["b"], t))
                return t
            if arrays is not None:
                arrays.append((node["b"], arr))
            return arr
        if tag == "npscalar":
            dtype = _dtype(node["dtype"])
            raw = _buf(bufs, node["b"])
            if len(raw) != dtype.itemsize:
                raise ProtocolError("bad numpy scalar")
            return np.frombuffer(raw, dtype=dtype)[0]
        if tag == "bytes":
            raw = _buf(bufs, node["b"])
            if budget is not None:
                budget.take(0, len(raw))
            return bytes(raw)
        if tag == "ref":
            if from_ref is None:
                raise ProtocolError("unexpected remote reference")
            return from_ref(int(node["id"]))
    raise ProtocolError(f"cannot decode {type(node).__name__}")


def _dtype(text) -> np.dtype:
    try:
        dtype = np.dtype(str(text))
    except Exception:
        raise ProtocolError(f"bad dtype {text!r}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.hasobject:
        raise ProtocolError(f"refused dtype {dtype}")
    return dtype


def _buf(bufs, i):
    if not isinstance(i, int) or not 0 <= i < len(bufs):
        raise ProtocolError("bad buffer index")
    return bufs[i]


def _seq(items) -> list:
    if not isinstance(items, list):
        raise ProtocolError("bad sequence")
    return items


def _decode_array(node, bufs, budget: Budget | None = None) -> np.ndarray:
    dtype = _dtype(node["dtype"])
    shape = node["shape"]
    if not isinstance(shape, list) or len(shape) > 64 or not all(type(s) is int for s in shape):
        raise ProtocolError("bad array shape")
    shape = tuple(shape)
    if any(s < 0 for s in shape):
        raise ProtocolError("negative array dimension")
    raw = _buf(bufs, node["b"])
    count = math.prod(shape)
    if len(raw) != count * dtype.itemsize:
        raise ProtocolError("array bytes do not match dtype and shape")
    if budget is not None:
        budget.take(0, len(raw))
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)  # raw is a bytearray: writable


# ----------------------------------------------------------------------------- framing

COALESCE_BYTES = 1 << 20      # messages up to this size are written in one piece


def pack(header: dict, bufs: list) -> list[bytes]:
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    parts = [HEAD.pack(len(text), len(bufs)), text]
    for b in bufs:
        parts.append(BUFLEN.pack(len(b)))
        parts.append(b)
    return parts


def send(fd: int, header: dict, bufs: list = (), deadline: float | None = None) -> None:
    """Write one message to ``fd`` (blocking, or until ``deadline`` on a non-blocking fd)."""
    parts = pack(header, list(bufs))
    if len(parts) > 2 and sum(len(x) for x in parts) <= COALESCE_BYTES:
        parts = [b"".join(parts)]       # one write wakes the reader once
    for part in parts:
        view = memoryview(part)
        while view:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout("write timed out")
                _, w, _ = select.select([], [fd], [], min(left, 0.5))
                if not w:
                    continue
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise PeerGone("the other side closed the pipe") from None
            view = view[n:]


class Reader:
    """Incremental reader of messages from a pipe fd, with a cap on message size."""

    def __init__(self, fd: int, max_bytes: int = 1 << 34):
        self.fd = fd
        self.max_bytes = max_bytes
        self.buf = bytearray()

    def _need(self, n: int, wait) -> None:
        while len(self.buf) < n:
            wait()
            try:
                chunk = os.read(self.fd, max(1 << 16, min(n - len(self.buf), 1 << 24)))
            except BlockingIOError:
                continue
            if not chunk:
                raise PeerGone("the other side closed the pipe")
            self.buf += chunk

    def _take(self, n: int) -> bytearray:
        out = self.buf[:n]
        del self.buf[:n]
        return out

    def read(self, wait=lambda: None):
        """Read one message: ``(header: dict, bufs: list[bytearray])``.

        ``wait()`` is called before each blocking read; it may raise (timeouts).
        """
        self._need(HEAD.size, wait)
        jlen, nbuf = HEAD.unpack(bytes(self._take(HEAD.size)))
        if jlen > min(MAX_JSON, self.max_bytes) or nbuf > MAX_BUFFERS:
            raise TooLarge(f"message too large (a {jlen}-byte header; at most {min(MAX_JSON, self.max_bytes)})")
        self._need(jlen, wait)
        try:
            header = json.loads(bytes(self._take(jlen)))
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"bad JSON header: {exc}") from None
        if not isinstance(header, dict):
            raise ProtocolError("header is not an object")
        bufs = []
        total = jlen          # the JSON header counts against the cap as much as the arrays
        for _ in range(nbuf):
            self._need(BUFLEN.size, wait)
            (blen,) = BUFLEN.unpack(bytes(self._take(BUFLEN.size)))
            total += blen
            if total > self.max_bytes:
                raise TooLarge("message larger than the allowed size")
            self._need(blen, wait)
            bufs.append(self._take(blen))
        return header, bufs
