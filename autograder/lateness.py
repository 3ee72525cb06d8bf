"""Lateness: when each submission was handed in, the due date and the late policy of a batch.

Submission times come only from evidence the instructor's side produced (``TIME_SOURCES``):
``--submitted-at``, nbgrader's ``submitted/<id>/<assignment>/timestamp.txt`` on disk, or the
date of the notebook's entry in the zip (read in ``--zip-tz``), or such a time an earlier run
stored for the same notebook file (:func:`reuse_stored_times`); never from a ``timestamp.txt``
the student could have handed in nor from a file's modification time. The due date
(``--due``) and the late policy (``--late-penalty``, :func:`autograder.results.late_penalty_fn`)
given now replace those stored with the assignment (:func:`lateness_rules`); the penalty itself
is applied by :func:`autograder.store.judge_lateness` and :func:`autograder.results.apply_scores`.
"""
from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from autograder.intake import BatchError, Submission
from autograder.options import GradingOptions
from autograder.results import late_penalty_fn
from autograder.roster import norm_header, read_csv
from autograder.text import visible

# ---------------------------------------------------------------- submission times
#
# Lateness comes only from evidence the instructor's side produced, never from a file the
# student could have written nor from a file's modification time (a copy, an extraction or a
# `touch` sets it). In order of precedence:
#   "submitted-at-file"   --submitted-at FILE: the instructor's CSV student_id,submitted_at
#                         (e.g. converted from the LMS's export);
#   "nbgrader-timestamp"  timestamp.txt in nbgrader's course layout on disk,
#                         .../submitted/<id>/<assignment>/timestamp.txt: nbgrader submit writes
#                         it (over any file of that name the student handed in) and nbgrader
#                         collect copies it; only when SUBMISSIONS is a folder, never in a zip;
#   "zip-entry-time"      SUBMISSIONS is a zip the instructor downloaded from the LMS: the date
#                         of the notebook's entry (Info-ZIP's UTC extended timestamp when the
#                         entry has one, else the zip's local date read in --zip-tz, default UTC);
#   "none"                no evidence: no lateness applied, and (with a due date) the note
#                         NO_TIME_NOTE says the submission was not checked for lateness.
# A time so established is stored with the student's result (results.json: submitted_at, its
# source and the notebook's sha256); a later run with no evidence for that student reuses it
# while the notebook is the same file, never once it changed (reuse_stored_times).



class TimeSource(StrEnum):
    """Which evidence dated a submission (``submitted_at_source``: a plain string in results.json
    and the CSVs), in order of precedence; see above. Modules below this one (intake.py,
    store.py, report.py) spell ``TimeSource.NONE`` as its string, ``"none"``."""
    SUBMITTED_AT_FILE = "submitted-at-file"
    NBGRADER_TIMESTAMP = "nbgrader-timestamp"
    ZIP_ENTRY_TIME = "zip-entry-time"
    NONE = "none"


TIME_SOURCES = tuple(TimeSource)
NO_TIME_NOTE = "no submission time known: not checked for lateness"
MAX_TIMES_BYTES = 20 * 2**20         # --submitted-at file
MAX_TIMES_ROWS = 200_000
MAX_TIME_CELL = 100                  # characters of one id or time
_DOS_EPOCH = (1980, 1, 1, 0, 0, 0)   # a zip entry with "no date"


def parse_when(text: str, tz=timezone.utc) -> datetime:
    """An ISO 8601 time (``2026-03-01T09:00:00``, ``... 09:00:00.5``, ``...Z``, ``...+01:00``, or
    nbgrader's ``2026-03-01 09:00:00.000000 UTC``) as aware UTC; ``tz`` when it names no zone.
    Raises ValueError."""
    text = text.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    if not text or len(text) > MAX_TIME_CELL or not text[:4].isdigit():
        raise ValueError("not an ISO 8601 date and time")
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(timezone.utc)


def parse_zone(text: str | None):
    """``--zip-tz``: ``UTC`` (default), ``local`` (this machine's zone), an offset ``+01:00`` or
    an IANA name (``Europe/Paris``). Raises BatchError."""
    text = (text or "UTC").strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    if text.lower() == "local":
        return datetime.now().astimezone().tzinfo
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})", text)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        if minutes < 24 * 60:
            return timezone((-1 if m.group(1) == "-" else 1) * timedelta(minutes=minutes))
    else:
        try:
            from zoneinfo import ZoneInfo

            return ZoneInfo(text)
        except (ValueError, OSError, KeyError, ImportError):
            pass
    raise BatchError(f"--zip-tz {text!r}: expected UTC, local, an offset such as +01:00, or a zone name "
                     "such as Europe/Paris.")


