"""The remote-object protocol over one sandbox: what the grader holds of a student's code.

A :class:`Session` owns one submission's sandbox (sandbox.py) for one grading call: it
loads the student's definitions there, skipping statements that kill it, and hands out
:class:`RemoteObject` proxies for the assignment's *graded names*. Operations on a proxy
(call, attribute, item, len, iter, repr...) become requests to the worker (worker.py) that
carry plain data both ways (protocol.py); whatever is not plain data stays in the sandbox
as a remote reference, released when the test ends. Exceptions raised by the student's code
come back as :class:`StudentCodeError` subclasses of the same builtin type; a test stopped
for a limit (CPU, memory, crash, forbidden API) raises :class:`Abort`, which the test
cell cannot catch. Grading itself (test cells, scores) is engine.py's job.
"""
from __future__ import annotations

import ast
import builtins
import copy
import re
import threading
import time

import numpy as np

from . import protocol as P
from . import pysource
from .assignment import Assignment
from .results import CRASH, ERROR, FORBIDDEN, HIDDEN, MEMORY, TIMEOUT, Outcome
from .text import first_line, safe_text
from .sandbox import AnswerTooLarge, Sandbox, SandboxFault
from .tools import checks

__all__ = ["StudentCodeError", "Abort", "RemoteObject", "Session", "student_exception", "describe_student_error",
           "graded_names", "where_in_notebook", "fault_outcome", "FAULT_OUTCOME", "KINDS"]

MAX_LOAD_RETRIES = 8

# What the grader accepts from a sandbox, on top of limits.DEFAULT_LIMITS; each may be set in
# grading.toml [limits] (or the command line's limits) like the others.
GRADER_LIMITS = {
    # The whole answer to "load" (names, values, errors, output; its JSON header included): past
    # it, the load is done again with every value left in the sandbox. Under it, each value is
    # decoded within value_items: a name past the budget alone stays in the sandbox.
    "load_mb": 32,
    "value_items": 100_000,     # Python objects in the values sent back at load, all names together
    "answer_items": 1_000_000,  # Python objects in one answer (a list of a million numbers...)
    "answer_mb": 256,           # MB of arrays in one answer
}
SMALL_VALUE_ITEMS = 1_000      # values up to this size are copied for every test (cheap)
SMALL_VALUE_BYTES = 1 << 20


def grader_limit(limits: dict, key: str) -> float:
    """``limits[key]`` when it is a positive number, else :data:`GRADER_LIMITS`'s default."""
    v = (limits or {}).get(key, GRADER_LIMITS[key])
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        return float(GRADER_LIMITS[key])
    return float(v)


class StudentCodeError(Exception):
    """Base of every exception re-raised from the student's code.

    Concrete classes are made on the fly as subclasses of this and of the builtin
    type the student's exception derives from (ValueError, TypeError...), so
    ``assert_raises(ValueError, f, ...)`` works in test cells.
    """
    student_type = "Exception"
    student_message = ""
    student_traceback = ""
    label = ""

    def __str__(self):
        return self.student_message


# What a sandbox fault (protocol.Fault: why the sandbox gave no answer) does to the test it stops:
# the one place a fault becomes a status. They share words, not meaning.
FAULT_OUTCOME: dict[P.Fault, Outcome] = {
    P.Fault.TIMEOUT: TIMEOUT,
    P.Fault.MEMORY: MEMORY,
    P.Fault.CRASH: CRASH,
}


def fault_outcome(fault: SandboxFault) -> Outcome:
    """The status of a test stopped by ``fault`` (a kind this version does not know: a crash)."""
    try:
        return FAULT_OUTCOME[P.Fault(fault.kind)]
    except ValueError:
        return CRASH


