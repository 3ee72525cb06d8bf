"""Batch grading plumbing (finding submissions, zips, outputs, gradebook) with a fake engine.

The real engine is exercised end to end in tests/grading/test_cli.py; here a fake ``grade_fn``
makes the tests fast and lets them check every output exactly.
"""
from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import batch, intake
from autograder.results import HIDDEN, PUBLIC, SubmissionResult
from autograder.results import TestResult as TR

NAME = "toy_add"
NB = f"{NAME}.ipynb"
HIDDEN_CODE = "assert add(40, 2) == 42  # SECRET-HIDDEN-CODE"


def _assignment():
    tests = [
        SimpleNamespace(grade_id="test_add_public", points=1.0, visibility=PUBLIC, source="assert add(1, 1) == 2"),
        SimpleNamespace(grade_id="test_add_hidden", points=2.0, visibility=HIDDEN, source=HIDDEN_CODE),
    ]
    return SimpleNamespace(name=NAME, notebook_name=NB, tests=tests, config={}, hidden_count=1)


def fake_grade(assignment, path, student_id="student", *, insecure=False, public_only=False, limits=None, seed=0,
               hide=()):
    """Scores from the notebook text: 'GOOD' passes both tests, 'HALF' only the public one."""
    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    base = dict(student_id=student_id, assignment=assignment.name, max_score=3.0, sha256=sha, seed=seed,
                grader_version="test", isolation="fake", notebook=Path(path).name,
                durations={"total_s": len(student_id) / 10})
    try:
        json.loads(data)
    except ValueError:
        return SubmissionResult(status="invalid", score=0.0, message="not valid JSON <b>", **base)
    text = data.decode()
    good, half = "GOOD" in text, "HALF" in text
    tests = [
        TR("test_add_public", 1.0 if (good or half) else 0.0, 1.0, "passed" if (good or half) else "failed",
                   "" if (good or half) else "add(1, 1) is 3, expected 2. <script>alert(1)</script>", PUBLIC),
        TR("test_add_hidden", 2.0 if good else 0.0, 2.0, "passed" if good else "error",
                   "" if good else "NameError: name 'np' is not defined\n  in: " + HIDDEN_CODE, HIDDEN),
    ]
    return SubmissionResult(status="graded", score=sum(t.points for t in tests), tests=tests, **base)


