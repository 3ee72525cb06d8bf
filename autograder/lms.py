"""Submissions downloaded from an LMS, read as ``<student_id>/<notebook>`` folders.

* Canvas ("Download submissions"): flat files ``<login>_<canvas user id>_<submission id>_<file>``,
  ``<login>_LATE_<user id>_<submission id>_<file>``; a re-submission's file is renamed
  ``<file>-1.ipynb``, ``<file>-2.ipynb``...: the highest number (then submission id) wins.
* Moodle ("Download all submissions"): one folder per student, ``<Full Name>_<participant id>_
  assignsubmission_file_`` (or ``..._onlinetext_``), holding the files; Moodle keeps the last one.
* Blackboard ("Download assignment"): flat files ``<Assignment>_<username>_attempt_<YYYY-MM-DD-
  HH-MM-SS>.txt`` (the receipt) and ``..._attempt_<date>_<file>``: the latest attempt wins.

Names are matched against the roster's rows (``student_id``, ``sis_login_id``,
``sis_user_id``, ``canvas_id``, ``name``: :func:`autograder.roster.read_roster`) so each
student gets their course id; without a roster row the LMS's login (Canvas, Blackboard) or the
full name (Moodle) is the id, and a note says so. Names are bounded before any matching and
never reach a path unchecked (the batch maps ids to folders with ``safe_dirname``).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_NAME = 255
_CANVAS = re.compile(r"(?P<login>[A-Za-z0-9][A-Za-z0-9.-]{0,80})_(?:(?P<late>LATE)_)?(?P<uid>\d{1,12})_"
                     r"(?P<sub>\d{1,12})_(?P<file>.{1,200})")
_MOODLE = re.compile(r"(?P<name>.{1,150}?)_(?P<uid>\d{1,12})_assignsubmission_(?:file|onlinetext)_?")
_BLACKBOARD = re.compile(r"(?P<assignment>.{1,150}?)_(?P<user>[^_/\\]{1,80})_attempt_"
                         r"(?P<date>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>.{1,200}))?")
_RESUBMIT = re.compile(r"(?P<stem>.+?)-(?P<n>\d{1,4})(?P<ext>\.ipynb)")


@dataclass
class Arranged:
    """What :func:`arrange` made: ``root`` (a temporary folder of ``<student_id>/<notebook>``,
    the caller removes it), ``origin`` (``{new relative path: original relative path}``, for
    the zip's entry dates), ``notes`` and ``lms`` (which naming was read)."""

    root: Path
    lms: str
    origin: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


class _Roster:
    def __init__(self, rows: list[dict], ids: set):
        self.rows = rows or []
        self.ids = set(ids or ())

    def find(self, *keys: str, name: str = "") -> str | None:
        for key in keys:
            if not key:
                continue
            for col in ("canvas_id", "sis_login_id", "student_id", "sis_user_id"):
                for row in self.rows:
                    if row.get(col) and row[col] == key:
                        return row.get("student_id") or row.get("sis_login_id") or key
            if key in self.ids:
                return key
        if name:
            want = _norm(name)
            hits = [row for row in self.rows if row.get("name") and (
                _norm(row["name"]) == want or _norm(" ".join(reversed(row["name"].split(",")))) == want)]
            if len(hits) == 1:
                return hits[0].get("student_id") or hits[0].get("sis_login_id") or None
        return None


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith("."))


def _dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and p.name not in (
        "__MACOSX", ".ipynb_checkpoints"))


def _unwrap(root: Path) -> Path:
    """Look through single wrapping folders (a zip of a folder)."""
    for _ in range(5):
        dirs, files = _dirs(root), _files(root)
        if len(dirs) == 1 and not files and not _MOODLE.fullmatch(dirs[0].name[:MAX_NAME]):
            root = dirs[0]
        else:
            break
    return root


def arrange(root: Path, notebook_name: str, *, roster_rows: list[dict] | None = None,
            roster_ids: set | None = None) -> Arranged | None:
    """Read ``root`` as an LMS download; None when it is not one (then ``root`` is read as
    ``<student_id>/`` folders). At least half of its notebooks must follow one LMS's naming."""
    base = Path(root).resolve()            # origin paths are relative to it (the zip's entry names)
    root = _unwrap(base)
    roster = _Roster(roster_rows or [], roster_ids or set())
    files, dirs = _files(root), _dirs(root)
    nbs = [f for f in files if f.suffix == ".ipynb"]
    moodle = [d for d in dirs if _MOODLE.fullmatch(d.name[:MAX_NAME])]
    if moodle and len(moodle) * 2 >= len(dirs):
        return _moodle(base, moodle, roster)
    if not nbs:
        return None
    canvas = [(f, m) for f in nbs if (m := _CANVAS.fullmatch(f.name[:MAX_NAME]))]
    board = [(f, m) for f in nbs if (m := _BLACKBOARD.fullmatch(f.name[:MAX_NAME])) and m.group("file")]
    if len(board) * 2 >= len(nbs) and len(board) >= len(canvas):
        return _blackboard(base, board, nbs, notebook_name, roster)
    if len(canvas) * 2 >= len(nbs):
        return _canvas(base, canvas, nbs, notebook_name, roster)
    return None


