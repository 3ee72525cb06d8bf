"""An instructor's whole term on a fresh gradebook, in the "wrong" order.

30 students in nbgrader's ``submitted/`` layout, two assignments (each with a written answer
graded by hand): correct, partly wrong, late and missing work. Grade *before* release, release,
enter two manual scores through nbgrader's Python API (what formgrader does), regrade one
student, and check that grades.csv, the report, ``nbgrader export`` and the three export
formats agree on every student's final score; missing students are out of the statistics and
late penalties apply.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest

from autograder import batch, export
from autograder import gradebook as nbgb
from autograder import release as rel
from autograder.roster import read_roster, roster_ids
from autograder.assignment import load_assignment
from autograder.engine import isolation_available
from autograder.samples import correct_notebook, partly_wrong_notebook, write_toy_source

pytestmark = pytest.mark.skipif(isolation_available() is None, reason="needs the grading sandbox")
ASSIGNMENTS = ("hw_a", "hw_b")
DUE = datetime(2026, 3, 1, tzinfo=timezone.utc)
STUDENTS = [f"s{i:02d}" for i in range(1, 31)]


def _plan(name: str, sid: str) -> str:
    i = int(sid[1:])
    shift = 0 if name == "hw_a" else 3
    k = (i + shift) % 30
    return "correct" if k < 12 else "partly" if k < 20 else "late" if k < 26 else "missing"


def _source(src_dir: Path, name: str) -> Path:
    path = write_toy_source(src_dir, name)
    nb = nbformat.read(str(path), as_version=4)
    answer = nbformat.v4.new_markdown_cell("Why does `add` need arrays of the same shape?\n\n"
                                           "### BEGIN SOLUTION\nBroadcasting would hide mistakes.\n### END SOLUTION")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "points": 2,
                                   "grade_id": "answer_why", "schema_version": 3, "task": False}
    answer.id = "answer-why"
    nb.cells.append(answer)
    rel.write_notebook(nb, path)
    return path


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("term")
    src_dir = tmp / "source"
    sources = {n: _source(src_dir, n) for n in ASSIGNMENTS}
    submitted = tmp / "submitted"
    for name, path in sources.items():
        nb = nbformat.read(str(path), as_version=4)
        for sid in STUDENTS:
            kind = _plan(name, sid)
            if kind == "missing":
                continue
            folder = submitted / sid / name
            folder.mkdir(parents=True)
            sub = partly_wrong_notebook(nb)[0] if kind == "partly" else correct_notebook(nb)
            rel.write_notebook(sub, folder / f"{name}.ipynb")
            when = DUE + (timedelta(hours=2, minutes=30) if kind == "late" else -timedelta(days=1))
            (folder / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(f"{s},Student {s}\n" for s in STUDENTS))
    db = f"sqlite:///{tmp}/gradebook.db"
    autograded = tmp / "autograded"
    out = {}
    for name in ASSIGNMENTS:              # grade first, on a fresh gradebook
        a = load_assignment(name, source_dir=src_dir)
        out[name] = tmp / "grades" / name
        batch.grade_folder(a, submitted, out[name], workers=2, progress=False, db_url=db,
                           roster=roster_ids(read_roster(roster)), due=DUE, late_policy="per-hour:1",
                           autograded_root=autograded)
    for name in ASSIGNMENTS:              # then release
        rel.release_one(name, source_dir=src_dir, release_dir=tmp / "release", db_url=db)
    # Two scores entered by hand, as formgrader does.
    with nbgb.open_gradebook(db) as gb:
        gb.find_grade("answer_why", "hw_a", "hw_a", "s01").manual_score = 1.5
        gb.find_grade("answer_why", "hw_b", "hw_b", "s02").manual_score = 2.0
        gb.db.commit()
    # Regrade one student; his answer keeps its manual score.
    a = load_assignment("hw_a", source_dir=src_dir)
    batch.grade_folder(a, submitted, out["hw_a"], workers=1, progress=False, db_url=db, students=["s01"],
                       roster=roster_ids(read_roster(roster)), due=DUE, late_policy="per-hour:1", autograded_root=autograded)
    batch.refresh_folder(load_assignment("hw_b", source_dir=src_dir), out["hw_b"], db)
    return {"tmp": tmp, "db": db, "out": out, "src": src_dir, "roster": roster, "autograded": autograded}


def _grades(path: Path) -> dict:
    return {r["student_id"]: r for r in csv.DictReader(path.open(encoding="utf-8"))}


def test_scores_statuses_lateness_and_manual_grades(term):
    a = _grades(term["out"]["hw_a"] / "grades.csv")
    assert sorted(a) == STUDENTS
    kinds = {sid: _plan("hw_a", sid) for sid in STUDENTS}
    for sid, row in a.items():
        assert row["status"] == ("missing" if kinds[sid] == "missing" else "graded"), (sid, row)
        assert row["max_score"] == "8"                       # 6 autograded + 2 by hand
        if kinds[sid] == "late":
            assert row["late"] == "yes" and row["late_by"] == "2:30:00" and row["late_penalty"] == "3"
            assert float(row["score"]) == float(row["auto_score"]) - 3
        else:
            assert row["late"] == ""
    assert a["s01"]["manual_score"] == "1.5" and a["s01"]["score"] == "7.5"   # kept across the regrade
    assert a["s03"]["needs_manual_grading"] == "yes" and a["s03"]["score"] == "6"
    b = _grades(term["out"]["hw_b"] / "grades.csv")
    assert b["s02"]["manual_score"] == "2"


def test_every_place_agrees_on_the_final_score(term):
    tmp, db = term["tmp"], term["db"]
    finals = {n: {sid: float(r["score"]) for sid, r in _grades(term["out"][n] / "grades.csv").items()}
              for n in ASSIGNMENTS}
    # nbgrader export (its own CLI, on the same gradebook)
    course = tmp / "course"
    course.mkdir(exist_ok=True)
    (course / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.db_url = {db!r}\n"
                                               "c.CourseDirectory.course_id = 'cnn-course'\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "export"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for row in csv.DictReader((course / "grades.csv").open()):
        assert float(row["score"]) == pytest.approx(finals[row["assignment"]][row["student_id"]]), row
        assert float(row["max_score"]) == 8.0
    # csv, canvas, gradescope
    folders = {n: term["out"][n] for n in ASSIGNMENTS}
    export.export("csv", folders, tmp / "table.csv", db_url=db, problems=[])
    rows = list(csv.DictReader((tmp / "table.csv").open()))
    assert len(rows) == 2 * len(STUDENTS)
    for row in rows:
        assert float(row["score"]) == pytest.approx(finals[row["assignment"]][row["student_id"]]), row
        if row["final_score"]:
            assert float(row["final_score"]) == float(row["score"])
    for n in ASSIGNMENTS:
        gs = tmp / f"gradescope-{n}"
        export.export("gradescope", {n: term["out"][n]}, gs, db_url=db, problems=[])
        files = {f.parent.name if f.name == "results.json" else f.stem: f for f in gs.rglob("*.json")}
        assert set(files) == set(STUDENTS), sorted(files)
        for sid, f in files.items():
            assert json.loads(f.read_text())["score"] == pytest.approx(finals[n][sid]), (n, sid)
    roster = tmp / "canvas-roster.csv"
    roster.write_text("Student ID,Name,SIS User ID,SIS Login ID,Section,Canvas ID\n"
                      + "".join(f"{s},Student {s},{s},{s}@uni,Sec 1,{100 + i}\n" for i, s in enumerate(STUDENTS)))
    export.export("canvas", folders, tmp / "canvas.csv", db_url=db, roster=roster, problems=[])
    rows = list(csv.reader((tmp / "canvas.csv").open()))
    header = rows[0]
    assert rows[1][0] == "Points Possible" and len(rows) == 2 + len(STUDENTS)
    for row in rows[2:]:
        sid = row[header.index("SIS User ID")]
        for n in ASSIGNMENTS:
            assert float(row[header.index(n)]) == pytest.approx(finals[n][sid]), (n, sid, row)


def test_report_leaves_missing_students_out_of_the_statistics(term):
    page = (term["out"]["hw_a"] / "report.html").read_text()
    missing = [s for s in STUDENTS if _plan("hw_a", s) == "missing"]
    assert f"missing (not in the statistics)</th><td class=\"num\">{len(missing)}<" in page
    assert "<h2>Missing</h2>" in page and all(s in page for s in missing)
    assert "answers await grading" in page
    assert "<h2>Late submissions</h2>" in page
    subs = [s for s in STUDENTS if _plan("hw_a", s) != "missing"]
    assert f"submissions</th><td class=\"num\">{len(subs)}<" in page


def test_formgrader_has_what_it_needs(term):
    """Autograded notebooks are where nbgrader looks, and the gradebook holds every cell, grade
    and comment row, so formgrader and generate_feedback work without `nbgrader autograde`."""
    nb_path = term["autograded"] / "s01" / "hw_a" / "hw_a.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    hidden = [c for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert hidden, "the autograded notebook has the instructor's test cells"
    with nbgb.open_gradebook(term["db"]) as gb:
        a = gb.find_assignment("hw_a")
        nbrow = a.notebooks[0]
        assert len(nbrow.source_cells) >= len(nbrow.grade_cells) > 0
        assert any(c.name == "answer_why" for c in nbrow.solution_cells)
        sub = gb.find_submission_notebook("hw_a", "hw_a", "s03")
        assert {c.name for c in sub.comments} >= {"answer_why"}
        grade = gb.find_grade("answer_why", "hw_a", "hw_a", "s03")
        assert grade.needs_manual_grade and grade.manual_score is None
        assert gb.find_grade("answer_why", "hw_a", "hw_a", "s01").manual_score == 1.5


def test_nbgrader_autograde_free_feedback_and_export_after_grade(tmp_path):
    """`grade` on a fresh gradebook (no release, no `nbgrader autograde`), then nbgrader's own
    `generate_feedback` and `export` in the course folder work, and the feedback nbgrader
    renders never shows hidden test code (the course config clears it)."""
    from autograder import cli
    from autograder.samples import TOY_NAME

    repo_config = Path(__file__).resolve().parents[2] / "nbgrader_config.py"
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        f"exec(open({str(repo_config)!r}).read())   # the course's settings, feedback hardening included\n"
        "c.CourseDirectory.source_directory = 'source'\nc.CourseDirectory.release_directory = 'release'\n"
        "c.CourseDirectory.autograded_directory = 'autograded'\nc.CourseDirectory.feedback_directory = 'feedback'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course}/gradebook.db'\n")
    nb = nbformat.read(str(write_toy_source(course / "source")), as_version=4)
    for sid, sub in (("ada", correct_notebook(nb)), ("bob", partly_wrong_notebook(nb)[0])):
        folder = course / "submitted" / sid / TOY_NAME
        folder.mkdir(parents=True)
        rel.write_notebook(sub, folder / f"{TOY_NAME}.ipynb")
    assert cli.main(["--course", str(course), "grade", TOY_NAME, str(course / "submitted"), "--quiet"]) == 0
    assert (course / "autograded" / "bob" / TOY_NAME / f"{TOY_NAME}.ipynb").is_file()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    nbg = str(Path(sys.executable).parent / "nbgrader")
    for args in (["generate_feedback", TOY_NAME], ["export"]):
        proc = subprocess.run([nbg, *args], cwd=course, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
    page = (course / "feedback" / "bob" / TOY_NAME / f"{TOY_NAME}.html").read_text()
    assert "3.0 / 6.0" in page and "secret_factor_hidden" not in page and "rng_hidden" not in page
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())}
    ours = _grades(course / "build" / "grades" / TOY_NAME / "grades.csv")
    assert {s: float(r["score"]) for s, r in rows.items()} == {s: float(r["score"]) for s, r in ours.items()}
