"""Fair grades: lateness that only the instructor's side can prove, outputs a submission cannot corrupt.

Builders of crafted hand-ins for ``cnn-course grade`` (tests/grading/test_fair_outputs.py grades
them with a fake engine, so no sandbox is needed):

* lateness (``LATENESS_CASES``): each builder writes SUBMISSIONS (a folder or a zip) for one
  student and returns ``(submissions path, grade_folder keywords)``; the case says what the
  result must hold: ``late``, ``source`` (``submitted_at_source``), ``score`` under the
  ``zero`` late policy (full marks 3), and whether the "no submission time known" note is
  there. A ``timestamp.txt`` or a file time that the student controls never counts;
* hostile notebook content for formgrader's autograded notebook (:func:`hostile_notebook`);
* student ids that collide as folder names or carry terminal escapes (``COLLIDING_IDS``,
  ``ESC_ID``).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

NAME = "toy_add"
NB = f"{NAME}.ipynb"
DUE = datetime(2026, 3, 1, tzinfo=timezone.utc)
FULL = 3.0                       # the fake engine's full marks ("GOOD" notebooks)
NO_TIME_NOTE = "no submission time known: not checked for lateness"


def nb_text(marker: str = "GOOD") -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": f"# {marker}", "metadata": {}, "outputs": [],
                                  "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


def _stamp(when: datetime) -> str:
    """nbgrader's timestamp.txt format."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def _zip(path: Path, entries: list[tuple[str, str, tuple, bytes]]) -> Path:
    """entries: (name, text, date_time, extra field bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text, date_time, extra in entries:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.extra = extra
            zf.writestr(info, text)
    return path


def _dt(when: datetime) -> tuple:
    return when.timetuple()[:6]


def extended_timestamp(when: datetime) -> bytes:
    """Info-ZIP's extended timestamp extra field (0x5455): the modification time in UTC."""
    data = struct.pack("<Bi", 1, int(when.timestamp()))
    return struct.pack("<HH", 0x5455, len(data)) + data


# ---------------------------------------------------------------- lateness


@dataclass
class LateCase:
    name: str
    build: Callable[[Path], tuple[Path, dict]]
    late: bool
    source: str
    score: float
    no_time_note: bool = False
    late_by_s: float | None = None
    why: str = ""
    kwargs: dict = field(default_factory=dict)


def forged_stamp_plain(tmp: Path):
    """Plain <id>/ layout: a late notebook (file time after the due date) with a timestamp.txt
    the student wrote, claiming a day early. Neither is evidence."""
    folder = tmp / "subs" / "alice"
    folder.mkdir(parents=True)
    (folder / NB).write_text(nb_text())
    (folder / "timestamp.txt").write_text(_stamp(DUE - timedelta(days=1)))
    _set_mtime(folder / NB, DUE + timedelta(hours=5))
    return tmp / "subs", {}


def file_time_only_plain(tmp: Path):
    """Plain layout, no timestamp.txt, the notebook's file time after the due date: the file
    time says nothing about when it was handed in (a copy, an extraction, a touch)."""
    folder = tmp / "subs" / "alice"
    folder.mkdir(parents=True)
    (folder / NB).write_text(nb_text())
    _set_mtime(folder / NB, DUE + timedelta(days=30))
    return tmp / "subs", {}


def forged_stamp_assignment_folder(tmp: Path):
    """<id>/<assignment>/timestamp.txt outside a `submitted/` folder (an LMS download the
    instructor unpacked): still the student's own file."""
    folder = tmp / "subs" / "alice" / NAME
    folder.mkdir(parents=True)
    (folder / NB).write_text(nb_text())
    (folder / "timestamp.txt").write_text(_stamp(DUE - timedelta(days=1)))
    return tmp / "subs", {}


def nbgrader_submitted_late(tmp: Path):
    """nbgrader's course layout (submitted/<id>/<assignment>/timestamp.txt, written by nbgrader
    submit/collect): 2 h 30 late."""
    folder = tmp / "course" / "submitted" / "alice" / NAME
    folder.mkdir(parents=True)
    (folder / NB).write_text(nb_text())
    (folder / "timestamp.txt").write_text(_stamp(DUE + timedelta(hours=2, minutes=30)))
    return tmp / "course", {}


def nbgrader_submitted_on_time(tmp: Path):
    folder = tmp / "course" / "submitted" / "alice" / NAME
    folder.mkdir(parents=True)
    (folder / NB).write_text(nb_text())
    (folder / "timestamp.txt").write_text(_stamp(DUE - timedelta(hours=1)))
    _set_mtime(folder / NB, DUE + timedelta(days=3))       # the copy's file time does not matter
    return tmp / "course" / "submitted", {}


