"""Grading one submission: ``grade_notebook(assignment, path) -> SubmissionResult``.

The student's definitions run in a sandbox, reached through a :class:`~autograder.remote.Session`
(remote.py: the remote-object protocol over sandbox.py and worker.py). Each test cell of
the instructor's source notebook runs here, in the grader, in a fresh namespace holding
``np``, the helpers of ``autograder.tools.checks`` (``run_student``/``run_probe`` run in
the sandbox), the setup cell's names and a proxy for every graded name of the student's
code. A test passes when its cell runs without exception; student exceptions come back as
:class:`StudentCodeError` subclasses of the same builtin type. ``grade_notebook`` never
raises for anything a submission does and never modifies the submission file; it is
thread-safe (each call owns its sandbox; what the threads share, grader_process.py guards).
"""
from __future__ import annotations

import builtins
import hashlib
import time
import traceback
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from . import pysource
from .assignment import Assignment, points_of
from .forbidden import analyze
from .grader_process import GRADER_MEMORY, SetupError, prepare_grader, setup_namespace, test_cell_globals, versions
from .notebook import InvalidSubmission, extract_student_code, read_notebook
from .remote import Abort, RemoteObject, Session, StudentCodeError, describe_student_error
from .results import CRASH, ERROR, FAILED, GRADED, HIDDEN, INVALID, PASSED, TIMEOUT, SubmissionResult, TestResult
from .text import MAX_SUBMISSION_MESSAGE, safe_text
from .isolation.probe import isolation_available
from .sandbox import SandboxError, SandboxFault
from .tools import checks

# StudentCodeError, RemoteObject and isolation_available are re-exported: callers import them from here.
__all__ = ["grade_notebook", "isolation_available", "StudentCodeError", "RemoteObject"]


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



# ----------------------------------------------------------------------------- grading

def _run_test(session: Session, spec, setup_ns: dict, names_defined: set) -> tuple[str, str]:
    try:
        with test_cell_globals(session, (zlib.crc32(spec.grade_id.encode()) + session.seed) % (2**31)):
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
                              notebook=Path(notebook_path).name, versions=versions())

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
                                    test_texts=assignment.test_sources_for_matching,
                                    released=getattr(assignment, "template", None))
    forb = assignment.forbidden
    flagged = analyze(code.nodes, forb.get("modules", []), forb.get("names", []))
    for scope in forb.get("scoped", []):     # forbidden in some functions only (assignment.py)
        hits = analyze(code.nodes, scope.get("modules", []), scope.get("names", []))
        for name in scope["functions"]:
            if name in hits:
                flagged[name] = sorted(set(flagged.get(name, [])) | set(hits[name]))
    try:
        setup_ns = setup_namespace(assignment)
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
        result.status = ERROR       # not the student's doing: `--resume` grades it again
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
    if code.added_skipped:
        notes.append(_skipped_note(code.added_skipped))
    if flagged:
        notes.append("Forbidden APIs: " + "; ".join(f"{k} uses {', '.join(v)}" for k, v in sorted(flagged.items())))
    result.message = safe_text("\n".join(safe_text(n, 2000) for n in notes), MAX_SUBMISSION_MESSAGE)
    result.score = float(sum(t.points for t in result.tests))
    return result


def _skipped_note(added: list, shown: int = 5) -> str:
    """The top-level statements the student added (or changed) that grading does not run, the
    first ``shown`` of them named: the release's own (demos, stubs) are not mentioned."""
    names = "; ".join(f"`{s['src']}` (" + (f"the cell starting `{s['where']}`" if s.get("where") else
                                           f"code cell {s['cell'] + 1}") + f", line {s['lineno']})"
                      for s in added[:shown])
    more = f"; and {len(added) - shown} more" if len(added) > shown else ""
    return (f"{len(added)} top-level statement(s) you added or changed (plots, prints, training runs, loops) "
            f"were not run while grading: {names}{more}. Only imports, functions, classes, simple assignments "
            "and loops that only fill tables are (the tests cannot use what the others compute).")


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
