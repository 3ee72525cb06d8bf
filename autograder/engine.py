"""Grading one submission: ``grade_notebook(assignment, path) -> SubmissionResult``.

The student's definitions run in a sandbox (sandbox.py, worker.py). Each test cell
of the instructor's source notebook runs here, in the grader, in a fresh namespace
holding ``np``, the helpers of ``autograder.tools.checks`` (``run_student`` runs in
the sandbox) and a proxy for every name the student's code defines. Proxies send
plain data to the sandbox and bring plain data back (protocol.py); student
exceptions come back as :class:`StudentCodeError` subclasses of the same builtin
type. ``grade_notebook`` never raises for anything a submission does and never
modifies the submission file; it is thread-safe (each call owns its sandbox).
"""
from __future__ import annotations

import ast
import builtins
import copy
import hashlib
import platform
import sys
import threading
import time
import traceback
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from . import protocol as P
from .assignment import Assignment
from .forbidden import analyze
from .notebook import InvalidSubmission, extract_student_code, read_notebook
from .results import (CRASH, ERROR, FAILED, FORBIDDEN, GRADED, HIDDEN, INVALID, MAX_SUBMISSION_MESSAGE, MEMORY,
                      PASSED, TIMEOUT, SubmissionResult, TestResult, safe_text)
from .sandbox import DEFAULT_LIMITS, Sandbox, SandboxError, SandboxFault, isolation_available
from .tools import checks

__all__ = ["grade_notebook", "isolation_available", "StudentCodeError", "RemoteObject"]

MAX_LOAD_RETRIES = 8


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


class _Abort(BaseException):
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


def _student_exception(info: dict, label: str) -> StudentCodeError:
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


