"""Fair grades: nothing a student sees gives an answer away (tests/corpus/fair_corpus_reveal.py).

* the model answer of a question graded by hand (ps3) is in no feedback, results.json,
  report or ``cnn-course check`` output, a blank notebook's included;
* a hidden test's failure names what is wrong without the reference value; a public test's
  still shows the expected value (ps1/ps2 wrong answers and mutants, through the engine);
* the check helpers' hidden variants, for every helper; NaN and inf fail ``assert_close``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import batch
from autograder.assignment import TestSpec as Spec
from autograder.assignment import load_assignment
from autograder.results import FAILED, GRADED, MANUAL, PUBLIC, SubmissionResult, apply_scores, refresh
from autograder.results import TestResult as TR
from autograder.tools import checks

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))
sys.path.insert(0, str(ROOT / "tests" / "mutants"))
import fair_corpus_reveal as F  # noqa: E402

PS3 = "ps3_lenet"


# ----------------------------------------------------------------------------- hand-graded answers

@pytest.fixture(scope="module")
def ps3():
    return load_assignment(PS3, source_dir=ROOT / "solutions")


@pytest.fixture(scope="module")
def ps3_answers():
    answers = F.manual_answers(PS3)
    assert answers and all(len(F._words(a)) > 20 for a in answers), answers
    return answers


def _blank_result(assignment, path, student_id="student", **kw):
    """What the engine gives a blank notebook: every test failed, nothing written."""
    tests = [TR(t.grade_id, 0.0, t.points, FAILED, "raised NotImplementedError (not written yet)",
                        t.visibility) for t in assignment.tests]
    return SubmissionResult(student_id=student_id, assignment=assignment.name, status=GRADED, score=0.0,
                            max_score=sum(t.points for t in assignment.tests), tests=tests,
                            notebook=Path(path).name)


def test_the_corpus_finds_a_quoted_answer(ps3_answers):
    """The leak detector itself: a quoted head or a run of words is found, the question is not."""
    answer = ps3_answers[0]
    assert F.leaked(f"<p>(the answer starting `{answer[:80]}`)</p>", ps3_answers)
    words = answer.split()
    assert F.leaked("x " + " ".join(words[10:10 + F.RUN]).replace("'", "&#x27;") + " y", ps3_answers)
    assert not F.leaked("7. Question (graded by hand, 2 points)", ps3_answers)


def test_manual_cells_are_located_without_the_answer(ps3, ps3_answers):
    (m,) = ps3.manual
    assert (m.position, m.of) == (1, 1) and m.prompt.startswith("7. Question"), m
    assert not F.leaked(json.dumps(dataclasses.asdict(m)), ps3_answers)
    assert load_assignment(PS3, source_dir=ROOT / "exercises", released=True).manual == ps3.manual       # the release locates it the same


@pytest.mark.parametrize("entered", [None, {"answer_tanh_relu_pooling": 1.5}], ids=["awaiting", "graded"])
def test_blank_ps3_outputs_hold_no_model_answer(ps3, ps3_answers, entered, tmp_path):
    """results.json, feedback.html, report.html and grades.csv of a blank ps3 notebook."""
    subs = tmp_path / "subs" / "alice"
    subs.mkdir(parents=True)
    (subs / f"{PS3}.ipynb").write_text((ROOT / "exercises" / PS3 / f"{PS3}.ipynb").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    results, paths = batch.grade_folder(ps3, tmp_path / "subs", out, workers=1, progress=False,
                                        grade_fn=_blank_result)
    (r,) = results
    if entered:
        refresh(r, entered, ps3.manual)
    folder = batch.student_dir(out, "alice")
    texts = {p.name: p.read_text(encoding="utf-8") for p in [folder / "results.json", folder / "feedback.html",
                                                             paths["report"], paths["grades"]]}
    texts["messages"] = "\n".join(t.message for t in r.tests)
    for name, text in texts.items():
        assert not F.leaked(text, ps3_answers), (name, F.leaked(text, ps3_answers))
    manual = [t for t in r.tests if t.status == MANUAL]
    assert [t.name for t in manual] == ["answer_tanh_relu_pooling"]
    assert "written answer 1 of 1, under `7. Question" in manual[0].message, manual[0].message
    assert "7. Question (graded by hand" in texts["feedback.html"]


def test_refresh_drops_an_old_results_quoted_answer(ps3, ps3_answers):
    """A results.json written before the fix quoted the answer; a refresh (report, export) drops it."""
    old = SubmissionResult("alice", PS3, GRADED, 0.0, 2.0, tests=[TR(
        "answer_tanh_relu_pooling", 0.0, 2.0, MANUAL,
        f"awaits grading by hand (the answer starting `{ps3_answers[0][:80]}`)", PUBLIC)], manual_max=2.0)
    refresh(old, {"answer_tanh_relu_pooling": 2})
    (t,) = old.tests
    assert t.points == 2 and not F.leaked(t.message, ps3_answers), t.message
    refresh(old, {})                                # the new locator survives a round trip
    apply_scores(old, ps3.manual)
    assert old.tests[0].message.endswith("(written answer 1 of 1, under `7. Question (graded by hand, 2 points)`)")
    again = SubmissionResult.from_dict(json.loads(json.dumps(old.to_dict())))
    refresh(again, {})
    assert again.tests[0].message == old.tests[0].message


@pytest.mark.slow
def test_blank_ps3_through_the_engine_and_check(ps3, ps3_answers, tmp_path, capsys):
    """The real engine on the blank release, and ``cnn-course check``: no model answer anywhere."""
    from autograder import cli
    from autograder.engine import grade_notebook, isolation_available

    blank = ROOT / "exercises" / PS3 / f"{PS3}.ipynb"
    res = grade_notebook(ps3, blank, "blank", insecure=isolation_available() is None)
    apply_scores(res, ps3.manual)
    assert res.status == GRADED, res.message
    text = json.dumps(res.to_dict())
    assert not F.leaked(text, ps3_answers), F.leaked(text, ps3_answers)
    for t in res.tests:
        if t.visibility == "hidden":
            assert not F.EXPECTED_VALUE.search(t.message), (t.name, t.message)
    try:
        cli.main(["check", str(blank), "--assignment", PS3])
    except SystemExit:
        pass
    shown = capsys.readouterr()
    assert "graded by hand" in shown.out + shown.err
    assert not F.leaked(shown.out + shown.err, ps3_answers)


# ----------------------------------------------------------------------------- hidden vs public tests

_ASSIGNMENTS: dict = {}
_MUTANTS: dict = {}


def _assignment(name):
    if name not in _ASSIGNMENTS:
        _ASSIGNMENTS[name] = load_assignment(name, source_dir=ROOT / "solutions")
    return _ASSIGNMENTS[name]


def _mutants(name):
    if name not in _MUTANTS:
        mod = __import__(f"{name.split('_')[0]}.harness", fromlist=["H"])
        _MUTANTS[name] = (mod.H, mod.H.load_mutants())
    return _MUTANTS[name]


def _grade_case(case, tmp_path):
    from autograder.engine import grade_notebook, isolation_available

    H, mutants = _mutants(case.assignment)
    replace = {}
    for gid, src in case.replace.items():
        if src.startswith("mutant:"):
            target, src = mutants[src[len("mutant:"):]]
            assert target == gid
        replace[gid] = src
    path = tmp_path / f"{case.assignment}.ipynb"
    nbformat.write(H.replace_solution(H.load(), replace), str(path))
    full = _assignment(case.assignment)
    wanted = set(case.tests or (case.test,))
    sub = dataclasses.replace(full, tests=[t for t in full.tests if t.grade_id in wanted])
    assert {t.grade_id for t in sub.tests} == wanted
    return grade_notebook(sub, path, "case", insecure=isolation_available() is None)


@pytest.mark.parametrize("case", F.REVEAL_CASES, ids=lambda c: c.name)
def test_hidden_tests_do_not_reveal_public_tests_teach(case, tmp_path):
    res = _grade_case(case, tmp_path)
    assert res.status == GRADED, res.message
    (t,) = [t for t in res.tests if t.name == case.test]
    assert t.visibility == ("hidden" if case.hidden else "public")
    assert t.status in ("failed", "error") and t.points == 0, (t.status, t.message)
    for text in case.required:
        assert text in t.message, (text, t.message)
    for pattern in case.forbidden:
        assert not re.search(pattern, t.message), (pattern, t.message)
    if case.hidden:
        assert not F.EXPECTED_VALUE.search(t.message), t.message
        assert "max abs error" not in t.message, t.message


def test_a_hidden_test_never_quotes_its_own_lines(tmp_path):
    """An exception that quotes a line of the hidden test (here on purpose) is scrubbed."""
    from autograder.engine import grade_notebook, isolation_available

    secret = "_reference_answer = 62896  # what this hidden test compares with"
    source = f"### BEGIN HIDDEN TESTS\n{secret}\nraise RuntimeError({('while checking: ' + secret)!r})\n### END HIDDEN TESTS"
    full = _assignment("ps1_convolution")
    public = Spec("t_public_quote", 1.0, "public", source.replace("BEGIN HIDDEN TESTS", "public")
                      .replace("END HIDDEN TESTS", "end"), 10.0)
    hidden = Spec("t_hidden_quote", 1.0, "hidden", source, 10.0)
    sub = dataclasses.replace(full, tests=[hidden, public])
    res = grade_notebook(sub, ROOT / "solutions" / "ps1_convolution" / "ps1_convolution.ipynb", "quote",
                         insecure=isolation_available() is None)
    by = {t.name: t for t in res.tests}
    assert by["t_hidden_quote"].status == "error" and "RuntimeError" in by["t_hidden_quote"].message
    assert "62896" not in by["t_hidden_quote"].message, by["t_hidden_quote"].message
    assert "62896" in by["t_public_quote"].message          # a public test's own text may be shown


# ----------------------------------------------------------------------------- the helpers' hidden variants

def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


_A = np.arange(24.0).reshape(2, 3, 4)
_B = _A.copy()
_B[1, 2, 3] = 4321.5
# (helper, args, kwargs, a reference value that only the public message shows, text both show)
HELPER_CASES = [
    ("assert_close", (_A, _B), {}, "4321.5", "index [1, 2, 3]"),
    ("assert_close", (np.ones((2, 3, 7)), np.ones((2, 3, 9))), {"axes": ("N", "C", "L")}, "expected (2, 3, 9)",
     "axis 2 (L) is 7"),
    ("assert_close", (np.ones((2, 3)), np.ones((2, 3, 1))), {}, "instead of 3", "it has 2 axes"),
    ("assert_close", (np.array(62000.0), 62896), {}, "62896", "got 62000"),
    ("assert_equal", (62000, 62896), {"mistakes": {"the bias is missing": 62000}}, "62896", "bias is missing"),
    ("assert_equal", (6.0, 7), {}, "equal to 7", "should be an int"),
    ("assert_equal", ("B", "C"), {"name": "answer"}, "'C'", "answer is 'B'"),
    ("assert_equal", ((5, 2, 1), (5, 1, 2)), {}, "(5, 1, 2)", "(5, 2, 1)"),
    ("assert_equal", ((5, 2), (5, 1, 2)), {}, "expected 3", "has 2 entries"),
    ("assert_equal", ("512", (5, 1, 2)), {}, "like (5, 1, 2)", "should be a tuple"),
    ("assert_equal", ({"a": 1}, {"a": 1, "conv9_secret": 2}), {}, "conv9_secret", "is missing"),
    ("assert_equal", ({"a": 1, "b": 3}, {"a": 1, "b": 2}), {}, "expected 2", "['b'] is 3"),
    ("assert_equal", (np.array([1, 2, 3]), np.array([1, 2, 977])), {}, "977", "index [2]"),
    ("assert_shape", (np.ones((3, 4)), (3, 977)), {"axes": ("H", "W")}, "977", "axis 1 (W) is 4"),
    ("expect_array", (np.ones((3, 4)),), {"shape": (None, 977)}, "977", "axis 1 is 4"),
]


@pytest.mark.parametrize("helper, args, kwargs, secret, shown", HELPER_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(HELPER_CASES)])
def test_hidden_variants_keep_the_reference_out(helper, args, kwargs, secret, shown):
    public = _message(checks.test_helpers(hidden=False)[helper], *args, **kwargs)
    hidden = _message(checks.test_helpers(hidden=True)[helper], *args, **kwargs)
    assert secret in public and shown in public, public           # public tests teach with the answer
    assert secret not in hidden and shown in hidden, hidden      # hidden ones say what is wrong, no answer
    assert not F.EXPECTED_VALUE.search(hidden), hidden
    assert _message(getattr(checks, helper), *args, **kwargs) == public   # what students import: unchanged


def test_a_hidden_test_that_imports_the_helpers_itself_is_hidden_too():
    """The grader marks a hidden test's globals; a helper imported inside the cell sees the mark."""
    code = ("from autograder.tools import assert_equal as mine\n"
            "def _nested():\n    mine(62000, 62896, name='total')\n"
            "_nested()\n")
    for hidden in (True, False):
        ns = checks.test_helpers(hidden=hidden)
        with pytest.raises(AssertionError) as info:
            exec(compile(code, "<test>", "exec"), ns)
        assert ("62896" in str(info.value)) is (not hidden), str(info.value)
    # the mark is per test cell: after a hidden one, the plain helpers reveal again
    assert "62896" in _message(checks.assert_equal, 62000, 62896)


