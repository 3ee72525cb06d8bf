"""Grading one submission: ``grade_notebook(assignment, path) -> SubmissionResult``.

The student's definitions run in a sandbox, reached through a :class:`~autograder.remote.Session`
(remote.py: the remote-object protocol over sandbox.py and worker.py). Each test cell of
the instructor's source notebook runs here, in the grader, in a fresh namespace holding
``np``, the helpers of ``autograder.tools.checks`` (``run_student``/``run_probe`` run in
the sandbox), the setup cell's names and a proxy for every graded name of the student's
code. A test passes when its cell runs without exception; student exceptions come back as
:class:`StudentCodeError` subclasses of the same builtin type. ``grade_notebook`` never
raises for anything a submission does and never modifies the submission file; it is
thread-safe (each call owns its sandbox).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import importlib.util
import inspect
import os
import platform
import random
import resource
import sys
import threading
import time
import traceback
import types
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from . import protocol
from . import pysource
from .assignment import Assignment, points_of
from .forbidden import analyze
from .notebook import InvalidSubmission, extract_student_code, read_notebook
from .remote import Abort, RemoteObject, Session, StudentCodeError, describe_student_error
from .results import CRASH, ERROR, FAILED, GRADED, HIDDEN, INVALID, PASSED, TIMEOUT, SubmissionResult, TestResult
from .text import MAX_SUBMISSION_MESSAGE, safe_text
from .isolation.probe import isolation_available
from .sandbox import SandboxError, SandboxFault
from .tools import checks

# StudentCodeError, RemoteObject and isolation_available are re-exported: callers import them from here.
__all__ = ["grade_notebook", "prepare_grader", "isolation_available", "StudentCodeError", "RemoteObject"]


# ----------------------------------------------------------------------------- test-cell namespace

def _test_namespace(session: Session, setup_ns: dict, source: str | None = None) -> dict:
    """A test cell's globals: the student's graded names (``Session.proxies``; ``source``,
    the test's code, says which big values it uses), then the setup cell's names and the
    helpers, which no student name can replace; builtins are the grader's own."""
    ns = session.proxies(source)
    ns.update(setup_ns)
    ns.update(_helpers(session))
    return ns


def _quiet_print(*args, **kwargs):
    """Test cells' prints are not shown while grading."""


def _helpers(session: Session) -> dict:
    """The grader's helpers for a test cell: ``autograder.tools.checks``, with ``run_student``,
    ``run_probe`` and ``assert_not_modified`` bound to ``session``; ``np``; a silent print.
    In a hidden test (``session.visibility``) the checks are the hidden variants: their
    messages say what is wrong without the expected values (checks.test_helpers)."""
    ns = checks.test_helpers(hidden=getattr(session, "visibility", "public") == HIDDEN)
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


class SetupError(Exception):
    """The instructor's setup cell does not run in the grader: the instructor's mistake, never the
    student's (``cnn-course release`` refuses such an assignment; grading reports it as an error)."""


def run_setup_cell(source: str) -> dict:
    """The names the setup cell's imports and assignments define, run in the grader; raises
    :class:`SetupError` naming the exception when they fail."""
    ns: dict = {"__builtins__": builtins, "__name__": "__grader__"}
    if source.strip():
        try:
            tree = pysource.parse(source)
            tree.body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))]
            exec(pysource.compile_code(tree, "<setup>", "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is the setup cell's
            raise SetupError(f"the assignment's setup cell (grade_id 'setup') fails in the grader: "
                             f"{type(exc).__name__}: {exc}") from None
    return {k: v for k, v in ns.items() if not k.startswith("__")}


def _setup_namespace(assignment: Assignment) -> dict:
    """The assignment's setup cell run in the grader (imports of helpers), once per process;
    :class:`SetupError` when it fails (every time it is asked for)."""
    key = (assignment.name, str(assignment.path), assignment.setup_source)
    # TensorFlow's C++ start-up lines ("oneDNN custom operations...") would reach a student's
    # terminal during `check`; the sandbox sets the same.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _SETUP_LOCK:
        if key not in _SETUP_CACHE:
            try:
                _SETUP_CACHE[key] = run_setup_cell(assignment.setup_source)
            except SetupError as exc:
                _SETUP_CACHE[key] = exc
        got = _SETUP_CACHE[key]
    if isinstance(got, SetupError):
        raise SetupError(str(got))
    return dict(got)


# ----------------------------------------------------------------------------- versions

_VERSIONS: dict = {}
_VERSIONS_LOCK = threading.Lock()


def _versions() -> dict:
    with _VERSIONS_LOCK:
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


# ----------------------------------------------------------------------------- before any grading thread
#
# A grade must be a pure function of the submission. Python imports are not safe to run for
# the first time on several threads at once: a thread that reaches torch while another is
# still importing it sees a half-initialised module ("partially initialized module 'torch'
# has no attribute 'Tensor'"), and the test that happened to run then fails for a student who
# did nothing wrong. So everything the grading code may import is imported once, here, before
# a thread pool starts (batch.grade_folder and distributed.grade_task call this; grade_notebook
# calls it too, under a lock, so no path grades before it is done):
#
# * torch, when installed (protocol.decode rebuilds tensors with it);
# * what the grader's own modules import lazily (IPython's input transformer, the data helpers,
#   importlib.metadata for the versions);
# * the assignment's setup cell, and every module its test cells import (``import X``, ``from X
#   import Y``, at any depth), with the attributes the tests take from them (``ref.summarize``
#   loads ``solutions.shapes`` lazily), and, for reference code of this repository, the imports
#   inside the functions the tests use (``build_torch_model`` imports ``torch.nn`` when called),
#   followed through the functions of the same module that those call.
#
# It also bounds the grader's own memory (:func:`set_grader_memory_limit`).

_PREPARE_LOCK = threading.RLock()
_PREPARED: set = set()
_PROCESS_PREPARED: list = []
MAX_WALKED = 2000                # functions and classes whose lazy imports are followed
GRADER_MEMORY_FRACTION = 0.75    # default bound of the grader's own memory: this share of the RAM
GRADER_MEMORY: dict = {}         # {"mb": the bound set, or None}


def prepare_grader(assignment, limits: dict | None = None) -> None:
    """Import, once per process and assignment, everything grading ``assignment`` may import,
    before any grading thread runs (see above); never raises."""
    try:
        key = (getattr(assignment, "name", ""), str(getattr(assignment, "path", "")),
               hashlib.sha256("\0".join(_grader_sources(assignment)).encode("utf-8", "surrogatepass")).hexdigest())
    except Exception:  # noqa: BLE001 - an odd assignment object (tests' fakes): nothing to prepare
        return
    with _PREPARE_LOCK:
        if not _PROCESS_PREPARED:
            _prepare_process()
            _PROCESS_PREPARED.append(True)
        if key in _PREPARED:
            return
        try:
            set_grader_memory_limit(assignment.effective_limits(limits))
        except Exception:  # noqa: BLE001 - a fake assignment without limits
            set_grader_memory_limit(limits)
        if isinstance(getattr(assignment, "setup_source", None), str):
            try:
                _setup_namespace(assignment)
            except SetupError:
                pass                 # each submission's result says so (grade_notebook)
        for module_name, attrs in _imports_of(_grader_sources(assignment)).items():
            _import_quietly(module_name, attrs)
        _PREPARED.add(key)


def _grader_sources(assignment) -> list[str]:
    out = []
    setup = getattr(assignment, "setup_source", "")
    if isinstance(setup, str):
        out.append(setup)
    for spec in getattr(assignment, "tests", ()) or ():
        src = getattr(spec, "source", "")
        if isinstance(src, str):
            out.append(src)
    return out


def _prepare_process() -> None:
    protocol.load_torch()
    _versions()
    for name in ("autograder.tools.data", "autograder.tools.probes", "autograder.similarity"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional
            pass
    try:
        from . import notebook
        with pysource.AST_LOCK:
            notebook._transformer()          # imports IPython's input transformers
    except Exception:  # noqa: BLE001
        pass
    _walk_lazy_imports([getattr(checks, n, None) for n in checks.__all__], set())  # the helpers' (tomllib...)


def _imports_of(sources) -> dict[str, set]:
    """``{module: attributes taken from it}`` for the import statements of ``sources`` (at any
    depth) and the attributes read off a name bound to an imported module (``ref.conv2d``)."""
    out: dict[str, set] = {}
    for src in sources:
        try:
            tree = pysource.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        alias_of: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    out.setdefault(a.name, set())
                    if a.asname:
                        alias_of[a.asname] = a.name
                    else:
                        alias_of[a.name.split(".")[0]] = a.name.split(".")[0]
                        out.setdefault(a.name.split(".")[0], set())
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.setdefault(node.module, set()).update(a.name for a in node.names if a.name != "*")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in alias_of:
                out[alias_of[node.value.id]].add(node.attr)
    return out


def _import_quietly(module_name: str, attrs=()) -> None:
    """Import ``module_name`` and take ``attrs`` from it (a submodule if need be), then follow
    the lazy imports of this repository's code among them; errors are ignored (the test will
    meet them itself, the same way for every student)."""
    try:
        mod = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - not installed, or broken: the test reports it
        return
    objs = [mod]
    for attr in sorted(attrs):
        try:
            objs.append(getattr(mod, attr))
        except Exception:  # noqa: BLE001
            try:
                objs.append(importlib.import_module(f"{module_name}.{attr}"))
            except Exception:  # noqa: BLE001
                pass
    _walk_lazy_imports(objs, set())


OWN_PACKAGES = ("autograder", "solutions")


def _local(obj) -> bool:
    """Whether ``obj`` (a module, function or class) is this project's code (the reference
    solutions, the course's tools), whose function-level imports are followed. By package name,
    not by path: in an installed copy every library sits beside ``autograder`` in site-packages,
    and walking torch's or TensorFlow's sources cost a student's `check` a minute of CPU."""
    name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
    return isinstance(name, str) and name.split(".", 1)[0] in OWN_PACKAGES


def _walk_lazy_imports(objs, seen: set) -> None:
    """Import what the functions and classes among ``objs`` (this repository's only) import
    when called, and do the same for the module-level functions they use."""
    todo = list(objs)
    while todo and len(seen) < MAX_WALKED:
        obj = todo.pop()
        if isinstance(obj, types.ModuleType) or not _local(obj) or id(obj) in seen:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        seen.add(id(obj))
        try:
            tree = pysource.parse(inspect.getsource(obj))
        except Exception:  # noqa: BLE001 - no source (built at run time), or not parseable
            continue
        mod = sys.modules.get(obj.__module__)
        package = getattr(mod, "__package__", None) or ""
        glob = getattr(obj, "__globals__", None) or vars(mod) if mod is not None else {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    _import_only(a.name)
            elif isinstance(node, ast.ImportFrom):
                try:
                    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                        if node.level else node.module
                except (ImportError, ValueError):
                    continue
                if not base:
                    continue
                m = _import_only(base)
                for a in node.names:
                    if m is not None and a.name != "*" and not hasattr(m, a.name):
                        _import_only(f"{base}.{a.name}")
                    elif m is not None and a.name != "*":
                        todo.append(getattr(m, a.name, None))
            elif isinstance(node, ast.Name) and node.id in glob:
                todo.append(glob[node.id])
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and isinstance(glob.get(node.value.id), types.ModuleType):
                todo.append(getattr(glob[node.value.id], node.attr, None))


def _import_only(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001
        return None


def set_grader_memory_limit(limits: dict | None = None) -> int | None:
    """Bound this process's own memory (RLIMIT_DATA, soft limit only): past it an allocation
    fails with MemoryError in the one test that made it (engine turns it into that test's
    failure) instead of the kernel killing the whole batch. ``limits["grader_memory_mb"]``,
    else the environment's ``CNN_COURSE_GRADER_MEMORY_MB`` (``off``: no bound), else 3/4 of the RAM; never under
    a sandbox's ``memory_mb`` + 1 GB (sandboxes inherit the limit and have their own: it is
    raised, within the hard limit, where an assignment's sandboxes need more), never over the
    hard limit. Returns the bound in MB (None: not set)."""
    lim = limits or {}
    mb = lim.get("grader_memory_mb") or os.environ.get("CNN_COURSE_GRADER_MEMORY_MB") or 0
    if str(mb).strip().lower() in ("off", "none", "unlimited"):
        return None                       # left as it is (e.g. a GPU host where it was found to hurt)
    try:
        mb = float(mb)
    except (TypeError, ValueError):
        mb = 0.0
    if mb <= 0:
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
        mb = GRADER_MEMORY_FRACTION * ram / 2**20
    try:
        floor = float(lim.get("memory_mb", 0) or 0) + 1024
    except (TypeError, ValueError):
        floor = 1024.0
    mb = max(mb, floor)
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = int(mb * 2**20)
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft == resource.RLIM_INFINITY or want < soft or soft < floor * 2**20:
            resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
        soft = resource.getrlimit(resource.RLIMIT_DATA)[0]
    except (ValueError, OSError):
        return None
    GRADER_MEMORY["mb"] = None if soft == resource.RLIM_INFINITY else soft // 2**20
    return GRADER_MEMORY["mb"]


# ----------------------------------------------------------------------------- the grader's global state
#
# Test cells run in the grader, several submissions' at once on a thread pool, and reference
# code uses the process's global random generators (``_torch.manual_seed(0); ref.LeNet5()``
# builds the reference network from torch's global generator; numpy's and Python's legacy
# globals likewise). Another thread seeding or drawing between those two lines would change
# the reference a student is compared with. So a test cell's own code runs alone (one lock),
# with the global generators seeded from the test and the submission's seed; while it waits
# for its sandbox (most of a test's time) the lock is let go, and the generators' state is
# put back as the test left it when it takes the lock again. The sandbox calls of all
# threads still overlap; only the grader's own Python work is serialised, as the GIL mostly
# did anyway.

_GRADER_LOCK = threading.Lock()
_HOLDER: list = [None]          # the thread holding _GRADER_LOCK for its test cell


def _rng_state():
    torch = protocol.load_torch()
    return (random.getstate(), np.random.get_state(),
            torch.random.get_rng_state() if torch is not None else None)


def _set_rng_state(state) -> None:
    py, npy, tor = state
    random.setstate(py)
    np.random.set_state(npy)
    if tor is not None:
        protocol.load_torch().random.set_rng_state(tor)


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = protocol.load_torch()
    if torch is not None:
        torch.random.default_generator.manual_seed(seed)


@contextmanager
def _sandbox_wait():
    """Let the other threads' test cells run while this one waits for its sandbox."""
    if _HOLDER[0] != threading.get_ident():     # a thread the test cell started: it holds nothing
        yield
        return
    state = _rng_state()
    _HOLDER[0] = None
    _GRADER_LOCK.release()
    try:
        yield
    finally:
        _GRADER_LOCK.acquire()
        _HOLDER[0] = threading.get_ident()
        _set_rng_state(state)


@contextmanager
def _test_globals(session: Session, seed: int):
    """Run a test cell's grader-side code alone, with the global generators seeded by ``seed``."""
    _GRADER_LOCK.acquire()
    _HOLDER[0] = threading.get_ident()
    try:
        _seed_globals(seed)
        session.request_gate = _sandbox_wait
        yield
    finally:
        session.request_gate = None
        _HOLDER[0] = None
        _GRADER_LOCK.release()


# ----------------------------------------------------------------------------- grading

def _run_test(session: Session, spec, setup_ns: dict, names_defined: set) -> tuple[str, str]:
    try:
        with _test_globals(session, (zlib.crc32(spec.grade_id.encode()) + session.seed) % (2**31)):
            status, message = _run_test_cell(session, spec, setup_ns, names_defined)
    finally:
        session.end_test()
    if spec.visibility == HIDDEN:
        message = _scrub_hidden_source(message, spec.source)
    return status, message


def _scrub_hidden_source(message: str, source: str) -> str:
    """``message`` without any line of the hidden test's code (an exception may quote one)."""
    if not message:
        return message
    lines = {ln.strip() for ln in source.splitlines()}
    for line in sorted((ln for ln in lines if len(ln) >= 16 and "HIDDEN TESTS" not in ln), key=len, reverse=True):
        if line in message:
            message = message.replace(line, "[a line of the hidden test]")
    return message


def _run_test_cell(session: Session, spec, setup_ns: dict, names_defined: set) -> tuple[str, str]:
    try:
        ns = _test_namespace(session, setup_ns, spec.source)
    except MemoryError:
        return ERROR, _memory_message(spec)
    hidden = spec.visibility == HIDDEN
    try:
        code = pysource.compile_code(spec.source, f"<test {spec.grade_id}>", "exec")
    except SyntaxError as exc:
        return ERROR, f"the test itself could not be compiled ({exc.msg}); tell your instructor"
    try:
        exec(code, ns)
    except Abort as a:
        return a.kind, a.message
    except StudentCodeError as exc:
        return ERROR, describe_student_error(exc)
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
    except MemoryError as exc:
        return ERROR, _memory_message(spec, exc)
    except Exception as exc:  # noqa: BLE001
        cause = exc.__context__
        prefix = ""
        if isinstance(cause, StudentCodeError):
            prefix = describe_student_error(cause) + "\n"
        if isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc):   # torch's MemoryError
            return ERROR, _memory_message(spec, exc)
        where = "" if hidden else (f" (line {_test_lineno(exc, spec)} of the test)" if _test_lineno(exc, spec) else "")
        return ERROR, prefix + f"{type(exc).__name__}: {exc}{where}"
    return PASSED, ""


def _memory_message(spec, exc: BaseException | None = None) -> str:
    """A MemoryError in the grader while it checked this submission's values: this test fails
    (no other submission is affected; the memory is freed with the test's namespace)."""
    bound = GRADER_MEMORY.get("mb")
    msg = ("checking your values needed more memory than the grader allows"
           + (f" ({bound:,} MB)" if bound else "")
           + ": what your code returned is probably far larger than the test expects (a wrong shape, or a "
             "size from a wrong formula); compare your results' shapes with the expected ones")
    if spec.visibility != HIDDEN and exc is not None and str(exc).strip():
        msg += f" (MemoryError: {safe_text(str(exc), 300)})"
    return msg


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
    prepare_grader(assignment, limits)      # once per process and assignment, before any test runs
    lim = assignment.effective_limits(limits)
    specs = [t for t in assignment.tests if not (public_only and t.visibility == HIDDEN)]
    result = SubmissionResult(student_id=student_id, assignment=assignment.name, status=GRADED, score=0.0,
                              max_score=points_of(specs), seed=seed, grader_version=__version__,
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

    with pysource.AST_LOCK:      # extraction parses (and IPython transforms) the student's cells
        code = extract_student_code(cells, test_ids=assignment.test_ids,
                                    test_texts=assignment.test_sources_for_matching)
    forb = assignment.forbidden
    flagged = analyze(code.nodes, forb.get("modules", []), forb.get("names", []))
    for scope in forb.get("scoped", []):     # forbidden in some functions only (assignment.py)
        hits = analyze(code.nodes, scope.get("modules", []), scope.get("names", []))
        for name in scope["functions"]:
            if name in hits:
                flagged[name] = sorted(set(flagged.get(name, [])) | set(hits[name]))
    try:
        setup_ns = _setup_namespace(assignment)
    except SetupError as exc:
        result.status = ERROR
        result.message = safe_text(f"Grading failed: {exc}. This is not a mistake in your notebook: tell your "
                                   "instructor, who must fix the assignment.", MAX_SUBMISSION_MESSAGE)
        result.tests = all_tests(ERROR, "not graded: the instructor's setup cell fails in the grader")
        result.durations = {"total_s": round(time.monotonic() - t0, 4)}
        return result
    session = Session(assignment, code, flagged, lim, insecure=insecure, seed=seed,
                      hide=[*hide, *(_submission_dirs(notebook_path))])
    notes = list(code.notes)
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
            status, message = _grade_one(session, spec, i, lim, assignment.cpu_for(spec, limits), setup_ns,
                                         names_defined)
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
            "sandbox_forked": session.sb.forked,     # from the assignment's template (zygote.py)
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
                     "while grading; only imports, functions, classes, simple assignments and loops that only fill "
                     "tables are.")
    if flagged:
        notes.append("Forbidden APIs: " + "; ".join(f"{k} uses {', '.join(v)}" for k, v in sorted(flagged.items())))
    result.message = safe_text("\n".join(safe_text(n, 2000) for n in notes), MAX_SUBMISSION_MESSAGE)
    result.score = float(sum(t.points for t in result.tests))
    return result


def _grade_one(session, spec, i, lim, cpu, setup_ns, names_defined) -> tuple[str, str]:
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
