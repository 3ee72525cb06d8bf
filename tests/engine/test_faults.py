"""Structured signals between the worker and the grader, matched by type, never by text:

* an error answer carries ``protocol.Failure`` (``{"error": {"kind": ...}}``); a "run" request
  whose checked code did not set ``result`` is ``Failure.NO_RESULT`` (``protocol.NoResult``),
  and a student's own ``KeyError`` with the same words stays the student's exception;
* a sandbox fault (``protocol.Fault``, why no answer came) becomes a test status in one place,
  ``remote.FAULT_OUTCOME``;
* an internal grader error is the submission status ``error`` (``--resume`` grades it again).
"""
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import protocol as P
from autograder.limits import DEFAULT_LIMITS
from autograder.remote import FAULT_OUTCOME, StudentCodeError, Session, fault_outcome
from autograder.results import CRASH, ERROR, MEMORY, TIMEOUT, Outcome, SubmissionStatus
from autograder.sandbox import AnswerTooLarge, Sandbox, SandboxFault
from autograder.worker import describe_exception

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAME_WORDS = "the checked code did not set `result`"


def test_every_fault_maps_to_one_status_and_faults_are_not_statuses():
    assert set(FAULT_OUTCOME) == set(P.Fault), "each fault kind needs its status in FAULT_OUTCOME"
    assert FAULT_OUTCOME == {P.Fault.TIMEOUT: TIMEOUT, P.Fault.MEMORY: MEMORY, P.Fault.CRASH: CRASH}
    assert all(isinstance(v, Outcome) for v in FAULT_OUTCOME.values())
    assert not any(isinstance(f, Outcome) for f in P.Fault), "a fault kind is its own type, not a status"
    assert [fault_outcome(SandboxFault(k, "x")) for k in P.Fault] == [TIMEOUT, MEMORY, CRASH]
    # a kind read back as its plain string (a result's JSON) is the same fault
    assert [fault_outcome(SandboxFault(k, "x")) for k in ("timeout", "memory", "crash")] == [TIMEOUT, MEMORY, CRASH]
    assert fault_outcome(AnswerTooLarge("x")) == CRASH and isinstance(AnswerTooLarge("x"), SandboxFault)
    assert fault_outcome(SandboxFault("unheard-of", "x")) == CRASH


def test_the_worker_names_the_failure_by_type():
    assert describe_exception(P.NoResult(SAME_WORDS))["kind"] == P.Failure.NO_RESULT
    assert describe_exception(KeyError(SAME_WORDS))["kind"] == P.Failure.RAISED, (
        "a student's KeyError with the same words is the student's exception")
    assert describe_exception(MemoryError())["kind"] == P.Failure.MEMORY
    assert describe_exception(ValueError("x"))["kind"] == P.Failure.RAISED


class FakeSandbox:
    """Answers every request with ``answer`` (what a worker, or a student's rewrite of it, sends)."""

    def __init__(self, answer):
        self.answer = answer

    def alive(self):
        return True

    def cpu_seconds(self):
        return 0.0

    def request(self, header, bufs=(), **kw):
        return self.answer, []


def _session(answer) -> Session:
    assignment = SimpleNamespace(forbidden={}, sandbox_data=[], graded_names={"f"}, tests=[], probes={})
    code = SimpleNamespace(stmts=[], cells={})
    s = Session(assignment, code, {}, dict(DEFAULT_LIMITS), insecure=True, seed=0)
    s.sb = FakeSandbox(answer)
    s.begin_test(10.0, 0)
    return s


def _error(kind, type_name="KeyError"):
    return {"ok": False, "error": {"type": type_name, "builtin": type_name, "message": SAME_WORDS, "kind": kind}}


def test_no_result_is_the_tests_failure_a_students_keyerror_is_not():
    """Before: any KeyError whose message held the words became 'did not set `result`'."""
    with pytest.raises(AssertionError, match="did not set `result`"):
        _session(_error(P.Failure.NO_RESULT)).run_student("x = 1")
    with pytest.raises(StudentCodeError) as info:
        _session(_error(P.Failure.RAISED)).run_student("raise KeyError(...)")
    assert isinstance(info.value, KeyError) and not isinstance(info.value, AssertionError)


def test_no_result_claimed_for_a_call_is_a_students_exception():
    s = _session(_error(P.Failure.NO_RESULT))
    with pytest.raises(StudentCodeError):
        s.call({"global": "f"}, (), {}, "f()")


def test_a_malformed_error_answer_is_a_students_exception_not_a_grader_crash():
    with pytest.raises(StudentCodeError):
        _session({"ok": False, "error": ["not", "a", "dict"]}).call({"global": "f"}, (), {}, "f()")