def _nb(marker: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": f"# {marker}", "metadata": {}, "outputs": [],
                                  "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


def make_folder(root: Path) -> Path:
    """alice GOOD, bob HALF under another name, carol nothing, dave two notebooks, eve broken JSON,
    frank nbgrader layout."""
    (root / "alice").mkdir(parents=True)
    (root / "alice" / NB).write_text(_nb("GOOD"))
    (root / "alice" / ".ipynb_checkpoints").mkdir()
    (root / "alice" / ".ipynb_checkpoints" / NB).write_text(_nb("HALF"))
    (root / "bob").mkdir()
    (root / "bob" / f"{NAME}-Copy1.ipynb").write_text(_nb("HALF"))
    (root / "carol").mkdir()
    (root / "carol" / "notes.txt").write_text("forgot it")
    (root / "dave").mkdir()
    (root / "dave" / "a.ipynb").write_text(_nb("GOOD"))
    (root / "dave" / "b.ipynb").write_text(_nb("GOOD"))
    (root / "eve").mkdir()
    (root / "eve" / NB).write_text("{ not json")
    (root / "frank" / NAME).mkdir(parents=True)
    (root / "frank" / NAME / NB).write_text(_nb("GOOD"))
    return root


def _hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


EXPECTED_CSV = (
    "student_id,assignment,score,max_score,status,auto_score,manual_score,needs_manual_grading,late,late_by,"
    "late_penalty,submitted_at,submitted_at_source,comments\n"
    "alice,toy_add,3,3,graded,3,,,,,,,none,\n"
    "bob,toy_add,1,3,graded,1,,,,,,,none,\n"
    "carol,toy_add,0,3,invalid,0,,,,,,,none,\n"
    "dave,toy_add,0,3,invalid,0,,,,,,,none,\n"
    "eve,toy_add,0,3,invalid,0,,,,,,,none,\n"
    "frank,toy_add,3,3,graded,3,,,,,,,none,\n"
)


def test_find_submissions_layouts(tmp_path):
    subs = {s.student_id: s for s in intake.find_submissions(make_folder(tmp_path / "s"), NAME, NB)}
    assert sorted(subs) == ["alice", "bob", "carol", "dave", "eve", "frank"]
    assert subs["alice"].path.name == NB and ".ipynb_checkpoints" not in str(subs["alice"].path)
    assert subs["bob"].path.name == f"{NAME}-Copy1.ipynb" and "expected the name" in subs["bob"].notes[0]
    assert subs["carol"].path is None and "no notebook found in carol/" in subs["carol"].problem
    assert subs["dave"].path is None and "a.ipynb, b.ipynb" in subs["dave"].problem
    assert subs["frank"].path == tmp_path / "s" / "frank" / NAME / NB
    # nbgrader's course layout: <root>/submitted/<student>/<assignment>/<nb>
    course = tmp_path / "course"
    (course / "submitted" / "zoe" / NAME).mkdir(parents=True)
    (course / "submitted" / "zoe" / NAME / NB).write_text(_nb("GOOD"))
    assert [s.student_id for s in intake.find_submissions(course, NAME, NB)] == ["zoe"]


def test_grade_folder_outputs_are_exact_and_submissions_untouched(tmp_path):
    subs = make_folder(tmp_path / "subs")
    before = _hashes(subs)
    results, paths = batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=2, progress=False,
                                        grade_fn=fake_grade)
    assert _hashes(subs) == before
    assert paths["grades"].read_text() == EXPECTED_CSV
    rows = list(csv.DictReader(paths["grades"].open()))
    assert [r["student_id"] for r in rows] == sorted(r["student_id"] for r in rows)
    # results.json: per test name, points, max_points, status, message, visibility
    data = json.loads((tmp_path / "out" / "students" / "bob" / "results.json").read_text())
    assert data["sha256"] == hashlib.sha256((subs / "bob" / f"{NAME}-Copy1.ipynb").read_bytes()).hexdigest()
    assert [(t["name"], t["points"], t["max_points"], t["status"], t["visibility"]) for t in data["tests"]] == [
        ("test_add_public", 1.0, 1.0, "passed", "public"), ("test_add_hidden", 0.0, 2.0, "error", "hidden")]
    assert "expected the name" in data["message"]
    assert json.loads((tmp_path / "out" / "students" / "carol" / "results.json").read_text())["status"] == "invalid"
    # Grading the same folder twice gives identical grades.csv, and results.json files that
    # differ only in their measured durations.
    batch.grade_folder(_assignment(), subs, tmp_path / "out2", workers=1, progress=False, grade_fn=fake_grade)
    assert (tmp_path / "out2" / "grades.csv").read_bytes() == paths["grades"].read_bytes()
    first, second = (json.loads((tmp_path / d / "students" / "alice" / "results.json").read_text()) for d in ("out", "out2"))
    assert set(first["durations"]) == set(second["durations"])
    first.pop("durations"), second.pop("durations")
    assert first == second


def test_feedback_escapes_and_hides_hidden_code(tmp_path):
    subs = make_folder(tmp_path / "subs")
    batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=1, progress=False, grade_fn=fake_grade)
    for sid in ("alice", "bob", "carol", "eve"):
        page = (tmp_path / "out" / "students" / sid / "feedback.html").read_text()
        assert "SECRET-HIDDEN-CODE" not in page
        assert "<script>" not in page
    bob = (tmp_path / "out" / "students" / "bob" / "feedback.html").read_text()
    assert "test_add_hidden" in bob and "NameError: name &#x27;np&#x27; is not defined" in bob
    assert "[hidden test code]" in bob  # a message quoting hidden code is redacted
    assert "SECRET-HIDDEN-CODE" not in (tmp_path / "out" / "students" / "bob" / "results.json").read_text()
    assert "assert add(1, 1) == 2" in bob  # public test code may be shown
    assert "1 / 3 points" in bob
    eve = (tmp_path / "out" / "students" / "eve" / "feedback.html").read_text()
    assert "not valid JSON &lt;b&gt;" in eve