def _describe_student_error(exc: StudentCodeError) -> str:
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
        return self._session.op({"op": "getattr", "target": self._target, "name": name}, f"{self._label}.{name}")

    def __setattr__(self, name, value):
        bufs: list = []
        node = self._session.encode(value, bufs)
        self._session.op({"op": "setattr", "target": self._target, "name": name, "value": node},
                         f"{self._label}.{name}", bufs)

    def __len__(self):
        return self._session.op({"op": "len", "target": self._target}, f"len({self._label})")

    def __iter__(self):
        return iter(self._session.op({"op": "iter", "target": self._target}, f"iter({self._label})"))

    def __getitem__(self, key):
        bufs: list = []
        node = self._session.encode(key, bufs)
        return self._session.op({"op": "getitem", "target": self._target, "key": node}, f"{self._label}[...]", bufs)

    def __contains__(self, key):
        bufs: list = []
        node = self._session.encode(key, bufs)
        return self._session.op({"op": "contains", "target": self._target, "key": node}, f"... in {self._label}", bufs)

    def __repr__(self):
        try:
            return self._session.op({"op": "repr", "target": self._target}, f"repr({self._label})")
        except BaseException:  # noqa: BLE001
            return f"<student object {self._label}>"

    def __str__(self):
        try:
            return self._session.op({"op": "str", "target": self._target}, f"str({self._label})")
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
                          data_files=getattr(assignment, "sandbox_data", []))
        self.excluded: set[int] = set()
        self.notes: list[str] = []
        self.names: dict[str, dict] = {}
        self.values: dict[str, object] = {}
        self.loaded = False
        self.load_s = 0.0
        # per-test state
        self.cpu_limit = float(limits["cpu_per_test"])
        self.wall_deadline = float("inf")
        self.pending_seed: int | None = None
        self.submission_deadline = time.monotonic() + float(limits.get("wall_per_submission", 600))
        self.tasks_after_load: int | None = None
        self.ref_labels: dict[int, str] = {}
        self.graded = sorted(_graded_names(assignment))
        self.shadowed: list[str] = []
        self.mutated: list = []          # grader-side arrays whose sandbox copy a call changed
        self.test_refs: list[int] = []   # remote references made during the current test
        self.visibility = "public"       # of the current test

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
                    head, bufs = self.sb.request(
                        {"op": "load", "stmts": [self.code.stmts[i] for i in sent], "cells": self.code.cells,
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
                        self.notes.append(f"The values your notebook defines could not be sent back whole "
                                          f"({safe_text(fault.message, 300)}); they were used remotely.")
                        continue
                    k = current["k"]
                    if not isinstance(k, int) or not 0 <= k < len(sent):
                        raise
                    bad = sent[k]
                    st = self.code.stmts[bad]
                    self.excluded.add(bad)
                    self.notes.append(f"{_where(self.code, st)} was skipped while loading "
                                      f"your code ({fault.kind}: {safe_text(fault.message, 300)}).")
                    continue
                if not head.get("ok"):
                    raise SandboxFault("crash", "the sandbox could not load the notebook")
                self._set_names(head, bufs)
                self.tasks_after_load = self.sb.pids_count()
                if not self.loaded:
                    errors = head.get("errors") if isinstance(head.get("errors"), list) else []
                    for e in errors[:20]:
                        if not isinstance(e, dict):
                            continue
                        info = e.get("error") if isinstance(e.get("error"), dict) else {}
                        st = {"cell": e.get("cell", 0), "lineno": e.get("lineno")}
                        self.notes.append(f"{_where(self.code, st)}: {safe_text(info.get('type'), 100)}: "
                                          f"{safe_text(info.get('message'), 500)}")
                self.loaded = True
                return
            raise SandboxFault("crash", "the notebook's code kept stopping the sandbox while loading")
        finally:
            self.load_s += time.monotonic() - t0

    def _set_names(self, head, bufs):
        self.names = {}
        self.values = {}
        graded = set(self.graded)
        names = head.get("names") if isinstance(head.get("names"), dict) else {}
        for name, info in names.items():
            if not isinstance(info, dict) or name not in graded:
                continue
            self.names[name] = {"kind": info.get("kind") if info.get("kind") in _KINDS else "object"}
        shadowed = head.get("shadowed") if isinstance(head.get("shadowed"), list) else []
        self.shadowed = sorted({n for n in shadowed[:200] if isinstance(n, str) and n in _BUILTIN_NAMES
                                and not n.startswith("_")})
        values = head.get("values") if isinstance(head.get("values"), dict) else {}
        for name, node in values.items():
            if name in self.names:
                try:
                    self.values[name] = P.decode(node, bufs)
                except (P.ProtocolError, KeyError, TypeError, ValueError):
                    self.names[name]["kind"] = "object"

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
            raise _Abort(TIMEOUT, f"{label} stopped: the test used more than {self.cpu_limit:g} s of CPU time "
                         "(an infinite loop, or a much slower method than needed?)")
        if not self.sb.alive():
            raise _Abort(CRASH, "the sandbox is not running")
        try:
            head, rbufs = self.sb.request(header, bufs, cpu_limit=cpu_left, wall_limit=wall_left)
        except SandboxFault as fault:
            if fault.kind == TIMEOUT:
                raise _Abort(TIMEOUT, f"{label} {fault.message} (the limit for this test is {self.cpu_limit:g} s "
                             "of CPU time: an infinite loop, or a much slower method than needed?)") from None
            if fault.kind == MEMORY:
                raise _Abort(MEMORY, f"{label}: {fault.message}") from None
            raise _Abort(CRASH, f"{label} crashed: {fault.message}") from None
        if not head.get("ok"):
            info = head.get("error") or {}
            if info.get("memory"):
                raise _Abort(MEMORY, f"{label} ran out of memory (MemoryError): the sandbox allows "
                             f"{self.limits['memory_mb']:g} MB")
            if info.get("forbidden"):
                raise _Abort(FORBIDDEN, f"{label}: {info.get('message')}")
            raise _student_exception(info, label)
        try:
            value = P.decode(head.get("value"), rbufs, self._from_ref)
            if isinstance(value, RemoteObject):
                object.__setattr__(value, "_label", label + "(...)" if header.get("op") == "call" else label)
                if len(self.ref_labels) < 10_000:
                    self.ref_labels[value._ref_id] = value._label
            mut = head.get("mut") if isinstance(head.get("mut"), list) else []
            if mut and arrays:
                changed = {m for m in mut[:10_000] if isinstance(m, int)}
                self.mutated.extend(orig for b, orig in arrays if b in changed)
        except (P.ProtocolError, KeyError, TypeError, ValueError, IndexError, RecursionError) as exc:
            raise _Abort(CRASH, f"{label}: the sandbox sent an invalid answer ({safe_text(exc, 200)})") from None
        return value

    def was_modified(self, obj) -> bool:
        """Did a call of the student's code change its copy of ``obj`` (an argument)?"""
        return any(o is obj for o in self.mutated)

    def call(self, target: dict, args, kwargs, label: str):
        name = target.get("global")
        if name in self.flagged:
            raise _Abort(FORBIDDEN, f"{name} uses {', '.join(self.flagged[name])}, which this assignment "
                         "does not allow: write it with the allowed tools (numpy array operations)")
        bufs: list = []
        arrays: list = []
        node_args = self.encode(tuple(args), bufs, arrays)
        node_kwargs = self.encode(dict(kwargs), bufs, arrays)
        return self.op({"op": "call", "target": target, "args": node_args, "kwargs": node_kwargs},
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
            used = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
        except SyntaxError:
            used = set()
        for name in sorted(used & set(self.flagged)):
            raise _Abort(FORBIDDEN, f"{name} uses {', '.join(self.flagged[name])}, which this assignment "
                         "does not allow")
        bufs: list = []
        node = self.encode(dict(inputs), bufs)
        try:
            return self.op({"op": "run", "code": code, "inputs": node}, "the checked code", bufs)
        except StudentCodeError as exc:
            if exc.student_type == "KeyError" and "did not set `result`" in exc.student_message:
                raise AssertionError("the checked code did not set `result`") from None
            raise

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
                head, _ = sb.request({"op": "threads"}, cpu_limit=5, wall_limit=20)
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
                self.sb.request({"op": "release", "ids": refs}, cpu_limit=5, wall_limit=20)
            except SandboxFault:
                pass

    def namespace(self, setup_ns: dict) -> dict:
        """A test cell's globals: the student's *graded names* only (the names the
        assignment's solution cells define), then the setup cell's names and the helpers,
        which no student name can replace; builtins are the grader's own."""
        ns: dict = {}
        for name, info in self.names.items():
            kind = info.get("kind")
            if kind == "module" or name in _BUILTIN_NAMES:
                continue
            if kind == "value" and name in self.values:
                ns[name] = copy.deepcopy(self.values[name])
            else:
                ns[name] = RemoteObject(self, {"global": name}, name)
        ns.update(setup_ns)
        ns.update(_helpers(self))
        return ns


def _quiet_print(*args, **kwargs):
    """Test cells' prints are not shown while grading."""


_KINDS = ("module", "class", "function", "value", "object")
_BUILTIN_NAMES = frozenset(dir(builtins))


def _graded_names(assignment) -> set[str]:
    """The student names tests may use: the solution cells' top-level names; for an
    assignment without solution cells, the names its test cells read (builtins excluded)."""
    names = set(getattr(assignment, "graded_names", ()) or ())
    if not names:
        for spec in assignment.tests:
            try:
                tree = ast.parse(spec.source)
            except (SyntaxError, ValueError, RecursionError):
                continue
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names -= set(checks.__all__) | {"np", "ref"}
    return {n for n in names if n.isidentifier() and n not in _BUILTIN_NAMES}


def _where(code, st: dict) -> str:
    """A statement's place as a Jupyter user finds it: the cell's first line and the line."""
    try:
        cell = int(st.get("cell", 0))
    except (TypeError, ValueError):
        cell = 0
    first = ""
    src = (getattr(code, "cells", {}) or {}).get(cell) or (getattr(code, "cells", {}) or {}).get(str(cell)) or ""
    for line in str(src).splitlines():
        if line.strip():
            first = line.strip()[:60]
            break
    line_no = st.get("lineno")
    where = f"the cell starting `{first}`" if first else f"code cell {cell + 1}"
    return f"{where} (line {line_no})" if line_no else where


def _helpers(session: Session) -> dict:
    ns = {name: getattr(checks, name) for name in checks.__all__}
    ns["run_student"] = session.run_student
    ns["run_probe"] = session.run_probe

    def assert_not_modified(after, before, *, name: str = "the input") -> None:
        if session.was_modified(after):
            raise AssertionError(f"The function modified {name} in place. Work on a copy (np.pad returns a new "
                                 f"array) and leave the caller's arrays unchanged.")
        checks.assert_not_modified(after, before, name=name)
    assert_not_modified.__doc__ = checks.assert_not_modified.__doc__
    ns["assert_not_modified"] = assert_not_modified
    ns["np"] = np
    ns["print"] = _quiet_print
    ns["__builtins__"] = builtins
    ns["__name__"] = "__grader__"
    return ns


_SETUP_LOCK = threading.Lock()
_SETUP_CACHE: dict[tuple, dict] = {}


def _setup_namespace(assignment: Assignment) -> dict:
    """The assignment's setup cell run in the grader (imports of helpers); errors ignored."""
    key = (assignment.name, str(assignment.path), assignment.setup_source)
    with _SETUP_LOCK:
        if key not in _SETUP_CACHE:
            ns: dict = {"__builtins__": builtins, "__name__": "__grader__"}
            if assignment.setup_source.strip():
                try:
                    tree = ast.parse(assignment.setup_source)
                    tree.body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))]
                    exec(compile(tree, "<setup>", "exec"), ns)
                except Exception:  # noqa: BLE001 - best effort: the helpers are provided anyway
                    pass
            _SETUP_CACHE[key] = {k: v for k, v in ns.items() if not k.startswith("__")}
        return dict(_SETUP_CACHE[key])