def zip_on_time(tmp: Path):
    """An LMS zip: the notebook entry dated a day before the due date, no timestamp.txt."""
    return _zip(tmp / "subs.zip", [(f"alice/{NB}", nb_text(), _dt(DUE - timedelta(days=1)), b"")]), {}


def zip_late(tmp: Path):
    return _zip(tmp / "subs.zip", [(f"alice/{NB}", nb_text(), _dt(DUE + timedelta(hours=3)), b"")]), {}


def zip_late_with_forged_stamp(tmp: Path):
    """A late entry and a timestamp.txt inside the zip claiming an early hand-in: the entry's
    date counts (the student wrote the text file, the LMS dated the entry)."""
    return _zip(tmp / "subs.zip", [
        (f"alice/{NB}", nb_text(), _dt(DUE + timedelta(hours=3)), b""),
        ("alice/timestamp.txt", _stamp(DUE - timedelta(days=2)), _dt(DUE - timedelta(days=2)), b""),
    ]), {}


def zip_extended_timestamp(tmp: Path):
    """The local date says late (01:30) but the entry carries Info-ZIP's UTC time: 30 min early."""
    utc = DUE - timedelta(minutes=30)
    return _zip(tmp / "subs.zip", [(f"alice/{NB}", nb_text(), _dt(DUE + timedelta(hours=1, minutes=30)),
                                    extended_timestamp(utc))]), {}


def zip_local_zone(tmp: Path):
    """00:30 on the zip's clock, which runs at +01:00 (--zip-tz): 23:30 UTC the day before."""
    return _zip(tmp / "subs.zip", [(f"alice/{NB}", nb_text(), _dt(DUE + timedelta(minutes=30)), b"")]), \
        {"zip_tz": "+01:00"}


def zip_dos_epoch(tmp: Path):
    """Entry dated 1980-01-01 00:00 (the zip format's "no date"): unknown, not early."""
    return _zip(tmp / "subs.zip", [(f"alice/{NB}", nb_text(), (1980, 1, 1, 0, 0, 0), b"")]), {}


def submitted_at_file(tmp: Path):
    """The instructor's --submitted-at CSV beats a student's timestamp.txt."""
    folder = tmp / "subs" / "alice"
    folder.mkdir(parents=True)
    (folder / NB).write_text(nb_text())
    (folder / "timestamp.txt").write_text(_stamp(DUE - timedelta(days=1)))
    csv_path = tmp / "times.csv"
    csv_path.write_text("student_id,submitted_at\nalice,2026-03-01T04:00:00Z\n")
    return tmp / "subs", {"submitted_at": csv_path}


LATENESS_CASES = [
    LateCase("forged_stamp_plain", forged_stamp_plain, False, "none", FULL, True,
             why="was on time (57 instead of 0) through the student's timestamp.txt"),
    LateCase("file_time_only_plain", file_time_only_plain, False, "none", FULL, True,
             why="was late by the file's mtime"),
    LateCase("forged_stamp_assignment_folder", forged_stamp_assignment_folder, False, "none", FULL, True),
    LateCase("nbgrader_submitted_late", nbgrader_submitted_late, True, "nbgrader-timestamp", 0.0,
             late_by_s=9000.0),
    LateCase("nbgrader_submitted_on_time", nbgrader_submitted_on_time, False, "nbgrader-timestamp", FULL),
    LateCase("zip_on_time", zip_on_time, False, "zip-entry-time", FULL,
             why="was 857 h late: extraction stamped the file with the current time"),
    LateCase("zip_late", zip_late, True, "zip-entry-time", 0.0, late_by_s=10800.0),
    LateCase("zip_late_with_forged_stamp", zip_late_with_forged_stamp, True, "zip-entry-time", 0.0,
             late_by_s=10800.0),
    LateCase("zip_extended_timestamp", zip_extended_timestamp, False, "zip-entry-time", FULL),
    LateCase("zip_local_zone", zip_local_zone, False, "zip-entry-time", FULL),
    LateCase("zip_dos_epoch", zip_dos_epoch, False, "none", FULL, True),
    LateCase("submitted_at_file", submitted_at_file, True, "submitted-at-file", 0.0, late_by_s=14400.0),
]