def test_the_real_worker_sends_the_kind():
    """A worker (insecure mode: no root needed): code without ``result`` and a KeyError with the
    same words come back as two different kinds."""
    with Sandbox(dict(DEFAULT_LIMITS), insecure=True) as sb:
        sb.start()
        sb.request({"op": P.Op.LOAD, "stmts": [], "cells": {}, "graded": []}, cpu_limit=20, wall_limit=60)
        empty = {"$t": "dict", "v": {}}
        unset, _ = sb.request({"op": P.Op.RUN, "code": "x = 1\n", "inputs": empty}, cpu_limit=10, wall_limit=30)
        raised, _ = sb.request({"op": P.Op.RUN, "code": f"raise KeyError({SAME_WORDS!r})\n", "inputs": empty},
                               cpu_limit=10, wall_limit=30)
    assert unset["error"]["kind"] == P.Failure.NO_RESULT, unset
    assert raised["error"]["kind"] == P.Failure.RAISED and raised["error"]["type"] == "KeyError", raised


def test_an_internal_grader_error_is_status_error_which_resume_grades_again(tmp_path, monkeypatch):
    """Before: the submission stayed ``graded`` (its remaining tests marked error), and --resume
    kept it as done."""
    from autograder import batch, engine
    from autograder.assignment import load_assignment

    shutil.copytree(FIXTURES / "toy", tmp_path / "toy")
    a = load_assignment("toy", source_dir=tmp_path)
    real, calls = engine._grade_one, []

    def second_one_breaks(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("an engine bug")
        return real(*args)

    monkeypatch.setattr(engine, "_grade_one", second_one_breaks)
    r = engine.grade_notebook(a, tmp_path / "toy" / "toy.ipynb", "alice", insecure=True)
    assert r.status == SubmissionStatus.ERROR == ERROR, r.status
    assert "internal grader error" in r.message or any("internal grader error" in t.message for t in r.tests)
    assert len(r.tests) == len(a.tests)
    store = SimpleNamespace(get=lambda sid: r)
    sub = SimpleNamespace(student_id="alice", path=tmp_path / "toy" / "toy.ipynb")
    assert batch._done_before(a, sub, store) is None, "--resume must grade an `error` result again"


def test_sandbox_py_names_its_faults_by_the_enum():
    """No bare status string in sandbox.py's faults: each is a protocol.Fault member."""
    import ast
    import autograder.sandbox as sandbox_module
    tree = ast.parse(Path(sandbox_module.__file__).read_text(encoding="utf-8"))
    kinds = [node.args[0] for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "SandboxFault" and node.args]
    assert len(kinds) >= 7, "the faults sandbox.py raises were not found"
    bare = [ast.unparse(k) for k in kinds if not (isinstance(k, ast.Attribute) and ast.unparse(k).startswith("P.Fault."))]
    assert not bare, f"SandboxFault raised with a bare kind: {bare}"


def test_an_answer_over_the_readers_cap_is_its_own_fault_type():
    """A real worker (insecure mode): an answer larger than the grader reads at once, in its JSON
    header or in its buffers, is an AnswerTooLarge (kind crash); the sandbox is stopped."""
    empty = {"$t": "dict", "v": {}}
    for code in ("result = 'x' * 100_000\n", "result = b'x' * 100_000\n"):
        with Sandbox(dict(DEFAULT_LIMITS), insecure=True) as sb:
            sb.start()
            sb.request({"op": P.Op.LOAD, "stmts": [], "cells": {}, "graded": []}, cpu_limit=20, wall_limit=60)
            small, _ = sb.request({"op": P.Op.RUN, "code": "result = 'x' * 10\n", "inputs": empty},
                                  cpu_limit=10, wall_limit=30)
            assert small.get("ok"), small
            sb.reader.max_bytes = 50_000
            with pytest.raises(AnswerTooLarge) as info:
                sb.request({"op": P.Op.RUN, "code": code, "inputs": empty}, cpu_limit=10, wall_limit=30)
            assert info.value.kind == P.Fault.CRASH and not sb.alive()


class LoadAnswerFails:
    """A sandbox whose first load runs every statement (the "loaded" event), then gives no answer
    (``fault``); the second load (values kept in the sandbox) answers."""

    def __init__(self, fault):
        self.fault, self.headers = fault, []

    def alive(self):
        return True

    def pids_count(self):
        return 1

    def request(self, header, bufs=(), *, cpu_limit, wall_limit, on_event=None):
        self.headers.append(header)
        if len(self.headers) == 1:
            on_event({"ev": "loaded"})
            raise self.fault
        return {"ok": True}, []


@pytest.mark.parametrize("fault, note", [
    (AnswerTooLarge("the sandbox sent an answer larger than the grader reads at once (message too large)"),
     "together they are larger than the"),
    # a crash whose words say "too large" (here a dtype named by the student's side) is not one:
    # before, remote.py matched the words and explained the wrong thing
    (SandboxFault(P.Fault.CRASH, "the sandbox sent an invalid answer (bad dtype 'too large')"),
     "(the sandbox sent an invalid answer (bad dtype 'too large'))"),
])
def test_a_load_answer_too_large_is_matched_by_type(fault, note):
    s = _session({"ok": True})
    s.sb = LoadAnswerFails(fault)
    s.start()
    assert [h.get("values") for h in s.sb.headers] == [True, False], "loaded again with the values kept remote"
    assert len(s.notes) == 1 and note in s.notes[0], s.notes
    if not isinstance(fault, AnswerTooLarge):
        assert "together they are larger" not in s.notes[0]
