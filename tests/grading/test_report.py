"""Feedback and report pages: escaping, hidden code, status explanations, edge cases."""
from __future__ import annotations

import json
from types import SimpleNamespace

from autograder import report, store
from autograder.text import esc
from autograder.results import HIDDEN, PUBLIC, TEST_STATUSES, SubmissionResult
from autograder.results import TestResult as TR

SECRET = "assert_close(conv2d(xh, wh), ref.conv2d(xh, wh), rtol=1e-6, atol=1e-8)"


def _assignment():
    return SimpleNamespace(name="ps_x", notebook_name="ps_x.ipynb", tests=[
        SimpleNamespace(grade_id="t_pub", points=1, visibility=PUBLIC, source="assert f(1) == 2  # public code"),
        SimpleNamespace(grade_id="t_hid", points=2, visibility=HIDDEN,
                        source=f"### BEGIN HIDDEN TESTS\n{SECRET}\n### END HIDDEN TESTS"),
    ])


def _result(sid="<img src=x onerror=alert(1)>", statuses=("failed", "error")):
    return SubmissionResult(sid, "ps_x", "graded", 0.0, 3.0, tests=[
        TR("t_pub", 0.0, 1.0, statuses[0], "f(1) is 3, expected 2. <b>bold</b>", PUBLIC),
        TR("t_hid", 0.0, 2.0, statuses[1], f"ValueError: bad\n  {SECRET}", HIDDEN),
    ], isolation="test", grader_version="0.1.0", durations={"total_s": 1.5})


def test_feedback_escapes_redacts_and_explains():
    r = _result()
    assert report.redact_hidden(r, _assignment()) == 1
    page = report.feedback_html(r, _assignment())
    assert "<img" not in page and "&lt;img src=x" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "ref.conv2d" not in page and "[hidden test code]" in page
    assert "assert f(1) == 2  # public code" in page  # public code may be shown
    assert report.STATUS_HELP["failed"] in page and report.STATUS_HELP["error"] in page
    assert "0 / 3 points" in page


def test_every_status_has_an_explanation():
    for status in TEST_STATUSES:
        page = report.feedback_html(_result("s", (status, "passed")), _assignment())
        assert esc(report.STATUS_HELP[status]) in page


def test_report_edge_cases():
    # No submissions, a zero max score: still a valid page and a PNG.
    png = report.histogram_png([], 0, title="empty")
    assert png.startswith(b"\x89PNG")
    assert "grading report" in report.report_html([], _assignment(), png)
    # Student ids are escaped in text and quoted in links.
    r = _result("a b&c")
    page = report.report_html([r], _assignment(), report.histogram_png([0.0], 3.0))
    assert 'href="students/a%20b%26c/feedback.html"' in page and "a b&amp;c" in page
    stats = report.per_test_stats([r, _result("z", ("passed", "passed"))])
    assert [(s["name"], s["pass_rate"], dict(s["counts"])) for s in stats] == [
        ("t_pub", 0.5, {"failed": 1, "passed": 1}), ("t_hid", 0.5, {"error": 1, "passed": 1})]


def test_report_rounds_means_shows_each_students_own_note_and_leaves_missing_out(tmp_path):
    """Means rounded for display (44.125 -> 44.12), the notes every student shares listed once
    (the note column kept for what is each student's own), missing students out of the
    histogram's count. Each failed at the start of issue 20."""
    from autograder import batch, store
    from autograder.results import MISSING

    boiler = "no submission time known: not checked for lateness"
    results = [SubmissionResult(f"s{i}", "ps_x", "graded", s, 50.0, message=f"{boiler}; note of s{i}"
                                if i == 1 else boiler) for i, s in enumerate((44.0, 44.25, 44.0, 44.25))]
    results.append(SubmissionResult("gone", "ps_x", MISSING, 0.0, 50.0, message="nothing submitted"))
    page = report.report_html(results, _assignment(), None)
    assert "mean</th><td class=\"num\">44.12<" in page and "44.125" not in page
    students = page[page.index("<h2>Students</h2>"):]
    assert boiler not in students and "note of s1" in students
    assert f"every submission: {boiler}" in page
    out = tmp_path / "out"
    for r in results:
        store.write_student(_assignment(), r, out)
    seen = {}
    real = report.histogram_png

    def spy(scores, max_score, **kw):
        seen["n"] = len(scores)
        return real(scores, max_score, **kw)

    report.histogram_png = spy
    try:
        batch.write_summary(_assignment(), out)
    finally:
        report.histogram_png = real
    assert seen["n"] == 4, "the missing student is not a submission in the histogram"