# --submitted-at with bad lines: (file text, {student: (late, source)}, line numbers reported)
SUBMITTED_AT_TEXT = (
    "Student ID,Submitted At\n"          # headers matched loosely
    "alice,2026-02-28 23:59:59\n"        # on time (UTC unless a zone is given)
    "bob,2026-03-01T01:00:00+01:00\n"    # 00:00 UTC: exactly on time
    "carol,2026-03-01T00:00:01Z\n"       # one second late
    "dave,yesterday\n"                   # line 5: not a date
    "erin\n"                             # line 6: no time
    "alice,2026-03-05T00:00:00\n"        # line 7: alice again
    + "frank," + "9" * 500 + "\n"        # line 8: far too long a cell
)
SUBMITTED_AT_EXPECT = {"alice": (False, "submitted-at-file"), "bob": (False, "submitted-at-file"),
                       "carol": (True, "submitted-at-file"), "dave": (False, "none"), "erin": (False, "none"),
                       "frank": (False, "none")}
SUBMITTED_AT_BAD_LINES = (5, 6, 7, 8)


# ---------------------------------------------------------------- formgrader's autograded notebook

PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="  # a pasted image


def hostile_notebook(nb):
    """Add to a (correct) student notebook everything that would run in formgrader's page."""
    import nbformat

    v4 = nbformat.v4
    code = v4.new_code_cell("print('hi')")
    code.execution_count = 7
    code.outputs = [
        v4.new_output("display_data", data={"text/html": "<img src=x onerror=alert(1)><script>alert(2)</script>",
                                            "application/javascript": "alert(3)",
                                            "image/svg+xml": "<svg onload=alert(4)></svg>",
                                            "text/plain": "x"}),
        v4.new_output("execute_result", data={"text/html": "<iframe src=javascript:alert(5)>"}, execution_count=7),
        v4.new_output("stream", name="stdout", text="<script>alert(6)</script>"),
    ]
    code.metadata["widgets"] = {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}}
    md = v4.new_markdown_cell(
        "My answer <img src=x onerror=alert(7)> and <script>alert(8)</script>\n\n"
        "[click](javascript:alert(9)) [c2](jav&#x61;script:alert(10)) [c3](  JAVASCRIPT:alert(11))\n\n"
        "<a href=\"javascript:alert(12)\">a</a> <svg/onload=alert(13)> <IMG SRC=x ONERROR=alert(14)>\n\n"
        "[ref]\n\n[ref]: javascript:alert(15)\n\n"
        "$\\href{javascript:alert(16)}{math link}$ and `a<b` is fine\n\n"
        "![pic](attachment:evil.svg) <details open ontoggle=alert(17)>x</details>")
    md.attachments = {"evil.svg": {"image/svg+xml": "<svg onload=alert(18)></svg>",
                                   "text/html": "<script>alert(19)</script>"},
                      "bad.png": {"image/png": "\"><script>alert(25)</script>"}}
    pasted = v4.new_markdown_cell("My sketch: ![sketch](attachment:sketch.png)")
    pasted.attachments = {"sketch.png": {"image/png": PNG_1PX, "text/html": "<script>alert(26)</script>"}}
    raw = v4.new_raw_cell("<script>alert(20)</script><img src=x onerror=alert(21)>")
    raw.metadata["raw_mimetype"] = "text/html"
    raw2 = v4.new_raw_cell("<img src=x onerror=alert(22)>")
    nb.cells.extend([code, md, pasted, raw, raw2])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"x": {"model_name": "HTMLModel", "state": {"value": "<img src=x onerror=alert(23)>"}}}}}
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.outputs:
            cell.outputs = [v4.new_output("execute_result", data={"text/html": "<b onmouseover=alert(24)>b</b>"},
                                          execution_count=1)]
            cell.execution_count = 1
    return nb


# ---------------------------------------------------------------- folder names and terminal escapes


def old_hashed_name(student_id: str) -> str:
    """The folder the old safe_dirname gave an unsafe id: `student-<sha256 prefix>`."""
    return "student-" + hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# Pairs that must never share an output folder.
COLLIDING_IDS = [
    (".alice", old_hashed_name(".alice")),
    ("..", old_hashed_name("..")),
    ("a/b", old_hashed_name("a/b")),
    ("x" * 129, old_hashed_name("x" * 129)),
]
ESC_ID = "\x1b[2J\x1b[31mmallory\x07"
FORMULA_IDS = ("=HYPERLINK(\"x\")", "+1", "-1", "@SUM(1)", "\t=1", "\r=1")