# ----------------------------------------------------------------------------- versions

_VERSIONS: dict = {}


def _versions() -> dict:
    if not _VERSIONS:
        from importlib import metadata
        v = {"python": platform.python_version(), "autograder": __version__, "numpy": np.__version__}
        for pkg in ("torch", "tensorflow-cpu", "tensorflow", "keras", "nbgrader"):
            try:
                v[pkg] = metadata.version(pkg)
            except metadata.PackageNotFoundError:
                pass
        _VERSIONS.update(v)
    return dict(_VERSIONS)


# ----------------------------------------------------------------------------- grading

def _run_test(session: Session, spec, setup_ns: dict, names_defined: set) -> tuple[str, str]:
    try:
        return _run_test_cell(session, spec, setup_ns, names_defined)
    finally:
        session.end_test()


def _run_test_cell(session: Session, spec, setup_ns: dict, names_defined: set) -> tuple[str, str]:
    ns = session.namespace(setup_ns)
    hidden = spec.visibility == HIDDEN
    try:
        code = compile(spec.source, f"<test {spec.grade_id}>", "exec")
    except SyntaxError as exc:
        return ERROR, f"the test itself could not be compiled ({exc.msg}); tell your instructor"
    try:
        exec(code, ns)
    except _Abort as a:
        return a.kind, a.message
    except StudentCodeError as exc:
        return ERROR, _describe_student_error(exc)
    except AssertionError as exc:
        text = str(exc).strip()
        if not text:
            if hidden:
                text = "a hidden check failed"
            else:
                line = _test_line(exc, spec)
                text = f"the check `{line}` failed" if line else "a check failed"
        return FAILED, text
    except NameError as exc:
        missing = getattr(exc, "name", None)
        if missing and missing not in names_defined:
            return ERROR, (f"your notebook does not define {missing!r}: was its cell deleted, renamed, "
                           "or did it fail to run?")
        return ERROR, f"NameError: {exc}"
    except RecursionError:
        return ERROR, "RecursionError: maximum recursion depth exceeded"
    except Exception as exc:  # noqa: BLE001
        cause = exc.__context__
        prefix = ""
        if isinstance(cause, StudentCodeError):
            prefix = _describe_student_error(cause) + "\n"
        where = "" if hidden else (f" (line {_test_lineno(exc, spec)} of the test)" if _test_lineno(exc, spec) else "")
        return ERROR, prefix + f"{type(exc).__name__}: {exc}{where}"
    return PASSED, ""