def _new(lms: str) -> Arranged:
    return Arranged(Path(tempfile.mkdtemp(prefix=f"cnn-course-{lms}-")), lms)


def _place(out: Arranged, root: Path, sid: str, src: Path, name: str) -> None:
    from autograder.results import safe_dirname

    folder = out.root / safe_dirname(sid)
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o755)
    target = folder / name
    try:
        os.link(src, target)
    except OSError:
        shutil.copyfile(src, target)
    out.origin[target.relative_to(out.root).as_posix()] = src.relative_to(root).as_posix()


def _finish(out: Arranged, chosen: dict, root: Path, name_of, guessed: list, stray: list) -> Arranged:
    from autograder.text import visible

    for sid, src in sorted(chosen.items()):
        _place(out, root, sid, src, name_of(src))
    n = len(chosen)
    out.notes.insert(0, f"read as a {out.lms} download: {n} student(s)")
    if guessed:
        out.notes.append(f"{out.lms}: {len(guessed)} student(s) not found in the roster, graded under the "
                         f"{out.lms} name: " + ", ".join(repr(visible(g)) for g in guessed[:20])
                         + (" ..." if len(guessed) > 20 else ""))
    if stray:
        out.notes.append(f"{out.lms}: {len(stray)} notebook(s) not named as {out.lms} names them, ignored: "
                         + ", ".join(repr(visible(s)) for s in stray[:10]) + (" ..." if len(stray) > 10 else ""))
    return out


def _canvas(root: Path, matches: list, nbs: list, notebook_name: str, roster: _Roster) -> Arranged:
    out = _new("Canvas")
    best: dict[str, tuple] = {}
    guessed: list[str] = []
    for f, m in matches:
        sid = roster.find(m.group("uid"), m.group("login"))
        if sid is None:
            sid = m.group("login")
            if sid not in guessed:
                guessed.append(sid)
        r = _RESUBMIT.fullmatch(m.group("file"))
        n = int(r.group("n")) if r else 0
        rank = (n, int(m.group("sub")), f.name)
        if sid not in best or rank > best[sid][0]:
            best[sid] = (rank, f)
    stray = sorted(set(f.name for f in nbs) - {f.name for f, _ in matches})
    return _finish(out, {sid: v[1] for sid, v in best.items()}, root, lambda src: notebook_name, guessed, stray)


def _blackboard(root: Path, matches: list, nbs: list, notebook_name: str, roster: _Roster) -> Arranged:
    out = _new("Blackboard")
    best: dict[str, tuple] = {}
    guessed: list[str] = []
    for f, m in matches:
        sid = roster.find(m.group("user"))
        if sid is None:
            sid = m.group("user")
            if sid not in guessed:
                guessed.append(sid)
        rank = (m.group("date"), f.name)
        if sid not in best or rank > best[sid][0]:
            best[sid] = (rank, f)
    stray = sorted(set(f.name for f in nbs) - {f.name for f, _ in matches})
    return _finish(out, {sid: v[1] for sid, v in best.items()}, root, lambda src: notebook_name, guessed, stray)


def _moodle(root: Path, folders: list, roster: _Roster) -> Arranged:
    out = _new("Moodle")
    guessed: list[str] = []
    chosen: dict[str, Path] = {}
    for d in folders:
        m = _MOODLE.fullmatch(d.name[:MAX_NAME])
        sid = roster.find(m.group("uid"), name=m.group("name"))
        if sid is None:
            sid = m.group("name").strip()
            guessed.append(sid)
        for f in _files(d)[:1000]:
            if f.suffix == ".ipynb":
                _place(out, root, sid, f, f.name)
        chosen.setdefault(sid, d)
    out.notes.insert(0, f"read as a Moodle download: {len(chosen)} student(s)")
    if guessed:
        from autograder.text import visible

        out.notes.append(f"Moodle: {len(guessed)} student(s) not found in the roster, graded under their Moodle "
                         "name: " + ", ".join(repr(visible(g)) for g in guessed[:20]))
    return out
