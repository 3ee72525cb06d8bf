"""Submission intake (autograder/intake.py): a zip or folder whose contents are one wrapping
folder is read as the students inside it, not as one student named after the folder.

Each case was graded before (issue 22, item 5) as a single student named ``ps1_submissions``,
``export`` or ``course`` (graded, invalid or missing); a lone student's folder stays one student.
A fake engine grades (scores from the notebook's text).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

from autograder import batch
from autograder.results import PUBLIC, SubmissionResult
from autograder.results import TestResult as TR

NAME = "ps1"
NB = f"{NAME}.ipynb"


def _assignment():
    tests = [SimpleNamespace(grade_id="t", points=2.0, visibility=PUBLIC, source="assert True")]
    return SimpleNamespace(name=NAME, notebook_name=NB, tests=tests, config={})


def fake_grade(assignment, path, student_id="student", **kw):
    """GOOD: 2 points, anything else 0."""
    good = "GOOD" in Path(path).read_text()
    t = TR("t", 2.0 if good else 0.0, 2.0, "passed" if good else "failed", "", PUBLIC)
    return SubmissionResult(student_id=student_id, assignment=assignment.name, status="graded",
                            score=t.points, max_score=2.0, tests=[t], grader_version="test",
                            notebook=Path(path).name)


def _nb(marker: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": f"# {marker}", "metadata": {}, "outputs": [],
                                  "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


def _zip(path: Path, files: dict, when=(2026, 3, 1, 9, 30, 0)) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=when), text)
    return path


def _grade(tmp_path, subs, **kw):
    results, paths = batch.grade_folder(_assignment(), subs, tmp_path / "out", workers=1, progress=False,
                                        grade_fn=fake_grade, **kw)
    return {r.student_id: (str(r.status), r.score) for r in results}, results, paths


def test_a_wrapping_folder_with_a_loose_notebook_is_read_as_its_students(tmp_path):
    """The instructor's folder of student folders, zipped with the template beside them: the
    template is nobody's (a note says it was ignored); it was graded as student 'ps1_submissions'."""
    z = _zip(tmp_path / "subs.zip", {
        f"ps1_submissions/alice/{NB}": _nb("GOOD"),
        f"ps1_submissions/bob/{NB}": _nb("HALF"),
        f"ps1_submissions/{NB}": _nb("GOOD"),                 # the released template
    })
    got, results, paths = _grade(tmp_path, z)
    assert got == {"alice": ("graded", 2.0), "bob": ("graded", 0.0)}, got
    assert any(f"ignored {NB} in ps1_submissions/" in n for n in paths["time_notes"]), paths["time_notes"]
    assert {r.submitted_at_source for r in results} == {"zip-entry-time"}


def test_nested_wrapping_folders_are_looked_through(tmp_path):
    """export/ps1_submissions/<student>/: was one student 'export', missing."""
    z = _zip(tmp_path / "subs.zip", {
        f"export/ps1_submissions/alice/{NB}": _nb("GOOD"),
        f"export/ps1_submissions/bob/{NB}": _nb("GOOD"),
    })
    got, _, _ = _grade(tmp_path, z)
    assert got == {"alice": ("graded", 2.0), "bob": ("graded", 2.0)}, got


def test_a_wrapped_nbgrader_course_folder(tmp_path):
    """course/submitted/<student>/<assignment>/: was one student 'course', missing."""
    subs = tmp_path / "subs"
    for sid in ("alice", "bob"):
        (subs / "course" / "submitted" / sid / NAME).mkdir(parents=True)
        (subs / "course" / "submitted" / sid / NAME / NB).write_text(_nb("GOOD"))
    got, _, _ = _grade(tmp_path, subs)
    assert got == {"alice": ("graded", 2.0), "bob": ("graded", 2.0)}, got


def test_an_lms_download_in_a_wrapping_folder_beside_a_file(tmp_path):
    """Canvas-named files in one folder, zipped with a note at the top: was one student
    'ps1_submissions', invalid (2 notebooks). The zip's entry dates still date each notebook."""
    z = _zip(tmp_path / "canvas.zip", {
        "README.txt": "downloaded from Canvas",
        f"ps1_submissions/doejane_12345_678901_{NB}": _nb("GOOD"),
        f"ps1_submissions/roemax_777_678902_{NB}": _nb("HALF"),
    })
    got, results, paths = _grade(tmp_path, z)
    assert got == {"doejane": ("graded", 2.0), "roemax": ("graded", 0.0)}, got
    assert any("read as a Canvas download: 2 student(s)" in n for n in paths["time_notes"])
    assert {r.submitted_at for r in results} == {"2026-03-01T09:30:00"}
    assert {r.submitted_at_source for r in results} == {"zip-entry-time"}


def test_one_students_folder_stays_one_student(tmp_path):
    """Not a wrapper: a lone folder holding its own notebook and one subfolder (a backup) is that
    student's, as before."""
    z = _zip(tmp_path / "alice.zip", {f"alice/{NB}": _nb("GOOD"), f"alice/old/{NB}": _nb("HALF")})
    got, _, _ = _grade(tmp_path, z)
    assert got == {"alice": ("graded", 2.0)}, got