def _test_lineno(exc, spec) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == f"<test {spec.grade_id}>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _test_line(exc, spec) -> str:
    n = _test_lineno(exc, spec)
    if not n:
        return ""
    lines = spec.source.splitlines()
    return lines[n - 1].strip() if 0 < n <= len(lines) else ""


def grade_notebook(assignment: Assignment, notebook_path, student_id: str = "student", *, insecure: bool = False,
                   public_only: bool = False, limits: dict | None = None, seed: int = 0,
                   hide=()) -> SubmissionResult:
    """Grade one submitted notebook against ``assignment``; see the module docstring.

    ``limits`` overrides ``grading.toml [limits]`` (``cpu_per_test`` also overrides the
    per-test values); ``hide``: extra paths the sandbox must not see (output folders).
    Returns a :class:`SubmissionResult` (status ``graded``, ``invalid`` or ``error``).
    """
    t0 = time.monotonic()
    lim = {**DEFAULT_LIMITS, **{k: v for k, v in assignment.limits.items() if k != "tests"}, **(limits or {})}
    specs = [t for t in assignment.tests if not (public_only and t.visibility == HIDDEN)]
    result = SubmissionResult(student_id=student_id, assignment=assignment.name, status=GRADED, score=0.0,
                              max_score=float(sum(t.points for t in specs)), seed=seed, grader_version=__version__,
                              notebook=Path(notebook_path).name, versions=_versions())

    def all_tests(status, message):
        return [TestResult(t.grade_id, 0.0, t.points, status, message, t.visibility) for t in specs]

    try:
        data, cells = read_notebook(notebook_path)
        result.sha256 = hashlib.sha256(data).hexdigest()
    except InvalidSubmission as exc:
        try:
            result.sha256 = hashlib.sha256(Path(notebook_path).read_bytes()).hexdigest()
        except OSError:
            pass
        result.status = INVALID
        result.message = f"The submission could not be read: {exc}."
        result.tests = all_tests(ERROR, "not graded: the submission could not be read")
        result.durations = {"total_s": round(time.monotonic() - t0, 4)}
        return result

    isolation = isolation_available()
    if isolation is None and not insecure:
        result.status = ERROR
        result.message = ("Refusing to grade: no sandbox isolation is available on this machine (it needs Linux, "
                          "root and `unshare`). Grade elsewhere, or pass insecure=True / --insecure.")
        result.tests = all_tests(ERROR, "not graded: no isolation available")
        return result

    code = extract_student_code(cells, test_ids=assignment.test_ids,
                                test_texts=assignment.test_sources_for_matching)
    forb = assignment.forbidden
    flagged = analyze(code.nodes, forb.get("modules", []), forb.get("names", []))
    test_override = assignment.limits.get("tests", {}) or {}
    session = Session(assignment, code, flagged, lim, insecure=insecure, seed=seed,
                      hide=[*hide, *(_submission_dirs(notebook_path))])
    notes = list(code.notes)
    setup_ns = _setup_namespace(assignment)
    names_defined: set = set()
    tests_t0 = None
    try:
        try:
            session.start()
            names_defined = set(session.names)
        except (SandboxError, SandboxFault) as exc:
            if isinstance(exc, SandboxError):
                result.status = ERROR
                result.message = f"Grading failed: {exc}"
                result.tests = all_tests(ERROR, "not graded: the sandbox could not be started")
                return result
            notes.append(f"Your code could not be loaded: {exc}")
        result.isolation = session.sb.mechanisms
        tests_t0 = time.monotonic()
        for i, spec in enumerate(specs):
            t1 = time.monotonic()
            cpu_before = session.sb.cpu_seconds()
            status, message = _grade_one(session, spec, i, lim, test_override, limits, setup_ns, names_defined)
            if session.loaded:
                names_defined = set(session.names) or names_defined
            session.clean_up()
            pts = float(spec.points) if status == PASSED else 0.0
            result.tests.append(TestResult(spec.grade_id, pts, float(spec.points), status, safe_text(message),
                                           spec.visibility, round(time.monotonic() - t1, 4),
                                           round(max(0.0, session.sb.cpu_seconds() - cpu_before), 4)))
    except Exception as exc:  # noqa: BLE001 - an engine bug must not stop a batch
        done = {t.name for t in result.tests}
        msg = safe_text(f"internal grader error: {type(exc).__name__}: {exc}", 500)
        for t in specs:
            if t.grade_id not in done:
                result.tests.append(TestResult(t.grade_id, 0.0, t.points, ERROR, msg, t.visibility))
        notes.append("The grader hit an internal error; tell your instructor. " +
                     safe_text("".join(traceback.format_exception_only(type(exc), exc)).strip(), 500))
    finally:
        result.isolation = session.sb.mechanisms or result.isolation
        result.durations = {
            "total_s": round(time.monotonic() - t0, 4),
            "sandbox_start_s": round(session.sb.start_s, 4),
            "load_s": round(session.load_s, 4),
            "tests_s": round(time.monotonic() - tests_t0, 4) if tests_t0 else 0.0,
            "sandbox_starts": session.sb.starts,
            "cpu_s": round(session.sb.cpu_seconds(), 4),
        }
        session.close()
    notes.extend(session.notes[:50])
    if session.shadowed:
        notes.append("Your code defines " + ", ".join(f"`{n}`" for n in session.shadowed[:10])
                     + (" and more" if len(session.shadowed) > 10 else "")
                     + ", the name(s) of Python builtins. The tests use Python's own; choose another name "
                     "so your own code does not break.")
    if code.skipped:
        notes.append(f"{code.skipped} top-level statement(s) (plots, prints, training runs, loops) were not run "
                     "while grading; only imports, functions, classes and simple assignments are.")
    if flagged:
        notes.append("Forbidden APIs: " + "; ".join(f"{k} uses {', '.join(v)}" for k, v in sorted(flagged.items())))
    result.message = safe_text("\n".join(safe_text(n, 2000) for n in notes), MAX_SUBMISSION_MESSAGE)
    result.score = float(sum(t.points for t in result.tests))
    return result