def read_submitted_at(path: Path | str) -> tuple[dict[str, datetime], list[str]]:
    """``--submitted-at FILE``: the instructor's CSV of submission times, columns ``student_id``
    (or ``id``, ``username``, ``login``) and ``submitted_at`` (or ``submitted``, ``timestamp``,
    ``time``), ISO 8601, UTC unless a zone is given. Returns ``({student_id: aware UTC time},
    problems)``: each bad line is reported by number (not a date, no time, a second time for a
    student: the first is kept) and skipped. Raises BatchError when the file cannot be used."""
    path = Path(path)
    header, reader = read_csv(path, max_bytes=MAX_TIMES_BYTES, label="--submitted-at", error=BatchError)
    keys = [norm_header(h) for h in header]

    def col(*names):
        return next((keys.index(n) for n in names if n in keys), None)

    id_col = col("student_id", "id", "username", "login", "user")
    at_col = col("submitted_at", "submitted", "submission_time", "timestamp", "time", "date")
    if id_col is None or at_col is None:
        raise BatchError(f"--submitted-at {path}: expected the columns student_id,submitted_at (found: "
                         f"{', '.join(visible(k) for k in keys[:20]) or 'none'}).")
    times: dict[str, datetime] = {}
    problems: list[str] = []

    def bad(line: int, what: str) -> None:
        if len(problems) < 100:
            problems.append(f"--submitted-at line {line}: {what}")
        elif len(problems) == 100:
            problems.append("--submitted-at: more bad lines not listed")

    try:
        for n, row in enumerate(reader, start=2):
            if n > MAX_TIMES_ROWS + 1:
                bad(n, f"more than {MAX_TIMES_ROWS} rows: the rest is ignored")
                break
            if not any(c.strip() for c in row):
                continue
            sid = row[id_col].strip() if id_col < len(row) else ""
            when = row[at_col].strip() if at_col < len(row) else ""
            shown = visible(sid[:40]) + ("..." if len(sid) > 40 else "")
            if not sid or len(sid) > MAX_TIME_CELL:
                bad(n, f"no usable student id ({shown or 'empty'})")
            elif not when:
                bad(n, f"{shown}: no submission time")
            else:
                try:
                    at = parse_when(when)
                except (ValueError, OverflowError):
                    cut = visible(when[:40]) + ("..." if len(when) > 40 else "")
                    bad(n, f"{shown}: {cut!r} is not an ISO 8601 date and time (e.g. 2026-03-01T09:00:00+01:00)")
                    continue
                if sid in times:
                    bad(n, f"{shown}: a second submission time; the first one "
                           f"({times[sid].replace(tzinfo=None).isoformat(timespec='seconds')} UTC) is kept")
                else:
                    times[sid] = at
    except csv.Error as exc:
        bad(reader.line_num, f"not CSV ({exc}); the rest is ignored")
    return times, problems



def zip_entry_time(entry: tuple, tz=timezone.utc) -> datetime | None:
    """When a zip entry was dated, aware UTC: ``entry`` is ``(date_time, UTC time or None)`` as
    :func:`autograder.intake.safe_extract` records it; None for the zip format's "no date"
    (1980-01-01 00:00)."""
    date_time, utc = entry
    if utc is not None:
        return utc
    if tuple(date_time) <= _DOS_EPOCH:
        return None
    try:
        return datetime(*date_time, tzinfo=tz).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _nbgrader_stamp(sub: Submission, assignment: str) -> datetime | None:
    """nbgrader's timestamp.txt of ``sub`` when its notebook lies in nbgrader's course layout
    ``.../submitted/<id>/<assignment>/`` (see the notes above)."""
    folder = sub.path.parent if sub.path is not None else None
    if folder is None or folder.name != assignment or folder.parent.name != sub.student_id \
            or folder.parent.parent.name != "submitted":
        return None
    stamp = folder / "timestamp.txt"
    try:
        if stamp.is_symlink() or not stamp.is_file() or stamp.stat().st_size > 200:
            return None
        text = stamp.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    try:
        return parse_when(text)
    except (ValueError, OverflowError):
        pass
    try:                                  # nbgrader's other formats (its timezone setting)
        from nbgrader.utils import parse_utc

        return parse_utc(text).replace(tzinfo=timezone.utc)
    except Exception:  # noqa: BLE001 - an unreadable stamp is no evidence
        return None