class Abort(BaseException):
    """Stops a test cell (not catchable by ``except Exception`` in the test)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


_EXC_LOCK = threading.Lock()
_EXC_CLASSES: dict[tuple[str, str], type] = {}


def _exception_class(type_name: str, builtin_name: str) -> type:
    base = getattr(builtins, builtin_name, Exception)
    if not (isinstance(base, type) and issubclass(base, BaseException)) or not issubclass(base, Exception):
        base = Exception
    key = (type_name, base.__name__)
    with _EXC_LOCK:
        cls = _EXC_CLASSES.get(key)
        if cls is None:
            bases = (StudentCodeError,) if base is Exception else (StudentCodeError, base)
            cls = type(type_name if type_name.isidentifier() else "StudentError", bases,
                       {"__module__": "student"})
            _EXC_CLASSES[key] = cls
        return cls


def student_exception(info: dict, label: str) -> StudentCodeError:
    # Everything here comes from the sandbox, where the student's code could have rewritten
    # the worker: bound and clean each field before it is used.
    if not isinstance(info, dict):
        info = {}
    type_name = safe_text(info.get("type", "Exception"), 100)
    builtin_name = safe_text(info.get("builtin", "Exception"), 100)
    message = safe_text(info.get("message", ""), 2000)
    cls = _exception_class(type_name, builtin_name)
    try:
        exc = cls(message)
    except Exception:
        exc = cls.__new__(cls)
    exc.student_type = type_name
    exc.student_message = message
    exc.student_traceback = safe_text(info.get("traceback", ""), 3000)
    exc.label = label
    return exc


def describe_student_error(exc: StudentCodeError) -> str:
    msg = f"{exc.label} raised {exc.student_type}"
    if exc.student_message:
        msg += f": {exc.student_message}"
    if exc.student_type == "NotImplementedError" and not exc.student_message:
        msg += " (not written yet: replace `raise NotImplementedError()` under `# YOUR CODE HERE` with your code)"
    if exc.student_type == "BlockingIOError" and "temporarily unavailable" in exc.student_message:
        msg += " (the sandbox's limit on the number of processes and threads was reached)"
    if exc.student_traceback:
        msg += "\nWhere (your code):\n" + exc.student_traceback
    return msg


# ----------------------------------------------------------------------------- proxies

class RemoteObject(P.RefBase):
    """A name or object living in the sandbox; operations on it run there."""

    __slots__ = ("_session", "_target", "_label", "_ref_id", "__name__", "__qualname__")

    def __init__(self, session: "Session", target: dict, label: str):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_ref_id", target.get("ref", -1))
        object.__setattr__(self, "__name__", label.rsplit(".", 1)[-1])
        object.__setattr__(self, "__qualname__", label)

    def __call__(self, *args, **kwargs):
        return self._session.call(self._target, args, kwargs, self._label)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._session.op({"op": P.Op.GETATTR, "target": self._target, "name": name}, f"{self._label}.{name}")

    def __setattr__(self, name, value):
        bufs: list = []
        node = self._session.encode(value, bufs)
        self._session.op({"op": P.Op.SETATTR, "target": self._target, "name": name, "value": node},
                         f"{self._label}.{name}", bufs)

    def __len__(self):
        return self._session.op({"op": P.Op.LEN, "target": self._target}, f"len({self._label})")

    def __iter__(self):
        return iter(self._session.op({"op": P.Op.ITER, "target": self._target}, f"iter({self._label})"))

    def __getitem__(self, key):
        bufs: list = []
        node = self._session.encode(key, bufs)
        return self._session.op({"op": P.Op.GETITEM, "target": self._target, "key": node}, f"{self._label}[...]", bufs)

    def __contains__(self, key):
        bufs: list = []
        node = self._session.encode(key, bufs)
        return self._session.op({"op": P.Op.CONTAINS, "target": self._target, "key": node}, f"... in {self._label}",
                                bufs)

    def __repr__(self):
        try:
            return self._session.op({"op": P.Op.REPR, "target": self._target}, f"repr({self._label})")
        except BaseException:  # noqa: BLE001
            return f"<student object {self._label}>"

    def __str__(self):
        try:
            return self._session.op({"op": P.Op.STR, "target": self._target}, f"str({self._label})")
        except BaseException:  # noqa: BLE001
            return f"<student object {self._label}>"


# ----------------------------------------------------------------------------- session

class Session:
    """A submission's sandbox and the proxies of its names, for one grading call."""

    def __init__(self, assignment: Assignment, code, flagged: dict, limits: dict, *, insecure: bool,
                 seed: int, hide=()):
        self.assignment = assignment
        self.code = code
        self.flagged = flagged
        self.limits = limits
        self.seed = seed
        self.sb = Sandbox(limits, assignment.forbidden, insecure=insecure, seed=seed, hide=hide,
                          data_files=getattr(assignment, "sandbox_data", []),
                          preload=getattr(assignment, "sandbox_preload", []))
        self.excluded: set[int] = set()
        self.notes: list[str] = []
        self.names: dict[str, dict] = {}
        self.values: dict[str, object] = {}
        self.value_cost: dict[str, tuple] = {}   # name -> (objects, array bytes, immutable)
        self.loaded = False
        self.load_s = 0.0
        # per-test state
        self.cpu_limit = float(limits["cpu_per_test"])
        self.wall_deadline = float("inf")
        self.pending_seed: int | None = None
        self.submission_deadline = time.monotonic() + float(limits.get("wall_per_submission", 600))
        self.tasks_after_load: int | None = None
        self.ref_labels: dict[int, str] = {}
        self.graded = sorted(graded_names(assignment))
        self.shadowed: list[str] = []
        self.mutated: list = []          # grader-side arrays whose sandbox copy a call changed
        self.test_refs: list[int] = []   # remote references made during the current test
        self.visibility = "public"       # of the current test
        # A context-manager factory entered around each request of a test (engine.py: the test
        # cell lets the other threads' test cells run while it waits for its sandbox).
        self.request_gate = None
        # What the student's code printed while loading (the worker keeps the first output_kb
        # KB and counts the rest), for feedback: capped again here, it comes from the sandbox.
        self.load_output = ""
        self.load_output_dropped = 0

    # -- lifecycle
    def start(self) -> None:
        """Start the sandbox and load the student's definitions, skipping statements that kill it."""
        t0 = time.monotonic()
        send_values_failed = False
        try:
            for _ in range(MAX_LOAD_RETRIES):
                if not self.sb.alive():
                    self.sb.start()
                sent = [i for i in range(len(self.code.stmts)) if i not in self.excluded]
                current = {"k": None, "loaded": False}

                def on_event(ev):
                    if ev.get("ev") == "loaded":
                        current["loaded"] = True
                    else:
                        current["k"] = ev.get("i")
                budget = float(self.limits["startup_cpu"])
                try:
                    head, bufs = self._load_request(
                        {"op": P.Op.LOAD, "stmts": [self.code.stmts[i] for i in sent], "cells": self.code.cells,
                         "graded": self.graded, "values": not send_values_failed},
                        cpu_limit=budget, wall_limit=max(1.0, min(self._wall(budget),
                                                                  self.submission_deadline - time.monotonic())),
                        on_event=on_event)
                except SandboxFault as fault:
                    if current["loaded"]:
                        # Every statement ran: the answer (the definitions sent back) was the
                        # problem, not a statement. Try once more keeping every value remote.
                        if send_values_failed:
                            raise
                        send_values_failed = True
                        if isinstance(fault, AnswerTooLarge):
                            why = (f"together they are larger than the {grader_limit(self.limits, 'load_mb'):g} MB "
                                   "the grader accepts at once")
                        else:
                            why = safe_text(fault.message, 300)
                        self.notes.append(f"The values your notebook defines could not be sent back whole "
                                          f"({why}); the tests used them where they live, in the sandbox.")
                        continue
                    k = current["k"]
                    if not isinstance(k, int) or not 0 <= k < len(sent):
                        raise
                    bad = sent[k]
                    st = self.code.stmts[bad]
                    self.excluded.add(bad)
                    self.notes.append(f"{where_in_notebook(self.code, st)} was skipped while loading "
                                      f"your code ({fault.kind}: {safe_text(fault.message, 300)}).")
                    continue
                if not head.get("ok"):
                    raise SandboxFault(P.Fault.CRASH, "the sandbox could not load the notebook")
                self._set_names(head, bufs)
                self.tasks_after_load = self.sb.pids_count()
                if not self.loaded:
                    errors = head.get("errors") if isinstance(head.get("errors"), list) else []
                    for e in errors[:20]:
                        if not isinstance(e, dict):
                            continue
                        info = e.get("error") if isinstance(e.get("error"), dict) else {}
                        st = {"cell": e.get("cell", 0), "lineno": e.get("lineno")}
                        more = e.get("skipped_after")
                        self.notes.append(f"{where_in_notebook(self.code, st)}: {safe_text(info.get('type'), 100)}: "
                                          f"{safe_text(info.get('message'), 500)}"
                                          + (f" ({more} later statement(s) that use what it defines were skipped)"
                                             if type(more) is int and more > 0 else ""))
                self.loaded = True
                return
            raise SandboxFault(P.Fault.CRASH, "the notebook's code kept stopping the sandbox while loading")
        finally:
            self.load_s += time.monotonic() - t0

    def _load_request(self, header: dict, *, cpu_limit: float, wall_limit: float, on_event):
        """The "load" request, its answer capped at ``load_mb`` (JSON header included: a list of
        millions of numbers is refused as it arrives, before it is parsed). A MemoryError of the
        grader's own while reading it is this submission's fault: its sandbox is stopped."""
        reader = getattr(self.sb, "reader", None)
        old = getattr(reader, "max_bytes", None)
        if reader is not None and old is not None:
            reader.max_bytes = min(old, int(grader_limit(self.limits, "load_mb") * (1 << 20)))
        try:
            return self.sb.request(header, cpu_limit=cpu_limit, wall_limit=wall_limit, on_event=on_event)
        except MemoryError:
            self.sb.kill()
            raise SandboxFault(P.Fault.MEMORY, "reading the values it sent back needed more memory than the grader "
                                       "allows") from None
        finally:
            if reader is not None and old is not None:
                reader.max_bytes = old

    def _set_names(self, head, bufs):
        self.names = {}
        self.values = {}
        graded = set(self.graded)
        names = head.get("names") if isinstance(head.get("names"), dict) else {}
        for name, info in names.items():
            if not isinstance(info, dict) or name not in graded:
                continue
            self.names[name] = {"kind": info.get("kind") if info.get("kind") in KINDS else "object"}
            if info.get("large") is True:
                self._note_too_large(name, "more than 1 MB as data")
        shadowed = head.get("shadowed") if isinstance(head.get("shadowed"), list) else []
        self.shadowed = sorted({n for n in shadowed[:200] if isinstance(n, str) and n in P.BUILTIN_NAMES
                                and not n.startswith("_")})
        output = head.get("output") if isinstance(head.get("output"), dict) else {}
        self.load_output = safe_text(output.get("text", ""), max(1, int(float(self.limits["output_kb"]) * 1024)))
        dropped = output.get("dropped")
        self.load_output_dropped = dropped if type(dropped) is int and dropped > 0 else 0
        values = head.get("values") if isinstance(head.get("values"), dict) else {}
        # Decoded once, within one budget for all names: a value past it stays in the sandbox
        # (a remote object), at a cost of at most the budget here.
        budget = P.Budget(int(grader_limit(self.limits, "value_items")),
                          int(grader_limit(self.limits, "load_mb") * (1 << 20)))
        self.value_cost = {}
        for name, node in values.items():
            if name not in self.names:
                continue
            items0, bytes0 = budget.used_items, budget.used_nbytes
            try:
                value = P.decode(node, bufs, budget=budget)
            except P.TooLarge as exc:
                self.names[name]["kind"] = "object"
                self._note_too_large(name, str(exc))
                budget.items, budget.nbytes = budget.max_items - items0, budget.max_nbytes - bytes0
                continue
            except (P.ProtocolError, KeyError, TypeError, ValueError, IndexError, RecursionError, MemoryError):
                self.names[name]["kind"] = "object"
                continue
            self.values[name] = value
            self.value_cost[name] = (budget.used_items - items0, budget.used_nbytes - bytes0, _immutable(value))

    def _note_too_large(self, name: str, why: str) -> None:
        note = (f"`{safe_text(name, 100)}` is too large to be sent to the grader as a value ({safe_text(why, 200)}); "
                "the tests use it where it lives, in the sandbox. Check its type and size: the question "
                "expects a much smaller value.")
        if note not in self.notes:      # (a sandbox started again loads the notebook again)
            self.notes.append(note)

    def close(self) -> None:
        self.sb.close()

    def _wall(self, cpu: float) -> float:
        return float(self.limits["wall_factor"]) * cpu + 5.0

    # -- encoding
    def encode(self, value, bufs, arrays=None):
        try:
            return P.encode(value, bufs, arrays, None)
        except P.NotEncodable as exc:
            raise TypeError(f"cannot pass this value to the student's code: {exc}") from None

    def _from_ref(self, rid: int):
        if len(self.test_refs) < 100_000:
            self.test_refs.append(rid)
        return RemoteObject(self, {"ref": rid}, self.ref_labels.get(rid, f"object#{rid}"))

    # -- requests
    def op(self, header: dict, label: str, bufs=(), arrays=None):
        """Run one request in the sandbox within the current test's limits; return its value."""
        if self.pending_seed is not None:
            header = dict(header, seed=self.pending_seed)
            self.pending_seed = None
        cpu_left = self.cpu_limit - self.test_cpu()
        wall_left = self.wall_deadline - time.monotonic()
        if cpu_left <= 0 or wall_left <= 0:
            raise Abort(TIMEOUT, self.timeout_message(label))
        if not self.sb.alive():
            raise Abort(CRASH, "the sandbox is not running")
        try:
            if self.request_gate is None:
                head, rbufs = self.sb.request(header, bufs, cpu_limit=cpu_left, wall_limit=wall_left)
            else:
                with self.request_gate():
                    head, rbufs = self.sb.request(header, bufs, cpu_limit=cpu_left, wall_limit=wall_left)
        except MemoryError:
            self.sb.kill()          # the answer was read halfway: this sandbox's pipe is out of step
            raise Abort(MEMORY, f"{label}: reading the value it returned needed more memory than the grader "
                        "allows; the test expects a much smaller result: check its type and shape") from None
        except SandboxFault as fault:
            status = fault_outcome(fault)
            if status == TIMEOUT:
                # The same words whichever limit stopped it (CPU, or the wall-clock backstop on a
                # busy machine): grading a notebook twice gives the same feedback.
                raise Abort(TIMEOUT, self.timeout_message(label)) from None
            if status == MEMORY:
                raise Abort(MEMORY, f"{label}: {fault.message}") from None
            raise Abort(CRASH, f"{label} crashed: {fault.message}") from None
        if not head.get("ok"):
            info = head.get("error") if isinstance(head.get("error"), dict) else {}
            failure = info.get("kind")
            if failure == P.Failure.MEMORY:
                raise Abort(MEMORY, f"{label} ran out of memory (MemoryError): the sandbox allows "
                             f"{self.limits['memory_mb']:g} MB")
            if failure == P.Failure.FORBIDDEN:
                raise Abort(FORBIDDEN, f"{label}: {safe_text(info.get('message'), 2000)}")
            if failure == P.Failure.NO_RESULT and header.get("op") == P.Op.RUN:
                raise P.NoResult(f"{label} did not set `result`")
            raise student_exception(info, label)
        try:
            value = P.decode(head.get("value"), rbufs, self._from_ref,
                             budget=P.Budget(int(grader_limit(self.limits, "answer_items")),
                                             int(grader_limit(self.limits, "answer_mb") * (1 << 20))))
            if isinstance(value, RemoteObject):
                object.__setattr__(value, "_label", label + "(...)" if header.get("op") == P.Op.CALL else label)
                if len(self.ref_labels) < 10_000:
                    self.ref_labels[value._ref_id] = value._label
            mut = head.get("mut") if isinstance(head.get("mut"), list) else []
            if mut and arrays:
                changed = {m for m in mut[:10_000] if isinstance(m, int)}
                self.mutated.extend(orig for b, orig in arrays if b in changed)
        except P.TooLarge as exc:
            raise Abort(ERROR, f"{label} returned a value too large for the grader to check ({exc}); the test "
                        "expects a much smaller result: check its type and shape (a numpy array rather than a "
                        "long list?)") from None
        except MemoryError:
            raise Abort(MEMORY, f"{label}: checking the value it returned needed more memory than the grader "
                        "allows; the test expects a much smaller result: check its type and shape") from None
        except (P.ProtocolError, KeyError, TypeError, ValueError, IndexError, RecursionError) as exc:
            raise Abort(CRASH, f"{label}: the sandbox sent an invalid answer ({safe_text(exc, 200)})") from None
        return value

    def timeout_message(self, label: str) -> str:
        """The same words whichever limit stopped a call (its CPU time, the wall-clock backstop
        on a busy machine, or a test already out of time): the same notebook graded twice gets
        the same feedback."""
        return (f"{label} stopped: it ran past the time limit of this test ({self.cpu_limit:g} s of CPU "
                "time): an infinite loop, or a much slower method than needed?")

    def was_modified(self, obj) -> bool:
        """Did a call of the student's code change its copy of ``obj`` (an argument)?"""
        return any(o is obj for o in self.mutated)

    def call(self, target: dict, args, kwargs, label: str):
        name = target.get("global")
        if name in self.flagged:
            raise Abort(FORBIDDEN, f"{name} uses {', '.join(self.flagged[name])}, which this assignment "
                         "does not allow: write it with the allowed tools (numpy array operations)")
        bufs: list = []
        arrays: list = []
        node_args = self.encode(tuple(args), bufs, arrays)
        node_kwargs = self.encode(dict(kwargs), bufs, arrays)
        return self.op({"op": P.Op.CALL, "target": target, "args": node_args, "kwargs": node_kwargs},
                       label, bufs, arrays)

    def run_probe(self, name: str, **inputs):
        """Grader-side ``run_probe``: runs the assignment's public probe ``name`` in the sandbox."""
        probes = self.assignment.probes
        if not isinstance(name, str) or name not in probes:
            raise RuntimeError(f"run_probe: no probe {name!r} in the assignment's grading.toml [probes] "
                               f"(it has: {', '.join(sorted(probes)) or 'none'}); tell your instructor")
        return self.run_student(probes[name], _public=True, **inputs)

    def run_student(self, code: str, _public: bool = False, **inputs):
        """Grader-side ``run_student``: runs ``code`` in the sandbox's notebook namespace.

        Only public code may enter the sandbox: a public test's own snippets, or a probe.
        A hidden test must use ``run_probe`` (its code is never sent to the student's side).
        """
        if not isinstance(code, str):
            raise TypeError(f"run_student: code must be a str, got {type(code).__name__}")
        if self.visibility == HIDDEN and not _public:
            raise RuntimeError("a hidden test may not send code to the sandbox with run_student: declare the "
                               "code as a probe in grading.toml [probes] and call run_probe(NAME, ...); "
                               "tell your instructor")
        try:
            used = {n.id for n in ast.walk(pysource.parse(code)) if isinstance(n, ast.Name)}
        except SyntaxError:
            used = set()
        for name in sorted(used & set(self.flagged)):
            raise Abort(FORBIDDEN, f"{name} uses {', '.join(self.flagged[name])}, which this assignment "
                         "does not allow")
        bufs: list = []
        node = self.encode(dict(inputs), bufs)
        try:
            return self.op({"op": P.Op.RUN, "code": code, "inputs": node}, "the checked code", bufs)
        except P.NoResult:
            raise AssertionError("the checked code did not set `result`") from None

    def clean_up(self) -> None:
        """Restart the sandbox (lazily) when a test left processes or Python threads running:
        they would eat the CPU of the next tests."""
        sb = self.sb
        if not sb.alive():
            return
        tasks = sb.pids_count()
        if sb.stray_processes():
            sb.kill()
        elif tasks is not None and tasks != self.tasks_after_load:
            try:
                head, _ = sb.request({"op": P.Op.THREADS}, cpu_limit=5, wall_limit=20)
                if not head.get("ok") or head.get("value") != 1:
                    sb.kill()
                else:
                    self.tasks_after_load = tasks   # native threads (torch, BLAS pools) are fine
            except SandboxFault:
                pass

    # -- tests
    def begin_test(self, cpu_limit: float, seed: int, visibility: str = "public") -> None:
        self.visibility = visibility
        self.mutated = []
        self.test_refs = []
        self.cpu_limit = cpu_limit
        self.test_cpu0 = self.sb.cpu_seconds()
        self.wall_deadline = min(time.monotonic() + self._wall(cpu_limit), self.submission_deadline)
        self.pending_seed = seed

    def test_cpu(self) -> float:
        return self.sb.cpu_seconds() - self.test_cpu0

    def end_test(self) -> None:
        """Free the remote objects the test made (the sandbox keeps them alive until told)."""
        refs, self.test_refs, self.mutated = self.test_refs, [], []
        if refs and self.sb.alive():
            try:
                self.sb.request({"op": P.Op.RELEASE, "ids": refs}, cpu_limit=5, wall_limit=20)
            except SandboxFault:
                pass

    def proxies(self, source: str | None = None) -> dict:
        """The student's *graded names* as a test cell sees them (the names the assignment's
        solution cells define): plain-data values sent back at load, everything else as a
        :class:`RemoteObject`. Modules and names of builtins are left out.

        No test can change what the next one sees, and a big value costs nothing to the tests
        that do not use it: an immutable value (numbers, strings, tuples of them) is shared; a
        small mutable one is copied for every test; a big one (more than
        :data:`SMALL_VALUE_ITEMS` objects or :data:`SMALL_VALUE_BYTES` bytes) is copied only
        for a test whose ``source`` names it, the others get a remote object for it.
        """
        ns: dict = {}
        costs = getattr(self, "value_cost", {})
        for name, info in self.names.items():
            kind = info.get("kind")
            if kind == "module" or name in P.BUILTIN_NAMES:
                continue
            if kind == "value" and name in self.values:
                items, nbytes, immutable = costs.get(name, (0, 0, False))
                if immutable:
                    ns[name] = self.values[name]
                elif (items <= SMALL_VALUE_ITEMS and nbytes <= SMALL_VALUE_BYTES) or source is None \
                        or re.search(rf"\b{re.escape(name)}\b", source):
                    ns[name] = copy.deepcopy(self.values[name])
                else:
                    ns[name] = RemoteObject(self, {"global": name}, name)
            else:
                ns[name] = RemoteObject(self, {"global": name}, name)
        return ns


