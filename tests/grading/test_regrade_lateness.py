"""A regrade keeps the submission time the instructor's evidence established on an earlier run
(stored in results.json with its source and the notebook's sha256) while the notebook is the
same file; a changed notebook drops it and says so. Found walking a term: `grade --student dee`
without repeating --submitted-at gave dee no lateness (57 instead of 54 without a gradebook,
an unexplained 54 with one). Also the terminal's summary: graded/kept counts, "1 worker", and
the off-roster note's words. Fake engine (tests/grading/test_batch.py's fake_grade)."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from autograder import batch, cli
from tests.grading.test_batch import NB, _assignment, _nb, fake_grade

DUE = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _rows(out):
    return {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}


def _class(tmp_path):
    subs = tmp_path / "subs"
    for sid in ("ann", "dee"):
        (subs / sid).mkdir(parents=True)
        (subs / sid / NB).write_text(_nb("GOOD"))
    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\nann,2026-02-28T00:00:00Z\ndee,2026-03-01T02:30:00Z\n")
    return subs, times


@pytest.mark.parametrize("gradebook", [False, True])
def test_a_regrade_without_the_times_file_keeps_the_stored_time_of_the_same_notebook(tmp_path, gradebook):
    subs, times = _class(tmp_path)
    out = tmp_path / "out"
    kw = dict(workers=1, progress=False, grade_fn=fake_grade)
    if gradebook:
        kw["db_url"] = f"sqlite:///{tmp_path}/gradebook.db"
    batch.grade_folder(_assignment(), subs, out, due=DUE, late_policy="per-hour:1", submitted_at=times, **kw)
    first = _rows(out)["dee"]
    assert (first["score"], first["late"], first["late_penalty"], first["submitted_at_source"]) == \
        ("0", "yes", "3", "submitted-at-file")        # 3 points, 3 started hours late: 0
    # Weeks later, dee alone, no --submitted-at: the due date, policy and dee's time are reused.
    _, paths = batch.grade_folder(_assignment(), subs, out, students=["dee"], **kw)
    row = _rows(out)["dee"]
    assert (row["score"], row["late"], row["late_by"], row["late_penalty"], row["submitted_at"],
            row["submitted_at_source"]) == ("0", "yes", "2:30:00", "3", "2026-03-01T02:30:00", "submitted-at-file"), row
    stored = json.loads((out / "students" / "dee" / "results.json").read_text())
    assert "not checked for lateness" not in stored["message"]
    assert any("keep the one an earlier run stored (same notebook): 'dee'" in n for n in paths["time_notes"])
    # The notebook changed: the old time is not reused, the student's note and the terminal say so,
    # and no earlier penalty (the gradebook's) stays unexplained.
    (subs / "dee" / NB).write_text(_nb("GOOD again"))
    _, paths = batch.grade_folder(_assignment(), subs, out, students=["dee"], **kw)
    row = _rows(out)["dee"]
    assert (row["score"], row["late"], row["late_penalty"], row["submitted_at_source"]) == ("3", "", "", "none"), row
    message = json.loads((out / "students" / "dee" / "results.json").read_text())["message"]
    assert "the notebook changed since an earlier run dated it 2026-03-01 02:30 UTC" in message
    assert "not checked for lateness" in message
    assert any("changed their notebook since an earlier run dated it" in n and "'dee'" in n
               for n in paths["time_notes"])
    # An explicit new --submitted-at wins.
    newer = tmp_path / "newer.csv"
    newer.write_text("student_id,submitted_at\ndee,2026-03-01T00:30:00Z\n")
    batch.grade_folder(_assignment(), subs, out, students=["dee"], submitted_at=newer, **kw)
    row = _rows(out)["dee"]
    assert (row["score"], row["late_by"], row["late_penalty"]) == ("2", "0:30:00", "1"), row
    message = json.loads((out / "students" / "dee" / "results.json").read_text())["message"]
    assert "not checked for lateness" not in message and "changed since" not in message


def test_resume_keeps_the_stored_time_and_drops_a_stale_no_time_note(tmp_path):
    subs, times = _class(tmp_path)
    out = tmp_path / "out"
    kw = dict(workers=1, progress=False, grade_fn=fake_grade)
    batch.grade_folder(_assignment(), subs, out, due=DUE, late_policy="per-hour:1", submitted_at=times, **kw)
    results, paths = batch.grade_folder(_assignment(), subs, out, resume=True, **kw)
    assert paths["resumed"] == 2 and paths["graded"] == 0
    assert _rows(out)["dee"]["late_penalty"] == "3"


def test_summary_counts_graded_and_kept_one_worker_and_off_roster_words(tmp_path, monkeypatch, capsys):
    subs, times = _class(tmp_path)
    (subs / "zed").mkdir()
    (subs / "zed" / NB).write_text(_nb("HALF"))
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nann\ndee\neve\n")
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path}/gradebook.db"
    real = batch.grade_folder
    monkeypatch.setattr(batch, "grade_folder", lambda *a, **k: real(*a, **{**k, "grade_fn": fake_grade}))
    monkeypatch.setattr(batch, "write_autograded", lambda *a, **k: None)
    from types import SimpleNamespace
    args = SimpleNamespace(workers=1, insecure=True, quiet=True, seed=0, roster=str(roster), student=None,
                           resume=False, regrade_stale=False, due=None, late_penalty=None, submitted_at=None,
                           zip_tz=None, cluster=None, scheduler=None)
    monkeypatch.setattr(cli, "_limits", lambda a: None)
    cli.run_grade(_assignment(), subs, out, args, db)
    err = capsys.readouterr()
    text = err.out + err.err
    assert "graded 3 submission(s) of toy_add" in text and "1 worker)" in text, text
    assert "not on the roster nor in the gradebook" not in text
    # zed is in the gradebook now (graded into it): the note names the roster, the word on the class.
    args.student = ["dee"]
    cli.run_grade(_assignment(), subs, out, args, db)
    text = "".join(capsys.readouterr())
    assert "graded 1 submission(s) of toy_add" in text, "eve (missing) is not a graded submission: " + text
    assert "student(s) handed in but are not on the roster: 'zed'" in text and "nor in the gradebook" not in text
    args.student, args.resume = None, True
    cli.run_grade(_assignment(), subs, out, args, db)
    text = "".join(capsys.readouterr())
    assert "graded 0 submission(s) of toy_add, kept 3 graded before (--resume)" in text, text
    assert "per minute" not in text
    # Without a roster the gradebook's students (before this run) are the class: zed is one now.
    args.roster, args.resume = None, False
    (subs / "newt").mkdir()
    (subs / "newt" / NB).write_text(_nb("HALF"))
    cli.run_grade(_assignment(), subs, out, args, db)
    text = "".join(capsys.readouterr())
    assert "1 student(s) handed in but are not among the gradebook's students: 'newt'" in text, text
