"""`cnn-course export`: loading results (both layouts, corrupt and oversized files), the
students x tests CSV, Canvas' import file (roster matching, Points Possible), Gradescope's
results.json, formula and HTML escaping of hostile ids, manual scores and late penalties
from nbgrader's gradebook."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import cli, export, store
from autograder.results import HIDDEN, PUBLIC, SubmissionResult
from autograder.results import TestResult as TR
from autograder.text import safe_cell

HOSTILE = "=2+5+cmd|' calc'!A0"
TESTS = (("t_add", 1.0, PUBLIC), ("t_add_hidden", 2.0, HIDDEN), ("t_scale", 3.0, PUBLIC))


def _result(sid: str, passed: set, assignment: str = "toy", status: str = "graded") -> SubmissionResult:
    tests = [TR(name, pts if name in passed else 0.0, pts, "passed" if name in passed else "failed",
                "" if name in passed else f"{name}: expected 5, got 4", vis) for name, pts, vis in TESTS]
    if status == "invalid":
        tests = []
    return SubmissionResult(sid, assignment, status, sum(t.points for t in tests), 6.0, tests=tests,
                            message="" if status == "graded" else "not a notebook",
                            durations={"total_s": 0.5})


def _write(out: Path, results, layout: str = "students") -> Path:
    for r in results:
        d = out / "students" / r.student_id if layout == "students" else out / r.student_id
        d.mkdir(parents=True, exist_ok=True)
        (d / "results.json").write_text(json.dumps(r.to_dict()), encoding="utf-8")
    (out / "grades.csv").write_text("student_id\n")
    return out


STUDENTS = [_result("alice", {"t_add", "t_add_hidden", "t_scale"}), _result("bob", {"t_add"}),
            _result(HOSTILE, {"t_scale"}), _result("carol", set(), status="invalid")]


@pytest.mark.parametrize("layout", ["students", "flat"])
def test_load_results_both_layouts(tmp_path, layout):
    out = _write(tmp_path / "g", STUDENTS, layout)
    got = store.load_results(out, problems=[])
    assert [r.student_id for r in got] == sorted(r.student_id for r in STUDENTS)
    assert {r.student_id: r.score for r in got} == {"alice": 6.0, "bob": 1.0, HOSTILE: 3.0, "carol": 0.0}
    assert got[1].tests[1].visibility == HIDDEN


def test_load_results_is_bounded_and_tolerant(tmp_path, monkeypatch):
    out = _write(tmp_path / "g", STUDENTS[:2])
    bad = {"corrupt": "{ not json", "list": "[1, 2]", "nan": json.dumps({**_result("x", set()).to_dict(), "score": "six"}),
           "badtest": json.dumps({**_result("y", set()).to_dict(), "tests": [{"name": 3}]})}
    for sid, text in bad.items():
        (out / "students" / sid).mkdir()
        (out / "students" / sid / "results.json").write_text(text)
    big = out / "students" / "big"
    big.mkdir()
    (big / "results.json").write_text(json.dumps(_result("big", {"t_add"}).to_dict()) + " " * 5000)
    extra = {**_result("dave", {"t_add"}).to_dict(), "late_penalty": 0.5, "some_new_field": [1]}
    (out / "students" / "dave").mkdir()
    (out / "students" / "dave" / "results.json").write_text(json.dumps(extra))
    monkeypatch.setattr(store, "MAX_RESULTS_BYTES", 4000)   # the one parser's bound (autograder.store)
    problems: list[str] = []
    got = store.load_results(out, problems=problems)
    assert [r.student_id for r in got] == ["alice", "bob", "dave"]
    assert got[2].extra == {"some_new_field": [1]} and got[2].late_penalty == 0.5
    text = "\n".join(problems)
    assert len(problems) == 5, problems
    assert "students/big/results.json: skipped" in text and "limit 4000" in text
    for sid in bad:
        assert f"students/{sid}/results.json: skipped, not a readable results.json" in text
    with pytest.raises(store.StoreError, match="not a folder"):
        store.load_results(tmp_path / "missing")
    with pytest.raises(export.ExportError, match="not a folder"):
        export.export("csv", {"toy": tmp_path / "missing"}, tmp_path / "out.csv")


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_csv_table_escapes_formulas(tmp_path):
    out = _write(tmp_path / "g", STUDENTS)
    dest = tmp_path / "table.csv"
    assert cli.main(["export", "toy", "--format", "csv", "--out", str(dest), "--grades", str(out),
                     "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    rows = _rows(dest)
    assert rows[0] == ["student_id", "assignment", "status", "score", "max_score", "t_add", "t_add status",
                       "t_add_hidden", "t_add_hidden status", "t_scale", "t_scale status"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id["alice"][3:] == ["6", "6", "1", "passed", "2", "passed", "3", "passed"]
    assert by_id["bob"][5:] == ["1", "passed", "0", "failed", "0", "failed"]
    assert by_id["carol"][2:] == ["invalid", "0", "6", "", "", "", "", "", ""], "missing columns stay empty"
    assert "'" + HOSTILE in by_id, "a formula-like id is prefixed with '"
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for r in rows for c in r)
    # A lone surrogate (valid JSON escape, invalid Unicode) in an id does not stop the export.
    (out / "students" / "sur").mkdir()
    (out / "students" / "sur" / "results.json").write_text(json.dumps(_result("x\ud800", {"t_add"}).to_dict()))
    assert cli.main(["export", "toy", "--format", "csv", "--out", str(dest), "--grades", str(out)]) == 0
    assert "x?" in {r[0] for r in _rows(dest)}
    for cell, safe in [("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "\\x09x"), ("\rx", "\\x0dx"), ("\x1b[2J=1", "\\x1b[2J=1"),
                       ("+1", "'+1"), ("a=b", "a=b"), (-2.5, "-2.5"), (None, "")]:
        assert safe_cell(cell) == safe


def _gradebook(tmp_path: Path) -> str:
    """A gradebook with alice and bob recorded, a manual score for bob's t_scale (2 of 3) and a
    late penalty of 1 point for alice."""
    from nbgrader.api import Gradebook

    from autograder.gradebook import COURSE_ID, record_results

    db = f"sqlite:///{tmp_path}/gradebook.db"
    assignment = SimpleNamespace(name="toy", notebook_name="toy.ipynb",
                                 tests=[SimpleNamespace(grade_id=n, points=p) for n, p, _ in TESTS])
    record_results(assignment, STUDENTS[:2], db)
    with Gradebook(db, COURSE_ID) as gb:
        g = gb.find_grade("t_scale", "toy", "toy", "bob")
        g.manual_score = 2.0
        gb.find_submission_notebook("toy", "toy", "alice").late_submission_penalty = 1.0
        gb.db.commit()
    return db


def test_manual_scores_and_late_penalties_from_the_gradebook(tmp_path):
    out = _write(tmp_path / "g", STUDENTS)
    db = _gradebook(tmp_path)
    dest = tmp_path / "table.csv"
    assert cli.main(["export", "toy", "--format", "csv", "--out", str(dest), "--grades", str(out),
                     "--gradebook", db]) == 0
    rows = _rows(dest)
    assert rows[0][5:9] == ["auto_score", "manual_score", "late_penalty", "final_score"]
    by_id = {r[0]: r[3:9] for r in rows[1:]}
    assert by_id["alice"] == ["5", "6", "6", "", "1", "5"]    # one final score: 6 - 1 late
    assert by_id["bob"] == ["3", "6", "1", "2", "", "3"]      # 1 (auto) + 2 (t_scale changed by hand)
    assert by_id["carol"] == ["0", "6", "", "", "", ""]
    # Gradescope and Canvas report the final score.
    from autograder.results import refresh
    alice = next(r for r in store.load_results(out) if r.student_id == "alice")
    adj = export.gradebook_adjustments(db, "toy")["alice"]
    data = export.gradescope_json(refresh(alice, adj["manual"], gradebook_penalty=adj["late_penalty"]))
    assert data["score"] == 5.0


def test_canvas_import_file(tmp_path, capsys):
    out = _write(tmp_path / "g", STUDENTS)
    roster = tmp_path / "roster.csv"
    roster.write_text("Student ID,Name,SIS User ID,SIS Login ID,Section,Canvas ID\n"
                      "alice,Alice A,S1,alice@uni,Sec 1,101\n"
                      "S2,=Bob B,S2,bob@uni,Sec 2,102\n"        # matched by SIS User ID; a hostile name
                      "zoe,Zoe Z,S9,zoe@uni,Sec 1,109\n", encoding="utf-8")
    dest = tmp_path / "canvas.csv"
    (out / "students" / "S2").mkdir()
    (out / "students" / "S2" / "results.json").write_text(json.dumps(_result("S2", {"t_add", "t_scale"}).to_dict()))
    assert cli.main(["export", "toy", "--format", "canvas", "--out", str(dest), "--grades", str(out),
                     "--roster", str(roster), "--canvas-assignment-id", "toy=555",
                     "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    rows = _rows(dest)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "toy (555)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "6"]
    assert rows[2:] == [["'=Bob B", "102", "S2", "bob@uni", "Sec 2", "4"],
                        ["Alice A", "101", "S1", "alice@uni", "Sec 1", "6"]]
    err = capsys.readouterr().err
    assert "3 student(s) not in the roster" in err and "'bob'" in err and "'carol'" in err
    # A roster without any id column is refused with the expected header.
    bad = tmp_path / "bad.csv"
    bad.write_text("name,section\nA,1\n")
    assert cli.main(["export", "toy", "--format", "canvas", "--out", str(dest), "--grades", str(out),
                     "--roster", str(bad)]) == 2
    assert "student_id,name,sis_user_id,sis_login_id,section,canvas_id" in capsys.readouterr().err


def test_gradescope_results(tmp_path):
    out = _write(tmp_path / "g", STUDENTS, layout="flat")
    (out / "evil").mkdir()  # a results.json whose student id would climb out of the output folder
    (out / "evil" / "results.json").write_text(json.dumps(_result("../evil", {"t_add"}).to_dict()))
    dest = tmp_path / "gs"
    assert cli.main(["export", "toy", "--format", "gradescope", "--out", str(dest) + "/", "--grades", str(out),
                     "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    data = json.loads((dest / "bob" / "results.json").read_text())
    assert data["score"] == 1.0 and data["stdout_visibility"] == "hidden"
    assert [(t["name"], t["score"], t["max_score"], t["visibility"], t["status"]) for t in data["tests"]] == [
        ("t_add", 1.0, 1.0, "visible", "passed"), ("t_add_hidden", 0.0, 2.0, "after_published", "failed"),
        ("t_scale", 0.0, 3.0, "visible", "failed")]
    assert data["tests"][2]["output"] == "t_scale: expected 5, got 4"
    evil = export.safe_dirname("../evil")
    assert evil.startswith("~") and export.safe_dirname(".x").startswith("~")
    assert sorted(p.name for p in dest.iterdir()) == sorted(["alice", "bob", "carol", HOSTILE, evil])
    assert not (tmp_path / "evil").exists()
    assert export.safe_dirname("x\ud800").startswith("~") and export.safe_dirname("a b@c") == "a b@c"
    # One JSON file when --out names a .json file.
    one = tmp_path / "all.json"
    assert cli.main(["export", "toy", "--format", "gradescope", "--out", str(one), "--grades", str(out)]) == 0
    assert json.loads(one.read_text())[HOSTILE]["score"] == 3.0


def test_export_all_and_usage_errors(tmp_path, capsys):
    root = tmp_path / "grades"
    _write(root / "toy", STUDENTS[:2])
    _write(root / "toy2", [_result("alice", {"t_add"}, assignment="toy2")], layout="flat")
    (root / "empty").mkdir()
    dest = tmp_path / "all.csv"
    assert cli.main(["export", "--all", "--format", "csv", "--out", str(dest), "--grades", str(root),
                     "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    rows = _rows(dest)
    assert [r[:2] for r in rows[1:]] == [["alice", "toy"], ["alice", "toy2"], ["bob", "toy"]]
    assert "toy:t_add" in rows[0] and "toy2:t_add" in rows[0]
    canvas = tmp_path / "all_canvas.csv"
    assert cli.main(["export", "--all", "--format", "canvas", "--out", str(canvas), "--grades", str(root)]) == 0
    rows = _rows(canvas)
    assert rows[0][5:] == ["toy", "toy2"] and rows[2][0] == "alice" and rows[2][5:] == ["6", "1"]
    assert rows[3][0] == "bob" and rows[3][5:] == ["1", ""], "no result for an assignment: empty cell"
    capsys.readouterr()
    assert cli.main(["export", "toy", "--all", "--format", "csv", "--out", str(dest)]) == 2
    assert cli.main(["export", "nothing", "--format", "csv", "--out", str(dest), "--grades", str(root / "empty")]) == 2
    assert "no results.json in" in capsys.readouterr().err


def test_export_all_takes_only_the_assignments_folders(tmp_path, capsys):
    """A copy of an assignment's folder (a backup, a demo) under build/grades/ is not an
    assignment: --all leaves it out and says so (it became a Canvas column before issue 20)."""
    root = tmp_path / "grades"
    _write(root / "toy", STUDENTS[:2])
    _write(root / "toy-backup", STUDENTS[:2])               # results of "toy", in another folder
    dest = tmp_path / "all_canvas.csv"
    assert cli.main(["export", "--all", "--format", "canvas", "--out", str(dest), "--grades", str(root),
                     "--gradebook", f"sqlite:///{tmp_path}/none.db"]) == 0
    assert _rows(dest)[0][5:] == ["toy"]
    assert "toy-backup" in capsys.readouterr().err
    assert export.find_graded_assignments(root, ["toy2"], problems=[]) == []


def test_a_missing_student_keeps_the_whole_max_score_through_an_export(tmp_path):
    """A missing student's result has no tests; refreshed without the assignment's manual
    cells (export) it kept only the autograded part of the max (23 of 25 in the issue)."""
    from autograder.results import MISSING, refresh

    r = SubmissionResult("gone", "toy", MISSING, 0.0, 8.0, manual_max=2.0, auto_score=0.0)
    refresh(r, {})
    assert r.max_score == 8.0 and r.manual_max == 2.0
