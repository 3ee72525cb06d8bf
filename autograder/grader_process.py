"""What the grading threads of one process share, made safe to share.

Several submissions are graded at once on a thread pool of one process (batch.py, a Dask
worker in distributed.py); engine.py grades each. What they share lives here:

* :func:`prepare_grader`: everything grading an assignment may import, imported once before
  any grading thread starts, and the bound on the process's own memory
  (:func:`set_grader_memory_limit`);
* :func:`setup_namespace`: the instructor's setup cell, run once per process and assignment
  (a failure is the instructor's: :class:`SetupError`);
* :func:`versions`: the package versions every result records;
* :func:`test_cell_globals`: the lock under which a test cell's own code runs, with the
  process's global random generators seeded for that test.
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
import types
from contextlib import contextmanager

import numpy as np

from . import __version__
from . import protocol
from . import pysource
from .tools import checks

__all__ = ["GRADER_MEMORY", "SetupError", "prepare_grader", "run_setup_cell", "set_grader_memory_limit",
           "setup_namespace", "test_cell_globals", "versions"]


# ----------------------------------------------------------------------------- the setup cell

_SETUP_LOCK = threading.Lock()
_SETUP_CACHE: dict[tuple, dict] = {}


class SetupError(Exception):
    """The instructor's setup cell does not run in the grader: the instructor's mistake, never the
    student's (``cnn-course release`` refuses such an assignment; grading reports it as an error)."""


def run_setup_cell(source: str, assignment: str = "") -> dict:
    """The names the setup cell's imports and plain assignments define, run in the grader (its
    other statements, a ``torch.manual_seed(0)``, are not run). Raises :class:`SetupError`,
    naming ``assignment`` and the setup cell, when they fail, or when another statement binds a
    name (a ``def``, a loop, a ``try``): a test using that name would otherwise tell every
    student that their notebook does not define it."""
    where = (f"the setup cell (grade_id 'setup') of assignment {assignment!r}" if assignment
             else "the assignment's setup cell (grade_id 'setup')")
    ns: dict = {"__builtins__": builtins, "__name__": "__grader__"}
    if not source.strip():
        return {}
    try:
        tree = pysource.parse(source)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is the setup cell's
        raise SetupError(f"{where} fails in the grader: {type(exc).__name__}: {exc}") from None
    kept = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))]
    skipped = sorted(set().union(*(_bound_names(n) for n in tree.body if n not in kept)))
    if skipped:
        raise SetupError(f"{where} binds {', '.join(map(repr, skipped[:5]))} in a statement the grader does not "
                         "run (only its imports and plain assignments run): define it with an import or a plain "
                         "assignment, or in a module the setup cell imports")
    tree.body = kept
    try:
        exec(pysource.compile_code(tree, "<setup>", "exec"), ns)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is the setup cell's
        raise SetupError(f"{where} fails in the grader: {type(exc).__name__}: {exc}") from None
    return {k: v for k, v in ns.items() if not k.startswith("__")}


def _bound_names(node) -> set:
    """The names a top-level statement binds in the module (not those of the functions,
    classes, lambdas and comprehensions inside it)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Store) else set()
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return set()
    out: set = set()
    for child in ast.iter_child_nodes(node):
        out |= _bound_names(child)
    if isinstance(node, ast.ExceptHandler) and node.name:
        out.add(node.name)
    return out


def setup_namespace(assignment) -> dict:
    """The assignment's setup cell run in the grader (imports of helpers), once per process;
    :class:`SetupError` when it fails (every time it is asked for)."""
    key = (assignment.name, str(assignment.path), assignment.setup_source)
    # TensorFlow's C++ start-up lines ("oneDNN custom operations...") would reach a student's
    # terminal during `check`; the sandbox sets the same.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _SETUP_LOCK:
        if key not in _SETUP_CACHE:
            try:
                _SETUP_CACHE[key] = run_setup_cell(assignment.setup_source, assignment.name)
            except SetupError as exc:
                _SETUP_CACHE[key] = exc
        got = _SETUP_CACHE[key]
    if isinstance(got, SetupError):
        raise SetupError(str(got))
    return dict(got)


# ----------------------------------------------------------------------------- versions

_VERSIONS: dict = {}
_VERSIONS_LOCK = threading.Lock()


def versions() -> dict:
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
# a thread pool starts (batch.grade_folder and distributed.grade_task call this; engine.grade_notebook
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
                setup_namespace(assignment)
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
    versions()
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
    fails with MemoryError in the one test that made it (engine.py turns it into that test's
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
def test_cell_globals(session, seed: int):
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