def _grade_one(session, spec, i, lim, test_override, limits, setup_ns, names_defined) -> tuple[str, str]:
    if time.monotonic() >= session.submission_deadline:
        return TIMEOUT, (f"not run: the submission used its whole wall-clock budget of "
                         f"{float(lim['wall_per_submission']):g} s in earlier tests")
    spent = session.sb.cpu_seconds()
    left = float(lim["cpu_per_submission"]) - spent
    if left <= 0:
        return TIMEOUT, (f"not run: the submission used its whole CPU budget of {lim['cpu_per_submission']:g} s "
                         "in earlier tests")
    if not session.sb.alive():
        try:
            session.start()
        except (SandboxError, SandboxFault) as exc:
            return CRASH, f"not run: the sandbox could not be restarted ({exc})"
    cpu = float(test_override.get(spec.grade_id, lim["cpu_per_test"]))
    if limits and "cpu_per_test" in limits:
        cpu = float(limits["cpu_per_test"])
    cpu = min(cpu, left)
    session.begin_test(cpu, (zlib.crc32(spec.grade_id.encode()) + session.seed) % (2**31), spec.visibility)
    return _run_test(session, spec, setup_ns, names_defined)


def _submission_dirs(path) -> list[str]:
    p = Path(path).resolve()
    out = []
    for d in (p.parent, p.parent.parent):
        if len(d.parts) > 2:
            out.append(str(d))
    return out
