"""Feedback and report pages: escaping, hidden code, status explanations, edge cases."""
from __future__ import annotations

from types import SimpleNamespace

from autograder import report
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
        assert report.esc(report.STATUS_HELP[status]) in page


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
