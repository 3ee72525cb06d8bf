"""What `cnn-course export` says it wrote is what the file holds (found walking a term as an
instructor: a Canvas export with one student off the roster said "exported 10 student(s)" for a
file of 9 students, next to its own warning that one was left out)."""
from __future__ import annotations

import csv
import json

from autograder import cli
from autograder.results import PUBLIC, SubmissionResult
from autograder.results import TestResult as TR


def _write(out, sid, points):
    d = out / "students" / sid
    d.mkdir(parents=True)
    r = SubmissionResult(sid, "toy", "graded", points, 1.0,
                         tests=[TR("t", points, 1.0, "passed" if points else "failed", "", PUBLIC)])
    (d / "results.json").write_text(json.dumps(r.to_dict()), encoding="utf-8")


def test_the_canvas_export_counts_the_students_it_wrote(tmp_path, capsys):
    grades = tmp_path / "g"
    for sid, points in (("ada", 1.0), ("bob", 0.0), ("zed", 1.0)):
        _write(grades, sid, points)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,canvas_id\nada,Ada,101\nbob,Bob,102\neve,Eve,105\n", encoding="utf-8")
    dest = tmp_path / "canvas.csv"
    assert cli.main(["export", "toy", "--format", "canvas", "--out", str(dest), "--grades", str(grades),
                     "--roster", str(roster), "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    rows = list(csv.reader(dest.open(encoding="utf-8")))
    assert [r[0] for r in rows[2:]] == ["Ada", "Bob"]
    said = capsys.readouterr()
    assert "1 student(s) not in the roster" in said.err and "'zed'" in said.err
    assert "exported 2 student(s) of toy as canvas" in said.out, said.out
    # The csv export writes everyone graded: 3.
    assert cli.main(["export", "toy", "--format", "csv", "--out", str(tmp_path / "all.csv"), "--grades",
                     str(grades), "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    assert "exported 3 student(s) of toy as csv" in capsys.readouterr().out


def test_the_canvas_export_warns_when_canvas_cannot_match_a_row(tmp_path, capsys):
    """A roster with only student_id and name (the one `grade --roster` takes) gave a Canvas file
    whose ID, SIS User ID and SIS Login ID were all empty, without a word: Canvas' import then
    has only the name to match on."""
    grades = tmp_path / "g"
    for sid in ("ada", "bob"):
        _write(grades, sid, 1.0)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,sis_login_id\nada,Ada,\nbob,Bob,bob@uni\n", encoding="utf-8")
    assert cli.main(["export", "toy", "--format", "canvas", "--out", str(tmp_path / "c.csv"), "--grades",
                     str(grades), "--roster", str(roster), "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    err = capsys.readouterr().err
    assert "1 student(s) have no canvas_id, sis_user_id or sis_login_id" in err and "'Ada'" in err, err
    assert "'Bob'" not in err
    # Without a roster the student id is the SIS User ID: nothing to warn about.
    assert cli.main(["export", "toy", "--format", "canvas", "--out", str(tmp_path / "c2.csv"), "--grades",
                     str(grades), "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    assert "Canvas cannot match" not in capsys.readouterr().err