def test_report_has_histogram_pass_rates_slowest_and_invalid(tmp_path):
    subs = make_folder(tmp_path / "subs")
    _, paths = batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=2, progress=False, grade_fn=fake_grade)
    png = paths["histogram"].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    page = paths["report"].read_text()
    assert "data:image/png;base64," in page
    assert "SECRET-HIDDEN-CODE" not in page
    # test_add_public passed for alice, bob, frank: 3 of 3 graded (eve is invalid: no tests)
    assert "<code>test_add_public</code></td><td>public</td><td class=\"num\">1</td><td class=\"num\">100%</td>" in page
    assert "<code>test_add_hidden</code></td><td>hidden</td><td class=\"num\">2</td><td class=\"num\">67%</td>" in page
    assert "Slowest submissions" in page and "Invalid submissions" in page
    assert "no notebook found in carol/" in page
    assert 'href="students/alice/feedback.html"' in page


def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_of_folder_and_of_nbgrader_layout(tmp_path):
    z = _zip(tmp_path / "a.zip", {f"export/alice/{NB}": _nb("GOOD"), f"export/bob/{NB}": _nb("HALF")})
    results, _ = batch.grade_folder(_assignment(), z, tmp_path / "out", workers=1, progress=False, grade_fn=fake_grade)
    assert [(r.student_id, r.score) for r in results] == [("alice", 3.0), ("bob", 1.0)]
    z = _zip(tmp_path / "b.zip", {f"submitted/alice/{NAME}/{NB}": _nb("HALF")})
    results, _ = batch.grade_folder(_assignment(), z, tmp_path / "out2", workers=1, progress=False, grade_fn=fake_grade)
    assert [(r.student_id, r.score) for r in results] == [("alice", 1.0)]