def test_a_hand_graded_answer_shows_its_score_and_the_graders_comment():
    from autograder.results import MANUAL

    graded = SubmissionResult("a", "ps_x", "graded", 1.5, 2.0, tests=[
        TR("answer", 1.5, 2.0, MANUAL, "graded by hand: 1.5 / 2", PUBLIC, comment="Say why. <i>x</i>")])
    waiting = SubmissionResult("b", "ps_x", "graded", 0.0, 2.0, tests=[
        TR("answer", 0.0, 2.0, MANUAL, "awaits grading by hand", PUBLIC, awaiting=True)])
    stats = report.per_test_stats([graded, waiting])
    assert stats[0]["pass_rate"] == 0.75, "its score among the answers graded, not 0% 'passed'"
    page = report.feedback_html(graded)
    assert "Grader's comment" in page and "Say why. &lt;i&gt;x&lt;/i&gt;" in page


def _grade_by_marker(assignment, path, student_id="student", *, insecure=False, public_only=False, limits=None,
                     seed=0, hide=()):
    """A stand-in for the sandboxed grader: 'GOOD' in the notebook passes both tests."""
    import hashlib
    from pathlib import Path

    data = Path(path).read_bytes()
    good = b"GOOD" in data
    tests = [TR("t_pub", 1.0, 1.0, "passed", "", PUBLIC),
             TR("t_hid", 2.0 if good else 0.0, 2.0, "passed" if good else "failed", "" if good else "wrong", HIDDEN)]
    return SubmissionResult(student_id, assignment.name, "graded", sum(t.points for t in tests), 3.0, tests=tests,
                            sha256=hashlib.sha256(data).hexdigest(), seed=seed, grader_version="test",
                            isolation="fake", notebook=Path(path).name)


def _off_roster_section(out):
    page = (out / "report.html").read_text()
    if "<h2>Not on the roster</h2>" not in page:
        return None
    section = page[page.index("<h2>Not on the roster</h2>"):]
    return section[:section.index("<h2>", 4)]


def test_students_off_the_roster_stay_in_the_report_after_report_and_a_regrade_without_roster(tmp_path):
    """`grade --roster` names zed (handed in, not on the roster) in the report; `cnn-course
    report` and a later `grade --student ada` (no --roster: the gradebook lists everyone graded,
    zed included) rebuilt the report without that section. The roster is kept in --out
    (roster.json) and every later summary uses it; a roster that lists zed empties it."""
    from autograder import batch

    subs = tmp_path / "subs"
    for sid, marker in (("ada", "GOOD"), ("zed", "HALF"), ("<i>x", "GOOD")):
        (subs / sid).mkdir(parents=True)
        (subs / sid / "ps_x.ipynb").write_text(json.dumps({"cells": [], "metadata": {"m": marker},
                                                            "nbformat": 4, "nbformat_minor": 4}))
    out = tmp_path / "out"
    kw = dict(workers=1, progress=False, grade_fn=_grade_by_marker)
    _, paths = batch.grade_folder(_assignment(), subs, out, roster=["ada", "bob"], **kw)
    assert paths["off_roster"] == ["<i>x", "zed"]
    first = _off_roster_section(out)
    assert first and "zed" in first and "&lt;i&gt;x" in first and "ada" not in first and "bob" not in first
    assert json.loads((out / store.ROSTER_FILE).read_text()) == {"student_ids": ["ada", "bob"]}

    batch.refresh_folder(_assignment(), out, None)                      # cnn-course report
    assert _off_roster_section(out) == first
    batch.grade_folder(_assignment(), subs, out, students=["ada"], **kw)  # a regrade weeks later, no --roster
    assert _off_roster_section(out) == first

    batch.grade_folder(_assignment(), subs, out, roster=["ada", "bob", "zed", "<i>x"], **kw)
    assert _off_roster_section(out) is None
    batch.refresh_folder(_assignment(), out, None)
    assert _off_roster_section(out) is None


def test_a_stored_roster_that_is_not_a_list_of_ids_is_ignored(tmp_path):
    assert store.stored_roster(tmp_path) is None
    for text in ("not json", '{"student_ids": "ada"}', '{"student_ids": [1, 2]}', "[]", '{"student_ids": [' * 5000):
        (tmp_path / store.ROSTER_FILE).write_text(text)
        assert store.stored_roster(tmp_path) is None, text
    (tmp_path / store.ROSTER_FILE).write_text(" " * (store.MAX_ROSTER_BYTES + 1))
    assert store.stored_roster(tmp_path) is None
    store.store_roster(tmp_path, ["b", "a", "a"])
    assert store.stored_roster(tmp_path) == {"a", "b"}
    results = [SubmissionResult("a", "ps_x", "graded", 1.0, 3.0), SubmissionResult("c", "ps_x", "graded", 0.0, 3.0),
               SubmissionResult("d", "ps_x", "missing", 0.0, 3.0)]
    assert report.off_roster_ids(results, {"a", "b"}) == ["c"]
    assert report.off_roster_ids(results, None) == [] and report.off_roster_ids(results, set()) == []
