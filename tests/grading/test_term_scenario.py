"""The instructor's way through one assignment, as they take it (issue 20).

Eight students of the toy assignment (6 autograded points and a written answer worth 2) and a
roster: correct, partly wrong, blank (the release unchanged), late, missing, off the roster, a
notebook under an odd name, and one handed in through a Canvas "Download submissions" zip
(flat files, a re-submission). Then, as the term goes: a TA enters a score and a comment
through nbgrader's gradebook API (what formgrader does), the late student is regraded alone
without repeating --due/--late-penalty, and every place a grade shows (grades.csv,
results.json, feedback.html, the report, the gradebook, the csv/canvas/gradescope exports)
holds the same current truth.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import stat
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from autograder import cli, export
from autograder import gradebook as nbgb
from autograder import release as rel
from autograder.assignment import load_assignment
from autograder.cells import CODE_STUB, TEXT_STUB
from autograder.engine import isolation_available
from autograder.samples import TOY_NAME, correct_notebook, partly_wrong_notebook, write_toy_source

pytestmark = pytest.mark.skipif(isolation_available() is None, reason="needs the grading sandbox")
NB = f"{TOY_NAME}.ipynb"
DUE = "2026-03-01T00:00:00+00:00"
ROSTER = ("student_id,name,canvas_id,sis_login_id\n"
          "s01,Ada One,1001,ada\ns02,Bob Two,1002,bob\ns03,Cy Three,1003,cy\ns04,Dee Four,1004,dee\n"
          "s05,Eve Five,1005,eve\ns07,Gus Seven,1007,gus\ns08,Jane Doe,12345,doejane\n")
COMMENT = "Good idea; say *why* broadcasting hides the mistake. <b>not bold</b>"


def _source(src_dir: Path) -> Path:
    path = write_toy_source(src_dir)
    nb = nbformat.read(str(path), as_version=4)
    md = nbformat.v4.new_markdown_cell("Why does `add` need arrays of the same shape?")
    md.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "q_why",
                               "schema_version": 3, "task": False}
    answer = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBroadcasting would hide mistakes.\n### END SOLUTION")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "points": 2,
                                   "grade_id": "answer_why", "schema_version": 3, "task": False}
    nb.cells += [md, answer]
    rel.write_notebook(nb, path)
    return path


def _blank(source_nb):
    """The release as handed out: every solution a stub, hidden tests gone."""
    nb = correct_notebook(source_nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
    return nb


def _rows(path: Path) -> dict:
    return {r["student_id"]: r for r in csv.DictReader(path.open(encoding="utf-8"))}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scenario")
    src = _source(tmp / "solutions")           # the course folder's own sources
    a = load_assignment(TOY_NAME, source_dir=tmp / "solutions")
    source_nb = nbformat.read(str(src), as_version=4)
    subs = tmp / "subs"
    plan = {"s01": correct_notebook(source_nb), "s02": partly_wrong_notebook(source_nb)[0],
            "s03": _blank(source_nb), "s04": correct_notebook(source_nb), "zed": correct_notebook(source_nb)}
    for sid, nb in plan.items():
        (subs / sid).mkdir(parents=True)
        rel.write_notebook(nb, subs / sid / NB)
    (subs / "s07").mkdir()                                        # an odd file name
    rel.write_notebook(correct_notebook(source_nb), subs / "s07" / f"Copy of {TOY_NAME} (1).ipynb")
    times = tmp / "times.csv"
    times.write_text("student_id,submitted_at\ns01,2026-02-28T10:00:00Z\ns04,2026-03-01T02:30:00Z\n")
    roster = tmp / "roster.csv"
    roster.write_text(ROSTER)
    db = f"sqlite:///{tmp}/build/gradebook.db"    # the course's gradebook: formgrader's notebooks too
    out = tmp / "build" / "grades" / TOY_NAME
    autograded = tmp / "autograded"
    args = ["--course", str(tmp), "grade", TOY_NAME, "--quiet", "--workers", "2", "--roster", str(roster)]
    first = cli.main([*args[:4], str(subs), *args[4:], "--due", DUE, "--late-penalty", "per-hour:1",
                      "--submitted-at", str(times)])
    # The Canvas download: Jane Doe (canvas id 12345 -> s08) handed in twice, the later one correct.
    zpath = tmp / "canvas.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for name, nb in ((f"doejane_12345_678901_{TOY_NAME}.ipynb", partly_wrong_notebook(source_nb)[0]),
                         (f"doejane_12345_678999_{TOY_NAME}-1.ipynb", correct_notebook(source_nb))):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 2, 28, 12, 0, 0)), nbformat.writes(nb))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        canvas = cli.main([*args[:4], str(zpath), *args[4:]])
    results_before = {p.parent.name: json.loads(p.read_text()) for p in (out / "students").glob("*/results.json")}
    # A TA grades two answers in formgrader: scores and a comment through nbgrader's gradebook API.
    with nbgb.open_gradebook(db) as gb:
        gb.find_grade("answer_why", TOY_NAME, TOY_NAME, "s01").manual_score = 1.5
        gb.find_comment("answer_why", TOY_NAME, TOY_NAME, "s01").manual_comment = COMMENT
        gb.find_grade("answer_why", TOY_NAME, TOY_NAME, "s04").manual_score = 2.0
        gb.db.commit()
    # The late student regraded alone, without repeating --due, --late-penalty nor --submitted-at:
    # the time the first run stored for the same notebook is reused (it was dropped: source none).
    alone = cli.main([*args[:4], str(subs), *args[4:], "--student", "s04"])
    return {"tmp": tmp, "out": out, "db": db, "roster": roster, "autograded": autograded, "first": first,
            "canvas": canvas, "canvas_err": err.getvalue(), "alone": alone, "before": results_before, "assignment": a}


def test_every_student_gets_the_right_status_and_score(term):
    assert (term["first"], term["canvas"], term["alone"]) == (0, 0, 0)
    rows = _rows(term["out"] / "grades.csv")
    assert sorted(rows) == ["s01", "s02", "s03", "s04", "s05", "s07", "s08", "zed"]
    got = {sid: (r["status"], r["score"], r["max_score"]) for sid, r in rows.items()}
    assert got == {"s01": ("graded", "7.5", "8"), "s02": ("graded", "3", "8"), "s03": ("graded", "0", "8"),
                   "s04": ("graded", "5", "8"), "s05": ("missing", "0", "8"), "s07": ("graded", "6", "8"),
                   "s08": ("graded", "6", "8"), "zed": ("graded", "6", "8")}, got
    # s03 left the written answer as released: 0 points, nobody waits for it (nbgrader's rule).
    assert rows["s03"]["needs_manual_grading"] == ""
    s03 = json.loads((term["out"] / "students" / "s03" / "results.json").read_text())
    manual = next(t for t in s03["tests"] if t["name"] == "answer_why")
    assert manual["blank"] is True and manual["awaiting"] is False and manual["points"] == 0
    s02 = json.loads((term["out"] / "students" / "s02" / "results.json").read_text())
    manual = next(t for t in s02["tests"] if t["name"] == "answer_why")
    assert manual["awaiting"] is True and manual["position"] == 1 and manual["prompt"].startswith("Why does")
    assert rows["s02"]["needs_manual_grading"] == "yes"
    # s07's notebook had another name: graded, with a note.
    assert "Copy of toy_add (1).ipynb" in json.loads((term["out"] / "students" / "s07" / "results.json").read_text())["message"]


def test_the_late_student_regraded_alone_keeps_the_penalty(term):
    row = _rows(term["out"] / "grades.csv")["s04"]
    assert row["late"] == "yes" and row["late_by"] == "2:30:00" and row["late_penalty"] == "3", row
    assert row["submitted_at_source"] == "submitted-at-file" and row["submitted_at"] == "2026-03-01T02:30:00"
    assert row["score"] == "5" and row["manual_score"] == "2"     # 6 + 2 by hand - 3 late
    stored = json.loads((term["out"] / "assignment.json").read_text())
    assert stored["late_policy"] == "per-hour:1" and stored["due"].startswith("2026-03-01T00:00:00")
    assert nbgb.duedate(term["db"], TOY_NAME) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    with nbgb.open_gradebook(term["db"]) as gb:
        assert gb.find_submission_notebook(TOY_NAME, TOY_NAME, "s04").late_submission_penalty == 3.0
        assert gb.find_assignment(TOY_NAME).duedate == datetime(2026, 3, 1)     # formgrader's "Due Date"


def test_the_canvas_zip_is_read_with_the_roster(term):
    s08 = json.loads((term["out"] / "students" / "s08" / "results.json").read_text())
    assert s08["status"] == "graded" and s08["auto_score"] == 6.0, "the later re-submission (correct) wins"
    assert s08["submitted_at"] == "2026-02-28T12:00:00" and s08["submitted_at_source"] == "zip-entry-time"
    assert term["canvas_err"].count("read as a Canvas download: 1 student(s)") == 1
    assert not [p for p in (term["out"] / "students").iterdir() if p.name.startswith(("cnn-course", "tmp", "~"))]


def test_an_unreadable_zip_is_an_error_not_a_graded_row(term, tmp_path, capsys):
    z = tmp_path / "flat.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("homework.ipynb", "{}")
        f.writestr("other.ipynb", "{}")
    out = tmp_path / "out"
    code = cli.main(["--course", str(term["tmp"]), "grade", TOY_NAME, str(z), "--quiet", "--out", str(out),
                     "--no-gradebook"])
    assert code == 2 and "no student folder" in capsys.readouterr().err
    assert not (out / "grades.csv").exists()


def test_comment_and_manual_score_reach_every_place(term):
    out, db = term["out"], term["db"]
    rows = _rows(out / "grades.csv")
    assert rows["s01"]["score"] == "7.5" and rows["s01"]["manual_score"] == "1.5"   # current, not stale
    assert COMMENT in rows["s01"]["comments"]
    s01 = json.loads((out / "students" / "s01" / "results.json").read_text())
    assert s01["comments"] == {"answer_why": COMMENT}
    assert next(t for t in s01["tests"] if t["name"] == "answer_why")["comment"] == COMMENT
    page = (out / "students" / "s01" / "feedback.html").read_text()
    assert "Grader's comment" in page and "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold" not in page
    row = page[page.index("<code>answer_why</code>"):]
    row = row[:row.index("</tr>")]
    assert "1.5 / 2" in row and "not bold" in row, "the comment sits next to its score"
    tmp = term["tmp"]
    export.export("csv", {TOY_NAME: out}, tmp / "table.csv", db_url=db, problems=[])
    table = _rows(tmp / "table.csv")
    assert table["s01"]["score"] == "7.5" and table["s01"]["answer_why comment"] == COMMENT
    assert table["s05"]["max_score"] == "8", "a missing student's max is the whole assignment's"
    export.export("gradescope", {TOY_NAME: out}, tmp / "gs", db_url=db, problems=[])
    gs = json.loads((tmp / "gs" / "s01" / "results.json").read_text())
    assert gs["score"] == 7.5 and any(COMMENT in t["output"] for t in gs["tests"])
    assert json.loads((tmp / "gs" / "s05" / "results.json").read_text())["extra_data"]["max_score"] == 8
    export.export("canvas", {TOY_NAME: out}, tmp / "canvas.csv", db_url=db, roster=term["roster"], problems=[])
    canvas = list(csv.reader((tmp / "canvas.csv").open()))
    by_name = {r[0]: r for r in canvas[2:]}
    assert by_name["Ada One"][5] == "7.5" and by_name["Dee Four"][5] == "5" and canvas[1][5] == "8"
    with nbgb.open_gradebook(db) as gb:
        assert gb.find_grade("answer_why", TOY_NAME, TOY_NAME, "s03").auto_score == 0.0
        assert not gb.find_grade("answer_why", TOY_NAME, TOY_NAME, "s03").needs_manual_grade


def test_report_and_terminal_name_off_roster_and_count_right(term):
    page = (term["out"] / "report.html").read_text()
    assert "<h2>Not on the roster</h2>" in page and "zed" in page[page.index("Not on the roster"):]
    assert "nbgrader formgrader" not in page
    # mean of the 7 submissions (missing left out), rounded for display
    scores = [7.5, 3, 0, 5, 6, 6, 6]
    mean = round(sum(scores) / len(scores), 2)
    assert f"mean</th><td class=\"num\">{mean:g}<" in page
    assert re.search(r"answer_why</code></td><td>public</td><td class=\"num\">2</td><td class=\"num\">58% \(score\)",
                     page), "a hand-graded answer's rate is its score (1.5, 2 and a blank 0 of 2), not 0% passed"


def test_outputs_follow_the_umask(term):
    mode = stat.S_IMODE(os.stat(term["out"] / "grades.csv").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask, oct(mode)


def test_formgrader_notebook_shows_each_tests_message(term):
    nb = nbformat.read(str(term["autograded"] / "s02" / TOY_NAME / NB), as_version=4)
    outs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.outputs for c in nb.cells if c.cell_type == "code"}
    assert outs["test_add_public"] == [] and outs["test_scale_public"], "a failed test shows its message"
    err = outs["test_scale_public"][0]
    assert err["output_type"] == "error" and "scale" in "\n".join(err["traceback"])
    hidden = "\n".join(outs["test_scale_hidden"][0]["traceback"])
    assert "secret_factor_hidden" not in hidden and "-3.5 * np.eye" not in hidden