def test_helpers_are_exported_for_notebooks():
    import autograder.tools as tools

    for name in ("assert_finite", "expect_array"):
        assert name in checks.__all__ and getattr(tools, name) is getattr(checks, name)


# ----------------------------------------------------------------------------- NaN and inf

@pytest.mark.parametrize("name, actual, expected, kwargs, passes, words", F.NAN_CASES, ids=[c[0] for c in F.NAN_CASES])
def test_assert_close_and_nonfinite_values(name, actual, expected, kwargs, passes, words):
    for hidden in (False, True):
        fn = checks.test_helpers(hidden=hidden)["assert_close"]
        if passes:
            fn(actual, expected, **kwargs)
            continue
        msg = _message(fn, actual, expected, name="result", **kwargs)
        for w in words:
            assert w in msg, msg


def test_assert_finite_and_expect_array():
    assert checks.expect_array([1.0, 2.0], shape=(2,), dtype_kind="f").dtype == np.float64
    ok = checks.expect_array(np.zeros((5, 10), np.float32), shape=(None, 10), dtype_kind="f", max_size=50)
    assert ok.shape == (5, 10)
    checks.assert_finite(np.arange(3))
    checks.assert_finite(2.5)
    cases = [
        (checks.assert_finite, (np.array([1.0, -np.inf]),), {"name": "loss"}, "loss contains -inf at index [1]"),
        (checks.assert_finite, (float("nan"),), {}, "contains NaN"),
        (checks.expect_array, (None,), {}, "forget to `return`"),
        (checks.expect_array, ("abc",), {}, "got a str"),
        (checks.expect_array, ({"w": 1},), {}, "got a dict"),
        (checks.expect_array, ([[1, 2], [3]],), {}, "could not be read as an array"),
        (checks.expect_array, (np.ones(100),), {"max_size": 10}, "100 values; at most 10"),
        (checks.expect_array, (np.ones((2, 3)),), {"shape": (2, 3, 1)}, "it has 2 axes"),
        (checks.expect_array, (np.ones(3, int),), {"dtype_kind": "f"}, "expected a floating-point array"),
        (checks.expect_array, (np.array([1.0, np.nan]),), {}, "NaN at index [1]"),
    ]
    for fn, args, kwargs, words in cases:
        msg = _message(fn, *args, **kwargs)
        assert words in msg, (fn.__name__, args, msg)
    checks.expect_array(np.array([np.nan]), finite=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ps1_convolution", "ps2_shapes"])
def test_blank_release_hidden_messages_hold_no_expected_value(name):
    """Every hidden test of a blank ps1/ps2 notebook fails without stating a reference value."""
    from autograder.engine import grade_notebook, isolation_available

    res = grade_notebook(_assignment(name), ROOT / "exercises" / name / f"{name}.ipynb", "blank",
                         insecure=isolation_available() is None)
    assert res.status == GRADED and res.score == 0, res.message
    hidden = [t for t in res.tests if t.visibility == "hidden"]
    assert hidden and all(t.status in ("failed", "error") for t in hidden)
    leaks = {t.name: t.message for t in hidden if F.EXPECTED_VALUE.search(t.message)}
    assert not leaks, leaks