def test_zip_extraction_is_safe(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../escaped.txt", "x")
        zf.writestr("/abs.txt", "x")
        zf.writestr(f"alice/{NB}", _nb("GOOD"))
        link = zipfile.ZipInfo("alice/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("bomb.bin", b"\0" * (intake.MAX_MEMBER_BYTES + 1), compress_type=zipfile.ZIP_DEFLATED)
    dest = tmp_path / "dest" / "x"
    dest.mkdir(parents=True)
    warnings = intake.safe_extract(z, dest)
    assert not (tmp_path / "dest" / "escaped.txt").exists()
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [f"alice/{NB}"]
    assert len(warnings) == 4 and any("unsafe path" in w for w in warnings) and any("symbolic link" in w for w in warnings)
    with pytest.raises(intake.BatchError, match="not a readable zip"):
        intake.safe_extract(tmp_path / "dest" / "x" / "alice" / NB, tmp_path / "d2")


def test_usage_errors(tmp_path):
    subs = make_folder(tmp_path / "subs")
    with pytest.raises(intake.BatchError, match="inside SUBMISSIONS"):
        batch.grade_folder(_assignment(), subs, subs / "out", progress=False, grade_fn=fake_grade)
    with pytest.raises(intake.BatchError, match="does not exist"):
        batch.grade_folder(_assignment(), tmp_path / "nope", tmp_path / "out", progress=False, grade_fn=fake_grade)
    (tmp_path / "empty").mkdir()
    with pytest.raises(intake.BatchError, match="no student folders"):
        batch.grade_folder(_assignment(), tmp_path / "empty", tmp_path / "out", progress=False, grade_fn=fake_grade)


def test_engine_exception_is_an_error_row_that_resume_grades_again(tmp_path):
    """The grader's own failure is not the student's: status ``error`` (before: ``invalid``, and the
    feedback told the student the notebook could not be read), and ``--resume`` retries it."""
    def exploding(*a, **k):
        raise RuntimeError("boom")

    subs, out = make_folder(tmp_path / "s"), tmp_path / "out"
    results, paths = batch.grade_folder(_assignment(), subs, out, workers=2, progress=False, grade_fn=exploding)
    failed = [r for r in results if "RuntimeError: boom" in r.message]
    assert failed and {r.status for r in failed} == {"error"}, [(r.student_id, r.status) for r in results]
    assert {r.status for r in results if r not in failed} <= {"invalid"}     # no notebook: never reached the grader
    assert "internal grader error (RuntimeError: boom)" in failed[0].message
    assert "not a problem with your notebook" in failed[0].message
    feedback = (batch.student_dir(out, failed[0].student_id) / "feedback.html").read_text(encoding="utf-8")
    assert "could not be read" not in feedback
    regraded = []

    def fine(assignment, path, sid, **k):
        regraded.append(sid)
        return fake_grade(assignment, path, sid, **k)

    again, _ = batch.grade_folder(_assignment(), subs, out, workers=1, progress=False, grade_fn=fine, resume=True)
    assert sorted(regraded) == sorted(r.student_id for r in failed)
    assert "error" not in {r.status for r in again}


def test_gradebook_records_scores_and_regrades_in_place(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.gradebook import record_results

    db = f"sqlite:///{tmp_path}/gradebook.db"
    results, _ = batch.grade_folder(_assignment(), make_folder(tmp_path / "s"), tmp_path / "out", workers=1,
                                    progress=False, grade_fn=fake_grade, db_url=db)
    with Gradebook(db, "cnn-course") as gb:
        assert gb.find_submission(NAME, "alice").score == 3.0
        assert gb.find_submission(NAME, "bob").score == 1.0
        assert gb.find_grade("test_add_hidden", NAME, NAME, "bob").auto_score == 0.0
    # Regrade after a test changed: bob now passes the hidden test; his row is updated in place.
    bob = next(r for r in results if r.student_id == "bob")
    bob.tests[1].points, bob.tests[1].status = 2.0, "passed"
    record_results(_assignment(), [bob], db)
    with Gradebook(db, "cnn-course") as gb:
        assert gb.find_submission(NAME, "bob").score == 3.0  # the regrade is what nbgrader sees
        assert gb.find_submission(NAME, "carol").score == 0.0
        assert sorted(s.id for s in gb.students) == ["alice", "bob", "carol", "dave", "eve", "frank"]
    # (`nbgrader export` on a real release + grade is run in tests/grading/test_cli.py.)
    # A test was added (and one left out of this grading run): the new cell is recorded, the
    # other keeps its points (it may be a manually graded answer; `release` retires removed cells).
    changed = _assignment()
    changed.tests = [changed.tests[0], SimpleNamespace(grade_id="test_add_new", points=4.0, visibility=HIDDEN,
                                                       source="pass")]
    alice = next(r for r in results if r.student_id == "alice")
    alice.tests = [alice.tests[0], TR("test_add_new", 4.0, 4.0, "passed", "", HIDDEN)]
    alice.score = 5.0
    record_results(changed, [alice], db)
    with Gradebook(db, "cnn-course") as gb:
        assert gb.find_assignment(NAME).max_score == 7.0
        assert gb.find_submission(NAME, "alice").score == 7.0  # 1 + 4 new + 2 kept
        assert gb.find_submission(NAME, "bob").score == 3.0


def test_outputs_survive_hostile_ids_and_messages(tmp_path):
    """Student folders named like the batch's files, dot-named, formula-like or symbolic
    links each get a row; a lone surrogate in a message stops nothing; CSV cells a
    spreadsheet would run are escaped."""
    subs = tmp_path / "s"
    for sid in ("grades.csv", "report.html", ".hidden", "=HYPERLINK(1)", "ok"):
        (subs / sid).mkdir(parents=True)
        (subs / sid / NB).write_text(_nb("GOOD"))
    (subs / "linked").symlink_to(subs / "ok")
    (subs / "nblink").mkdir()
    (subs / "nblink" / NB).symlink_to(subs / "ok" / NB)

    def surrogate_grade(assignment, path, student_id="student", **kw):
        res = fake_grade(assignment, path, student_id, **kw)
        res.message = "bad text " + chr(0xD800) + " here"
        res.tests[0].message = chr(0xDFFF) * 3
        return res

    results, paths = batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=2, progress=False,
                                        grade_fn=surrogate_grade)
    ids = sorted(r.student_id for r in results)
    assert ids == sorted([".hidden", "=HYPERLINK(1)", "grades.csv", "linked", "nblink", "ok", "report.html"])
    rows = {row["student_id"]: row for row in csv.DictReader(paths["grades"].open(encoding="utf-8"))}
    assert set(rows) == {".hidden", "'=HYPERLINK(1)", "grades.csv", "linked", "nblink", "ok", "report.html"}
    assert rows["linked"]["status"] == rows["nblink"]["status"] == "invalid"
    assert rows["grades.csv"]["score"] == "3"
    assert (tmp_path / "out" / "grades.csv").read_text().startswith("student_id,")   # not a student's folder
    assert "Code" not in (tmp_path / "out" / "report.html").read_text()[:50]
    for r in results:
        if r.status == "graded":
            page = (batch.student_dir(tmp_path / "out", r.student_id) / "feedback.html").read_bytes()
            page.decode("utf-8")
    assert not (tmp_path / "out" / "students" / ".hidden").exists()       # dot names get a safe folder


class _Killed(BaseException):
    """Stands for the grader process being killed (not an Exception: nothing catches it)."""


def test_per_student_outputs_are_written_as_results_arrive_and_resume_skips_them(tmp_path):
    subs = make_folder(tmp_path / "s")
    calls = []
    kill = {"eve"}

    def counting(assignment, path, student_id="student", **kw):
        calls.append(student_id)
        if student_id in kill:
            kill.clear()
            raise _Killed()           # the grader is killed in the middle of the batch
        return fake_grade(assignment, path, student_id, **kw)

    with pytest.raises(_Killed):
        batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=1, progress=False, grade_fn=counting)
    done = sorted(p.parent.name for p in (tmp_path / "out" / "students").glob("*/results.json"))
    assert done == ["alice", "bob", "carol", "dave"]              # graded before the kill: kept on disk
    calls.clear()
    results, paths = batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=1, progress=False,
                                        grade_fn=counting, resume=True)
    assert sorted(calls) == ["eve", "frank"] or sorted(calls) == ["carol", "dave", "eve", "frank"]
    assert "alice" not in calls and "bob" not in calls
    assert paths["grades"].read_text() == EXPECTED_CSV
    # a changed notebook, or changed tests, are graded again
    (subs / "alice" / NB).write_text(_nb("HALF"))
    calls.clear()
    batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=1, progress=False, grade_fn=counting,
                       resume=True)
    assert "alice" in calls and "bob" not in calls
    changed = _assignment()
    changed.version = "v2"
    calls.clear()
    batch.grade_folder(changed, subs, tmp_path / "out", workers=1, progress=False, grade_fn=counting, resume=True)
    assert {"alice", "bob", "frank"} <= set(calls)