def _immutable(value, _depth: int = 0) -> bool:
    """Whether a decoded value can be shared by tests: no list, dict, array or tensor in it."""
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return True
    if isinstance(value, np.generic):
        return True
    if type(value) is tuple and _depth < 50:
        return all(_immutable(v, _depth + 1) for v in value)
    return False


KINDS = ("module", "class", "function", "value", "object")


def graded_names(assignment) -> set[str]:
    """The student names tests may use: the solution cells' top-level names; for an
    assignment without solution cells, the names its test cells read (builtins excluded)."""
    names = set(getattr(assignment, "graded_names", ()) or ())
    if not names:
        for spec in assignment.tests:
            try:
                tree = pysource.parse(spec.source)
            except (SyntaxError, ValueError, RecursionError):
                continue
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names -= set(checks.__all__) | {"np", "ref"}
    return {n for n in names if n.isidentifier() and n not in P.BUILTIN_NAMES}


def where_in_notebook(code, st: dict) -> str:
    """A statement's place as a Jupyter user finds it: the cell's first line and the line."""
    try:
        cell = int(st.get("cell", 0))
    except (TypeError, ValueError):
        cell = 0
    src = (getattr(code, "cells", {}) or {}).get(cell) or (getattr(code, "cells", {}) or {}).get(str(cell)) or ""
    first = first_line(str(src))
    line_no = st.get("lineno")
    where = f"the cell starting `{first}`" if first else f"code cell {cell + 1}"
    return f"{where} (line {line_no})" if line_no else where