def assign_submission_times(subs: list[Submission], assignment: str, *, given: dict | None = None,
                            zip_root: Path | None = None, zip_times: dict | None = None, zip_tz=timezone.utc) -> None:
    """Set each submission's ``submitted_at`` and ``submitted_at_source`` from the evidence
    (in the order of :data:`TIME_SOURCES`): ``given`` (the --submitted-at file), nbgrader's
    timestamp.txt (folders only), the zip entry of the notebook (``zip_root``: where the zip
    was extracted; ``zip_times``: what :func:`autograder.intake.safe_extract` recorded)."""
    given = given or {}
    for sub in subs:
        when, source = given.get(sub.student_id), TimeSource.SUBMITTED_AT_FILE
        if when is None and sub.path is not None:
            if zip_root is None:
                when, source = _nbgrader_stamp(sub, assignment), TimeSource.NBGRADER_TIMESTAMP
            else:
                try:
                    key = sub.path.resolve().relative_to(zip_root.resolve()).as_posix()
                except (ValueError, OSError):
                    key = None
                entry = (zip_times or {}).get(key)
                when, source = (zip_entry_time(entry, zip_tz) if entry else None), TimeSource.ZIP_ENTRY_TIME
        sub.submitted_at, sub.submitted_at_source = (when, source) if when is not None else (None, TimeSource.NONE)


def check_policy(policy: str | None) -> None:
    """``--late-penalty``: a policy :func:`autograder.results.late_penalty_fn` reads (a bad one is
    a usage error, before any grading). Raises BatchError."""
    if policy is not None:
        try:
            late_penalty_fn(policy)
        except ValueError as exc:
            raise BatchError(f"--late-penalty: {exc}") from None


def parse_due(text: str | None) -> datetime | None:
    """``--due``: ISO 8601 (``2026-03-01T00:00:00``), UTC unless it names a zone."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BatchError(f"--due {text!r} is not an ISO 8601 date and time (e.g. 2026-03-01T00:00:00 or "
                         "2026-03-01T09:00:00+01:00).") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _when(d: datetime | None) -> str:
    return d.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if d is not None else "none"


def lateness_rules(o: GradingOptions, stored: dict, gb_due: datetime | None) -> tuple:
    """``(due, policy, notes)`` of this run: what was given now, else what is stored with the
    assignment (assignment.json, then the gradebook's due date), else no due date and ``none``."""
    notes = []
    old_due = stored.get("due") or gb_due
    old_policy = stored.get("late_policy")
    due = o.due if o.due is not None else old_due
    policy = o.late_policy if o.late_policy is not None else (old_policy or "none")
    if o.due is not None and old_due is not None and o.due != old_due:
        notes.append(f"--due replaces the stored due date {_when(old_due)} by {_when(o.due)} for every student")
    if o.late_policy is not None and old_policy is not None and o.late_policy != old_policy:
        notes.append(f"--late-penalty replaces the stored late policy {old_policy} by {o.late_policy} for every "
                     "student")
    if o.due is None and old_due is not None:
        notes.append(f"due date {_when(old_due)} and late policy {policy} as stored with the assignment "
                     "(--due/--late-penalty replace them)")
    return due, policy, notes


def reuse_stored_times(subs: list[Submission], stored, sha) -> tuple[dict[str, str], list[str]]:
    """A submission with no evidence now (source ``none``) gets the submission time an earlier
    run established from the instructor's evidence and stored with the student's result
    (``stored``: ``{student_id: result}`` with ``submitted_at``, ``submitted_at_source`` and
    the notebook's ``sha256``), when its notebook is that same file (``sha(path)`` equal to the
    stored sha256); a changed notebook keeps no time. Evidence given now always wins (it was
    set by :func:`assign_submission_times`). Returns ``({student_id: note for the student's
    result}, notes for the terminal)``."""
    reused, changed, student_notes = [], [], {}
    for sub in subs:
        old = stored.get(sub.student_id)
        if sub.submitted_at is not None or sub.path is None or sub.missing or old is None:
            continue
        source = old.submitted_at_source or TimeSource.NONE
        if source not in TIME_SOURCES or source == TimeSource.NONE or not old.submitted_at or not old.sha256:
            continue
        try:
            when = parse_when(old.submitted_at)
        except (ValueError, OverflowError):
            continue
        if sha(sub.path) == old.sha256:
            sub.submitted_at, sub.submitted_at_source = when, TimeSource(source)
            reused.append(sub.student_id)
        else:
            student_notes[sub.student_id] = (f"the notebook changed since an earlier run dated it {_when(when)} "
                                             f"({source}): that time is not reused")
            changed.append(sub.student_id)

    def names(ids):
        return ", ".join(repr(visible(i)) for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
    notes = []
    if reused:
        notes.append(f"{len(reused)} student(s) without a submission time in this run keep the one an earlier run "
                     f"stored (same notebook): {names(reused)}")
    if changed:
        notes.append(f"{len(changed)} student(s) changed their notebook since an earlier run dated it: that time is "
                     f"not reused (give their new time with --submitted-at): {names(changed)}")
    return student_notes, notes