def test_regrading_some_students_merges_with_the_rest(tmp_path):
    subs = make_folder(tmp_path / "s")
    batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=1, progress=False, grade_fn=fake_grade)
    only_bob = tmp_path / "only"
    (only_bob / "bob").mkdir(parents=True)
    (only_bob / "bob" / NB).write_text(_nb("GOOD"))
    results, paths = batch.grade_folder(_assignment(), only_bob, tmp_path / "out", workers=1, progress=False,
                                        grade_fn=fake_grade)
    assert [r.student_id for r in results] == ["bob"]
    text = paths["grades"].read_text()
    assert "bob,toy_add,3,3,graded," in text and "alice,toy_add,3,3,graded," in text and "frank," in text


# ---------------------------------------------------------------- LMS downloads (issue 20)

LMS_ROSTER = [{"student_id": "s1", "name": "Jane Doe", "canvas_id": "12345", "sis_login_id": "jdoe",
               "sis_user_id": "", "section": ""},
              {"student_id": "s2", "name": "Max Roe", "canvas_id": "777", "sis_login_id": "mroe",
               "sis_user_id": "", "section": ""}]


def test_canvas_download_maps_names_with_the_roster_and_the_latest_resubmission_wins(tmp_path):
    z = _zip(tmp_path / "canvas.zip", {                                 # in a wrapping folder
        f"submissions/doejane_12345_678901_{NB}": _nb("HALF"),
        f"submissions/doejane_LATE_12345_678950_{NAME}-1.ipynb": _nb("GOOD"),   # the re-submission wins
        f"submissions/roemax_777_678902_{NAME}.ipynb": _nb("HALF"),
        f"submissions/newkid_999_678903_{NAME}.ipynb": _nb("GOOD"),             # not on the roster
    })
    results, paths = batch.grade_folder(_assignment(), z, tmp_path / "out", workers=1, progress=False,
                                        grade_fn=fake_grade, roster_rows=LMS_ROSTER, roster=["s1", "s2"])
    got = {r.student_id: (r.status, r.score) for r in results}
    assert got == {"s1": ("graded", 3.0), "s2": ("graded", 1.0), "newkid": ("graded", 3.0)}, got
    assert {r.submitted_at_source for r in results} == {"zip-entry-time"}, "the zip's dates follow the files"
    assert paths["off_roster"] == ["newkid"]
    assert any("read as a Canvas download: 3 student(s)" in n for n in paths["time_notes"])
    assert any("newkid" in n and "not found in the roster" in n for n in paths["time_notes"])


def test_moodle_and_blackboard_downloads(tmp_path):
    moodle = tmp_path / "moodle"
    (moodle / "Jane Doe_4242_assignsubmission_file_").mkdir(parents=True)
    (moodle / "Jane Doe_4242_assignsubmission_file_" / NB).write_text(_nb("GOOD"))
    (moodle / "Max Roe_4243_assignsubmission_file_").mkdir()
    (moodle / "Max Roe_4243_assignsubmission_file_" / "mine.ipynb").write_text(_nb("HALF"))
    results, _ = batch.grade_folder(_assignment(), moodle, tmp_path / "out-m", workers=1, progress=False,
                                    grade_fn=fake_grade, roster_rows=LMS_ROSTER)
    assert {r.student_id: r.score for r in results} == {"s1": 3.0, "s2": 1.0}
    board = _zip(tmp_path / "bb.zip", {
        "PS1_jdoe_attempt_2026-02-27-10-00-00.txt": "Name: Jane Doe",
        f"PS1_jdoe_attempt_2026-02-27-10-00-00_{NB}": _nb("HALF"),
        f"PS1_jdoe_attempt_2026-02-28-09-00-00_{NB}": _nb("GOOD"),      # the later attempt wins
        "PS1_mroe_attempt_2026-02-27-11-00-00_my notebook.ipynb": _nb("HALF"),
    })
    results, _ = batch.grade_folder(_assignment(), board, tmp_path / "out-b", workers=1, progress=False,
                                    grade_fn=fake_grade, roster_rows=LMS_ROSTER)
    assert {r.student_id: r.score for r in results} == {"s1": 3.0, "s2": 1.0}


def test_a_zip_of_loose_notebooks_no_lms_names_is_an_error(tmp_path):
    z = _zip(tmp_path / "loose.zip", {"homework.ipynb": _nb("GOOD"), "other.ipynb": _nb("GOOD")})
    with pytest.raises(intake.BatchError, match="no student folder"):
        batch.grade_folder(_assignment(), z, tmp_path / "out", workers=1, progress=False, grade_fn=fake_grade)
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_due_date_and_policy_are_stored_reused_and_replaced_for_everyone(tmp_path):
    """--due and --late-penalty given once are kept (OUT/assignment.json): a regrade of one
    student without them keeps the penalty (it was silently dropped: 21.5 -> 24.5 in the
    issue); a new policy replaces the stored one for every student, and says so."""
    from datetime import datetime, timezone

    subs = tmp_path / "subs"
    for sid in ("ann", "cy"):
        (subs / sid).mkdir(parents=True)
        (subs / sid / NB).write_text(_nb("GOOD"))
    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\nann,2026-02-28T00:00:00Z\ncy,2026-03-01T01:30:00Z\n")
    out = tmp_path / "out"
    due = datetime(2026, 3, 1, tzinfo=timezone.utc)
    kw = dict(workers=1, progress=False, grade_fn=fake_grade, submitted_at=times)
    batch.grade_folder(_assignment(), subs, out, due=due, late_policy="per-hour:1", **kw)

    def scores():
        return {r["student_id"]: (r["score"], r["late_penalty"]) for r in csv.DictReader((out / "grades.csv").open())}

    assert scores() == {"ann": ("3", ""), "cy": ("1", "2")}
    _, paths = batch.grade_folder(_assignment(), subs, out, students=["cy"], **kw)
    assert scores() == {"ann": ("3", ""), "cy": ("1", "2")}, "the regrade alone keeps the stored policy"
    assert json.loads((out / "students" / "cy" / "results.json").read_text())["late_penalty"] == 2
    assert any("as stored with the assignment" in n for n in paths["time_notes"])
    _, paths = batch.grade_folder(_assignment(), subs, out, students=["ann"], late_policy="zero", **kw)
    assert scores() == {"ann": ("3", ""), "cy": ("0", "3")}, "a new policy applies to every student"
    assert any("replaces the stored late policy per-hour:1 by zero" in n for n in paths["time_notes"])
