"""Batch grading: find the submissions, grade them in parallel, write every output.

Accepted layouts of ``SUBMISSIONS`` (a folder, or a ``.zip`` of one):

* ``<student_id>/<notebook>.ipynb``
* nbgrader's ``submitted/<student_id>/<assignment>/<notebook>.ipynb`` (with or without
  the ``submitted/`` level), a single wrapping folder (as zips often have) is looked through.

Outputs in ``out_dir``: ``students/<folder>/results.json`` and ``feedback.html`` (``<folder>``:
:func:`autograder.results.safe_dirname` of the student id, collision-free; a batch where two
students would share one stops before grading), written (atomically) as soon as that student
is graded, so no student id can collide with the batch's own files and an interrupted run
loses nothing; then ``grades.csv`` (``student_id, assignment, score, max_score, status, ...,
submitted_at, submitted_at_source``, sorted by student id), ``report.html`` and
``score_histogram.png``, rebuilt from every ``results.json`` on disk (a regrade of some
students merges into the rest).

Lateness comes only from evidence the instructor's side produced (see ``TIME_SOURCES``):
``--submitted-at``, nbgrader's ``submitted/<id>/<assignment>/timestamp.txt`` on disk, or the
date of the notebook's entry in the zip; never from a ``timestamp.txt`` the student could have
handed in nor from a file's modification time.
``resume=True`` skips students whose results were made from the same notebook bytes (sha256)
and the same assignment version. A student folder without a notebook, with several notebooks
none of which has the assignment's name, or given as a symbolic link gets an ``invalid`` row;
nothing stops the batch. Submission files are only ever read.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from autograder import __version__
from autograder.assignment import points_of
from autograder.options import GradingOptions
from autograder.results import (ERROR, GRADED, INVALID, MISSING, SubmissionResult, apply_scores, late_penalty_fn,
                                safe_dirname)
from autograder.text import fmt_num, safe_cell, visible
from autograder.roster import norm_header, read_csv
from autograder.isolation.templates import close_templates
from autograder.store import (STUDENTS_DIR, ResultStore, atomic_write, judge_lateness, read_policy, stored_student_id,
                              student_dir, write_policy)

# Zip extraction caps.
MAX_ZIP_MEMBERS = 20_000
MAX_MEMBER_BYTES = 64 * 2**20        # one file
MAX_TOTAL_BYTES = 2 * 2**30          # everything
MAX_RATIO = 200                      # uncompressed / compressed, per member

_SKIP_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "auto_score", "manual_score",
               "needs_manual_grading", "late", "late_by", "late_penalty", "submitted_at", "submitted_at_source",
               "comments")


class BatchError(ValueError):
    """A usage error: the submissions cannot be found or read at all."""


@dataclass
class Submission:
    """One student's hand-in: the notebook to grade, or why there is none."""

    student_id: str
    path: Path | None = None
    problem: str = ""                     # set when there is nothing gradable (-> invalid)
    notes: list[str] = field(default_factory=list)
    missing: bool = False                 # nbgrader layout: the student submitted other work, not this
    submitted_at: datetime | None = None  # aware UTC
    submitted_at_source: str = "none"     # one of TIME_SOURCES (see assign_submission_times)


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

TIME_SOURCES = ("submitted-at-file", "nbgrader-timestamp", "zip-entry-time", "none")
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


def _zip_utc_time(extra: bytes) -> datetime | None:
    """The UTC modification time of Info-ZIP's extended timestamp extra field (0x5455), if any."""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            try:
                return datetime.fromtimestamp(struct.unpack_from("<i", body, 1)[0], tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                return None
        i += 4 + size
    return None


def zip_entry_time(entry: tuple, tz=timezone.utc) -> datetime | None:
    """When a zip entry was dated, aware UTC: ``entry`` is ``(date_time, UTC time or None)`` as
    :func:`safe_extract` records it; None for the zip format's "no date" (1980-01-01 00:00)."""
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
    was extracted; ``zip_times``: what :func:`safe_extract` recorded)."""
    given = given or {}
    for sub in subs:
        when, source = given.get(sub.student_id), "submitted-at-file"
        if when is None and sub.path is not None:
            if zip_root is None:
                when, source = _nbgrader_stamp(sub, assignment), "nbgrader-timestamp"
            else:
                try:
                    key = sub.path.resolve().relative_to(zip_root.resolve()).as_posix()
                except (ValueError, OSError):
                    key = None
                entry = (zip_times or {}).get(key)
                when, source = (zip_entry_time(entry, zip_tz) if entry else None), "zip-entry-time"
        sub.submitted_at, sub.submitted_at_source = (when, source) if when is not None else (None, "none")


# ---------------------------------------------------------------- zips


def safe_extract(zip_path: Path | str, dest: Path | str, times: dict | None = None) -> list[str]:
    """Extract ``zip_path`` into ``dest`` refusing path traversal, links and zip bombs.

    Returns the warnings about members that were skipped. Raises :class:`BatchError` when the
    file is not a zip or exceeds the caps as a whole. ``times``: filled with each extracted
    file's entry date, ``{path relative to dest (posix): (date_time, UTC time or None)}`` (see
    :func:`zip_entry_time`): the extracted files' own times are those of the extraction."""
    zip_path, dest = Path(zip_path), Path(dest)
    warnings: list[str] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BatchError(f"SUBMISSIONS={str(zip_path)!r} is not a readable zip file ({exc}).") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise BatchError(f"{zip_path.name} has {len(members)} entries; at most {MAX_ZIP_MEMBERS} are accepted.")
        total = 0
        root = dest.resolve()
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            mode = info.external_attr >> 16
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                warnings.append(f"skipped {info.filename!r}: unsafe path")
                continue
            if stat.S_ISLNK(mode):
                warnings.append(f"skipped {info.filename!r}: symbolic link")
                continue
            if info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                warnings.append(f"skipped {info.filename!r}: {info.file_size} bytes (limit {MAX_MEMBER_BYTES})")
                continue
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 2**20:
                warnings.append(f"skipped {info.filename!r}: compression ratio too high (zip bomb?)")
                continue
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise BatchError(f"{zip_path.name} unpacks to more than {MAX_TOTAL_BYTES} bytes.")
            target = (dest / Path(*parts)).resolve()
            if root not in target.parents:
                warnings.append(f"skipped {info.filename!r}: unsafe path")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > MAX_MEMBER_BYTES:
                        break
                    out.write(chunk)
            if written > MAX_MEMBER_BYTES:
                target.unlink()
                warnings.append(f"skipped {info.filename!r}: larger than declared")
            elif times is not None:
                times[target.relative_to(root).as_posix()] = (tuple(info.date_time), _zip_utc_time(info.extra))
    return warnings


# ---------------------------------------------------------------- finding submissions


def _visible_dirs(folder: Path) -> list[Path]:
    """Student folders: every folder (dot-named ones too) and every symbolic link (reported as
    invalid, never followed), except tool litter such as ``__MACOSX``."""
    return sorted(p for p in folder.iterdir() if (p.is_symlink() or p.is_dir()) and p.name not in _SKIP_DIRS)


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".ipynb" and not p.name.startswith(".")
                  and (p.is_symlink() or p.is_file()))


def _is_student_dir(folder: Path, assignment: str) -> bool:
    return bool(_notebooks(folder)) or (folder / assignment).is_dir()


def find_submissions(root: Path | str, assignment: str, notebook_name: str) -> list[Submission]:
    """The submissions under ``root`` (see the module docstring), sorted by student id."""
    root = Path(root)
    if not root.is_dir():
        raise BatchError(f"SUBMISSIONS={str(root)!r} is neither a folder nor a .zip file.")
    if (root / "submitted").is_dir():
        root = root / "submitted"
    # Look through wrapping folders: a single folder that is not itself a student's.
    while True:
        dirs = _visible_dirs(root)
        if len(dirs) == 1 and not _notebooks(root) and not _is_student_dir(dirs[0], assignment) \
                and any(_is_student_dir(d, assignment) for d in _visible_dirs(dirs[0])):
            root = dirs[0]
            if (root / "submitted").is_dir():
                root = root / "submitted"
            continue
        break
    subs = []
    for folder in _visible_dirs(root):
        sid = folder.name
        if folder.is_symlink():
            subs.append(Submission(sid, None, f"{sid} is a symbolic link; links are not followed: hand in the "
                                              "notebook itself."))
            continue
        where = folder / assignment if (folder / assignment).is_dir() else folder
        if where.is_symlink():
            subs.append(Submission(sid, None, f"{sid}/{assignment} is a symbolic link; links are not followed."))
            continue
        nbs = _notebooks(where)
        links = [p for p in nbs if p.is_symlink()]
        if links:
            subs.append(Submission(sid, None, f"{', '.join(p.name for p in links)} is a symbolic link; links are "
                                              "not followed: hand in the notebook itself."))
            continue
        shown = where.relative_to(root).as_posix() + "/"
        if not nbs and where == folder and any(p.is_dir() for p in folder.iterdir()):
            subs.append(Submission(sid, None, f"nothing submitted for {assignment}", missing=True))
        elif not nbs:
            subs.append(Submission(sid, None, f"no notebook found in {shown}; expected {notebook_name}."))
        elif any(p.name == notebook_name for p in nbs):
            sub = Submission(sid, where / notebook_name)
            others = [p.name for p in nbs if p.name != notebook_name]
            if others:
                sub.notes.append(f"ignored other notebooks: {', '.join(others)}")
            subs.append(sub)
        elif len(nbs) == 1:
            sub = Submission(sid, nbs[0])
            sub.notes.append(f"graded {nbs[0].name} (expected the name {notebook_name})")
            subs.append(sub)
        else:
            subs.append(Submission(
                sid, None,
                f"{len(nbs)} notebooks in {shown} ({', '.join(p.name for p in nbs)}) and none is named "
                f"{notebook_name}: hand in exactly one notebook."))
    return subs


# ---------------------------------------------------------------- grading


def _sha256(path: Path | None) -> str:
    if path is None or path.is_symlink() or not path.is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def invalid_result(assignment, sub: Submission, message: str, *, status: str = INVALID) -> SubmissionResult:
    """An ungraded row: ``invalid`` (the submission cannot be graded as handed in) or, with
    ``status=ERROR``, not graded through no fault of the student (see :func:`internal_error_result`)."""
    return SubmissionResult(
        student_id=sub.student_id, assignment=assignment.name, status=status, score=0.0,
        max_score=points_of(assignment.tests), tests=[], message=message, sha256=_sha256(sub.path),
        grader_version=__version__, notebook=sub.path.name if sub.path else "",
        assignment_version=getattr(assignment, "version", ""),
    )


def internal_error_result(assignment, sub: Submission, exc: BaseException, where: str = "") -> SubmissionResult:
    """The row of a submission the grader itself failed on: ``error`` (the student is told it is
    not their notebook; ``--resume`` grades it again), never ``invalid``."""
    return invalid_result(assignment, sub, f"internal grader error{where} ({type(exc).__name__}: {exc}): this is "
                          "not a problem with your notebook; tell your instructor.", status=ERROR)


def settle(assignment, sub: Submission) -> SubmissionResult | None:
    """The result of a submission that needs no grading, by the rules every fan-out applies
    (the thread pool and Dask alike): a student who handed in other work only is ``missing``,
    one with nothing gradable ``invalid``; None when ``sub`` is to be graded."""
    if sub.missing:
        return missing_result(assignment, sub.student_id)
    if sub.path is None:
        return invalid_result(assignment, sub, sub.problem)
    return None


def grade_one(assignment, sub: Submission, *, grade_fn=None, insecure: bool = False, limits: dict | None = None,
              seed: int = 0, hide=()) -> SubmissionResult:
    """Grade one submission as a batch does (its notes appended, never raising); both fan-outs
    (the thread pool here, a Dask worker in :mod:`autograder.distributed`) call this."""
    settled = settle(assignment, sub)
    if settled is not None:
        return settled
    extra = {"hide": list(hide)} if hide else {}
    if grade_fn is None:
        from autograder.engine import grade_notebook as grade_fn
    t0 = time.perf_counter()
    try:
        res = grade_fn(assignment, sub.path, sub.student_id, insecure=insecure, limits=limits, seed=seed, **extra)
    except Exception as exc:  # the engine should never raise; keep the batch going if it does
        res = internal_error_result(assignment, sub, exc)
    res.durations.setdefault("batch_wall_s", round(time.perf_counter() - t0, 3))
    res.assignment_version = getattr(assignment, "version", "")
    if sub.notes:
        res.message = "; ".join(filter(None, [res.message] + sub.notes))
    return res


class ThreadRunner:
    """The fan-out on this machine: a pool of ``workers`` threads, each grading one submission
    in its own sandbox. Every runner (this one, :class:`autograder.distributed.DaskRunner`)
    has ``grade_all(assignment, subs, options, on_result)`` and settles the submissions that
    need no grading with :func:`settle`, so both apply the same missing/invalid rules."""

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def grade_all(self, assignment, subs: list[Submission], options: GradingOptions | None = None,
                  on_result=None) -> list[SubmissionResult]:
        o = options or GradingOptions()
        workers = max(1, int(self.workers or o.workers or os.cpu_count() or 1))
        results: dict[str, SubmissionResult] = {}

        def one(sub: Submission) -> SubmissionResult:
            return grade_one(assignment, sub, grade_fn=o.grade_fn, insecure=o.insecure, limits=o.limits,
                             seed=o.seed, hide=o.hide)

        bar = None
        if o.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(subs), desc=f"grading {assignment.name}", unit="sub", dynamic_ncols=True)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as pool:
                futures = {pool.submit(one, s): s for s in subs}
                for fut in as_completed(futures):
                    res = fut.result()
                    results[futures[fut].student_id] = res
                    if on_result is not None:
                        on_result(res)
                    if bar is not None:
                        bar.set_postfix_str(f"{visible(res.student_id)[:40]}: {fmt_num(res.score)}/"
                                            f"{fmt_num(res.max_score)}", refresh=False)
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            close_templates()        # a template holds its imports (1 GB for TensorFlow) until closed
        return [results[k] for k in sorted(results)]


def grade_all(assignment, subs: list[Submission], *, workers: int | None = None, insecure: bool = False,
              limits: dict | None = None, seed: int = 0, progress: bool = True, grade_fn=None,
              hide=(), on_result=None, runner=None) -> list[SubmissionResult]:
    """Grade ``subs`` (results sorted by student id) with ``runner`` (default: a
    :class:`ThreadRunner` of ``workers`` threads); ``on_result(result)`` is called in this
    thread as each result arrives. ``grade_fn`` defaults to the engine (tests pass a fake);
    ``hide``: paths the sandbox must not see."""
    o = GradingOptions(workers=workers, insecure=insecure, limits=limits, seed=seed, progress=progress,
                       grade_fn=grade_fn, hide=list(hide))
    return (runner or ThreadRunner(workers)).grade_all(assignment, subs, o, on_result)


# ---------------------------------------------------------------- outputs


def grades_csv_text(results: list[SubmissionResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in sorted(results, key=lambda r: r.student_id):
        w.writerow([safe_cell(r.student_id), safe_cell(r.assignment), fmt_num(r.score), fmt_num(r.max_score),
                    safe_cell(r.status), fmt_num(r.auto_score),
                    "" if r.manual_score is None else fmt_num(r.manual_score),
                    "yes" if r.needs_manual_grading else "", "yes" if r.late else "",
                    _late_by(r.late_by_s) if r.late else "", fmt_num(r.late_penalty) if r.late else "",
                    safe_cell(r.submitted_at), safe_cell(r.submitted_at_source or "none"),
                    safe_cell(" | ".join(f"{k}: {v}" for k, v in sorted((r.comments or {}).items())))])
    return buf.getvalue()


def _late_by(seconds: float) -> str:
    """``3:07:00`` (hours:minutes:seconds) as nbgrader and spreadsheets read durations."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_summary(assignment, out_dir: Path | str, *, invalid_notes=None, problems=None, store=None,
                  off_roster=()) -> dict:
    """Write grades.csv, report.html and the histogram from ``store`` (a
    :class:`autograder.store.ResultStore`; default: the results stored in ``out_dir``, students
    graded earlier included); return their paths and the results."""
    from autograder import report

    out_dir = Path(out_dir)
    problems = [] if problems is None else problems
    if store is None:
        store = ResultStore(assignment, out_dir, problems=problems)
    else:
        problems.extend(p for p in store.problems if p not in problems)
    results = store.results()
    paths = {"grades": out_dir / "grades.csv", "report": out_dir / "report.html",
             "histogram": out_dir / "score_histogram.png",
             "students": {r.student_id: student_dir(out_dir, r.student_id) for r in results}, "results": results}
    atomic_write(paths["grades"], grades_csv_text(results))
    full = max([float(r.max_score) for r in results] + [points_of(assignment.tests)])
    png = report.histogram_png([r.score for r in results if r.status != MISSING], full, title=assignment.name)
    atomic_write(paths["histogram"], png)
    notes = list(invalid_notes or []) + [f"not read: {p}" for p in problems]
    atomic_write(paths["report"], report.report_html(results, assignment, png, notes=notes,
                                                     off_roster=list(off_roster)))
    return paths


def _done_before(assignment, sub: Submission, store) -> SubmissionResult | None:
    """The stored result of ``sub`` when it was graded from the same bytes and tests."""
    old = store.get(sub.student_id)
    if old is None or old.status in (ERROR, MISSING):
        return None
    if old.assignment_version != getattr(assignment, "version", "") or old.sha256 != _sha256(sub.path):
        return None
    return old


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


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


MAX_NOTEBOOK_BYTES = MAX_MEMBER_BYTES


def blank_answers(assignment, path: Path | None) -> list[str]:
    """The hand-graded answers of the notebook at ``path`` left as released (the stub
    ``YOUR ANSWER HERE``, or nothing): nbgrader's autograde scores those 0 without a grader.
    The file is read bounded and parsed as plain JSON; anything unreadable gives ``[]``."""
    from autograder.cells import CODE_STUB, TEXT_STUB

    ids = {m.grade_id for m in getattr(assignment, "manual", [])}
    if not ids or path is None:
        return []
    try:
        if path.is_symlink() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return []
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    stubs = {"", TEXT_STUB.strip(), CODE_STUB.strip()}
    out = []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
        if not isinstance(gid, str) or gid not in ids or gid in out:
            continue
        src = cell.get("source", "")
        src = "".join(x for x in src if isinstance(x, str)) if isinstance(src, list) else src
        if isinstance(src, str) and src.strip() in stubs:
            out.append(gid)
    return sorted(out)


class Finisher:
    """Makes each fresh result final before it is written: the submission time and lateness,
    the answers left blank, the scores and comments entered by hand (read from the gradebook),
    the late policy."""

    def __init__(self, assignment, subs: list[Submission], *, due: datetime | None, late_policy: str | None,
                 entered: dict):
        self.assignment = assignment
        self.by_id = {s.student_id: s for s in subs}
        self.due = due
        self.policy = late_policy or "none"
        self.fn = late_penalty_fn(self.policy)
        self.entered = entered

    def __call__(self, r: SubmissionResult) -> SubmissionResult:
        sub = self.by_id.get(r.student_id)
        when = sub.submitted_at if sub is not None else None
        r.submitted_at = when.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") if when else ""
        r.submitted_at_source = sub.submitted_at_source if (sub is not None and when) else "none"
        judge_lateness(r, self.due, self.policy)   # a resumed result is judged again on today's evidence
        if when is None and self.due is not None and r.status != MISSING and NO_TIME_NOTE not in r.message:
            r.message = "; ".join(filter(None, [r.message, NO_TIME_NOTE]))
        if r.status == GRADED and sub is not None:
            r.blank_answers = blank_answers(self.assignment, sub.path)
        adj = self.entered.get(r.student_id, {})
        return apply_scores(r, getattr(self.assignment, "manual", []), adj.get("manual", {}),
                            self.fn if r.late else None, comments=adj.get("comments", {}))


def _case_insensitive(folder: Path) -> bool:
    """Whether ``folder``'s file system folds case (macOS, Windows): ``Ann`` and ``ann`` would share."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-CaseProbe-", dir=folder)
        os.close(fd)
    except OSError:
        return False
    try:
        return os.path.exists(os.path.join(folder, os.path.basename(probe).lower()))
    finally:
        os.unlink(probe)


def check_folder_names(student_ids, out_dir: Path | str | None = None) -> None:
    """Fail loudly (BatchError naming both ids) when two students would share an output folder:
    two ids with the same :func:`safe_dirname` (case folded where the file system folds case),
    or a folder in ``out_dir`` already holding the results of another student (outputs written
    by an older version, whose folder names were not collision-free)."""
    import unicodedata


    fold = out_dir is not None and Path(out_dir).is_dir() and _case_insensitive(Path(out_dir))
    seen: dict[str, str] = {}
    for sid in student_ids:
        name = safe_dirname(sid)
        key = unicodedata.normalize("NFC", name).casefold() if fold else name
        other = seen.setdefault(key, sid)
        if other != sid:
            raise BatchError(f"student ids {visible(repr(other))} and {visible(repr(sid))} would share the output "
                             f"folder {visible(name)!r}: rename one of the submission folders.")
    if out_dir is None:
        return
    for sid in student_ids:
        path = student_dir(out_dir, sid) / "results.json"
        stored = stored_student_id(path)            # whose folder it is, even in a damaged file
        if isinstance(stored, str) and stored != sid:
            raise BatchError(f"{path.parent} holds the results of student {visible(repr(stored))}, not of "
                             f"{visible(repr(sid))} (written by an older cnn-course, whose folder names could "
                             "collide): grade into a new --out folder.")


def missing_result(assignment, student_id: str) -> SubmissionResult:
    r = SubmissionResult(student_id=student_id, assignment=assignment.name, status=MISSING, score=0.0,
                         max_score=points_of(assignment.tests), message="nothing submitted", grader_version=__version__,
                         assignment_version=getattr(assignment, "version", ""), submitted_at_source="none")
    return apply_scores(r, getattr(assignment, "manual", []))


def stale_students(assignment, out_dir: Path | str) -> list[str]:
    """Students whose stored results were made with another version of the tests."""

    return ResultStore(assignment, out_dir).stale()


def grade_folder(assignment, submissions: Path | str, out_dir: Path | str, options: GradingOptions | None = None,
                 **kw) -> tuple[list[SubmissionResult], dict]:
    """Find, grade and write everything for one batch; return ``(results, output paths)``.

    ``options``: a :class:`autograder.options.GradingOptions`; keyword arguments set its fields
    (``workers``, ``insecure``, ``db_url``, ``roster``, ``due``, ``late_policy``...; see there).
    ``results`` are this batch's students (resumed ones included); the summary files cover
    every student under ``out_dir``, all computed from one :class:`autograder.store.ResultStore`
    made current with the gradebook's scores and comments. The due date and the late policy
    are stored with the assignment (``out_dir/assignment.json`` and the gradebook's due date)
    and reused by every later run; an explicit ``due``/``late_policy`` replaces them (noted).
    A download from an LMS (Canvas, Moodle, Blackboard: :mod:`autograder.lms`) is read as its
    students' folders; ``roster_rows`` map the LMS's ids to student ids.
    """
    from autograder import lms

    o = GradingOptions.build(options, **kw)
    if o.late_policy is not None:
        try:
            late_penalty_fn(o.late_policy)    # a bad policy is a usage error, before any grading
        except ValueError as exc:
            raise BatchError(f"--late-penalty: {exc}") from None
    submissions, out_dir = Path(submissions), Path(out_dir)
    if not submissions.exists():
        raise BatchError(f"SUBMISSIONS={str(submissions)!r} does not exist.")
    if submissions.is_dir() and _inside(out_dir, submissions):
        raise BatchError(f"--out {out_dir} is inside SUBMISSIONS {submissions}: choose an output folder elsewhere.")
    zone = parse_zone(o.zip_tz)
    given, time_notes = read_submitted_at(o.submitted_at) if o.submitted_at else ({}, [])
    notes: list[str] = list(time_notes)
    zip_times: dict = {}
    tmps: list[Path] = []
    try:
        zip_root = None
        if submissions.is_file():
            zip_root = Path(tempfile.mkdtemp(prefix="cnn-course-subs-"))
            tmps.append(zip_root)
            notes += safe_extract(submissions, zip_root, zip_times)
            root = zip_root
        else:
            root = submissions
        notebook_name = getattr(assignment, "notebook_name", None) or f"{assignment.name}.ipynb"
        arranged = lms.arrange(root, notebook_name, roster_rows=o.roster_rows or [],
                               roster_ids=set(o.roster or []))
        if arranged is not None:
            tmps.append(arranged.root)
            notes += arranged.notes
            time_notes += arranged.notes
            if zip_root is not None:
                zip_times = {new: zip_times[old] for new, old in arranged.origin.items() if old in zip_times}
                zip_root = arranged.root
            root = arranged.root
        if zip_root is not None and root == zip_root and _notebooks(root) and not _visible_dirs(root):
            raise BatchError(
                f"{submissions.name}: its notebooks ({', '.join(visible(p.name) for p in _notebooks(root)[:3])}"
                f"{' ...' if len(_notebooks(root)) > 3 else ''}) lie side by side with no student folder, and their "
                "names are not those of a Canvas, Moodle or Blackboard download: expected <student_id>/"
                f"{notebook_name} folders (docs/instructor-guide.md, LMS downloads).")
        if _notebooks(root) and not _visible_dirs(root):   # SUBMISSIONS is one student's folder (bob/)
            subs = find_submissions(root.parent, assignment.name, notebook_name)
            subs = [s for s in subs if s.student_id == root.name]
        else:
            subs = find_submissions(root, assignment.name, notebook_name)
        if not subs:
            raise BatchError(
                f"no student folders found in {submissions}: expected <student_id>/{notebook_name} "
                f"or submitted/<student_id>/{assignment.name}/{notebook_name}.")
        out_dir.mkdir(parents=True, exist_ok=True)
        assign_submission_times(subs, assignment.name, given=given, zip_root=zip_root, zip_times=zip_times,
                                zip_tz=zone)
        everyone = {s.student_id for s in subs}
        unknown_times = sorted(set(given) - everyone)
        if unknown_times:
            time_notes.append(f"--submitted-at: {len(unknown_times)} student id(s) without a submission here: "
                              + ", ".join(repr(visible(i)) for i in unknown_times[:20])
                              + (" ..." if len(unknown_times) > 20 else ""))
            notes.append(time_notes[-1])
        if o.students:
            unknown = sorted(set(o.students) - everyone)
            if unknown:
                raise BatchError(f"--student {', '.join(unknown)}: no submission in {submissions} "
                                 f"(found {len(everyone)} students).")
            subs = [s for s in subs if s.student_id in set(o.students)]
        store = ResultStore(assignment, out_dir)
        if o.regrade_stale:
            stale = set(store.stale())
            subs = [s for s in subs if s.student_id in stale]
            notes.append(f"--regrade-stale: {len(subs)} student(s) graded with an older version were graded again")
        entered, expected = {}, set(o.roster or [])
        gb_due = None
        if o.db_url:
            from autograder import gradebook as nbgb

            entered = nbgb.manual_scores(o.db_url, assignment.name)
            expected |= set(nbgb.roster(o.db_url))
            gb_due = nbgb.duedate(o.db_url, assignment.name)
        due, policy, policy_notes = _lateness_rules(o, read_policy(out_dir), gb_due)
        notes += policy_notes
        time_notes += policy_notes
        if o.due is not None or o.late_policy is not None or (out_dir / "assignment.json").exists() \
                or due is not None:
            write_policy(out_dir, assignment.name, due, policy)
        if o.db_url and due is not None and due != gb_due:
            from autograder import gradebook as nbgb

            nbgb.set_duedate(o.db_url, assignment.name, due)
        finish = Finisher(assignment, subs, due=due, late_policy=policy, entered=entered)
        check_folder_names(sorted(everyone | expected), out_dir)
        # Off the roster: the roster CSV is the word on who is in the class (the gradebook's students
        # include everyone graded into it); without one, the gradebook's students before this run.
        on_roster = set(o.roster) if o.roster else expected
        new_off = sorted(everyone - on_roster) if on_roster else []
        if new_off:
            time_notes.append(f"{len(new_off)} student(s) handed in but are not on the roster"
                              + (" nor in the gradebook" if o.db_url else "") + ": "
                              + ", ".join(repr(visible(i)) for i in new_off[:20])
                              + (" ..." if len(new_off) > 20 else ""))

        def on_result(r):
            finish(r)
            store.put(r)
            if o.autograded_root is not None and r.status == GRADED:
                sub = finish.by_id.get(r.student_id)
                if sub is not None and sub.path is not None:
                    write_autograded(assignment, sub.path, Path(o.autograded_root), r.student_id, result=r)
        kept: list[SubmissionResult] = []
        if o.resume:
            todo = []
            for sub in subs:
                old = _done_before(assignment, sub, store)
                if old is not None:
                    finish(old)               # today's evidence of lateness, scores entered by hand
                    store.put(old)
                (kept if old is not None else todo).append(old if old is not None else sub)
            if kept:
                notes.append(f"--resume: {len(kept)} student(s) already graded from the same notebook and tests "
                             "were not graded again")
            subs = todo
        if o.grade_fn is None and o.runner is None:   # every import grading needs, before the pool's threads start
            from autograder.grader_process import prepare_grader
            prepare_grader(assignment, o.limits)
        o = GradingOptions.build(o, hide=[*o.hide, str(out_dir.resolve())])
        runner = o.runner or ThreadRunner(o.workers)
        results = runner.grade_all(assignment, subs, o, on_result)
        # On the roster, nothing submitted, never graded: `missing` (not in the class statistics).
        missing = [missing_result(assignment, sid) for sid in store.missing(expected - everyone)]
        for r in missing:
            store.put(r)
        results = sorted(results + kept + missing, key=lambda r: r.student_id)
        # The current truth for everyone held (graded earlier included): the gradebook's scores and
        # comments, the assignment's due date and policy.
        store.refresh(entered, due=due, policy=policy)
        # Everyone graded into this folder who is neither on the roster nor in the gradebook.
        off_roster = sorted(r.student_id for r in store.results() if r.status != MISSING
                            and r.student_id not in on_roster) if on_roster else []
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
    paths = write_summary(assignment, out_dir, invalid_notes=notes, store=store, off_roster=off_roster)
    paths["resumed"] = len(kept)
    paths["time_notes"] = time_notes
    paths["off_roster"] = off_roster
    paths["due"], paths["late_policy"] = due, policy
    paths["stale"] = [] if o.regrade_stale else store.stale()
    if o.db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = o.db_url
        paths["gradebook_notes"] = record_results(assignment, paths["results"], o.db_url)
    return results, paths


def _when(d: datetime | None) -> str:
    return d.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if d is not None else "none"


def _lateness_rules(o: GradingOptions, stored: dict, gb_due: datetime | None) -> tuple:
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


def write_autograded(assignment, submitted: Path, root: Path, student_id: str,
                     result: SubmissionResult | None = None) -> Path | None:
    """nbgrader's autograded notebook of one student (what formgrader shows for hand grading):
    the submitted notebook with every test cell replaced by the instructor's, by grade_id, and
    cleared of outputs, attachments, metadata and live HTML (:func:`autograder.gradebook.
    clean_submitted_notebook`: formgrader renders it in the instructor's session).
    Written to ``root/<student>/<assignment>/<notebook>``; None when it cannot be read."""
    import nbformat

    from autograder.cells import nbgrader_of
    from autograder.gradebook import clean_submitted_notebook

    source_path = getattr(assignment, "path", None)
    if source_path is None or getattr(assignment, "released", False) or safe_dirname(student_id) != student_id:
        return None
    try:
        nb = nbformat.read(str(submitted), as_version=4)
        src = nbformat.read(str(source_path), as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no autograded version
        return None
    tests = {nbgrader_of(c).get("grade_id"): c for c in src.cells
             if nbgrader_of(c).get("grade") and not nbgrader_of(c).get("solution")}
    for i, cell in enumerate(nb.cells):
        gid = nbgrader_of(cell).get("grade_id")
        if gid in tests:
            nb.cells[i] = nbformat.from_dict(dict(tests[gid]))
    clean_submitted_notebook(nb, src)     # nothing of the submission runs in formgrader's page
    if result is not None:
        test_outputs(nb, result)
    out = root / student_id / assignment.name / Path(getattr(assignment, "notebook_name", "") or
                                                     f"{assignment.name}.ipynb").name
    atomic_write(out, nbformat.writes(nb))
    return out


def test_outputs(nb, result: SubmissionResult) -> None:
    """Each test cell of the autograded notebook ``nb`` gets its test's message as its output,
    as nbgrader's autograde leaves the cell's output: a failed test an ``error`` output (plain
    text, no traceback frames of the grader), a passed one nothing. The message is the stored,
    student-safe one (a hidden test's never holds its code or reference answers); text only,
    control characters written out (formgrader renders outputs as escaped text)."""
    import nbformat

    from autograder.cells import nbgrader_of
    from autograder.results import PASSED
    from autograder.text import safe_text

    by_id = {t.name: t for t in result.tests if t.status != "manual"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        t = by_id.get(nbgrader_of(cell).get("grade_id"))
        if t is None:
            continue
        cell.outputs = []
        if t.status != PASSED:
            text = visible(safe_text(t.message or t.status), keep_newlines=True)
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=f"Test{t.status.capitalize()}", evalue=text.split("\n", 1)[0][:500],
                traceback=[f"{t.status}: {fmt_num(t.points)} / {fmt_num(t.max_points)} points", text]))


def refresh_folder(assignment, out_dir: Path | str, db_url: str | None) -> dict:
    """``cnn-course report``: read the scores and comments entered by hand (formgrader) back
    from the gradebook into every stored result of ``out_dir`` with the assignment's stored due
    date and late policy, rewrite each student's files that changed, record the final scores in
    the gradebook and rebuild the summary."""

    out_dir = Path(out_dir)
    if not (out_dir / STUDENTS_DIR).is_dir():
        raise BatchError(f"no graded results in {out_dir} (run `cnn-course grade` first, or pass --out DIR).")
    entered, gb_due = {}, None
    if db_url:
        from autograder import gradebook as nbgb

        entered = nbgb.manual_scores(db_url, assignment.name)
        gb_due = nbgb.duedate(db_url, assignment.name)
    stored = read_policy(out_dir)
    store = ResultStore(assignment, out_dir)
    if stored.get("late_policy") is not None or stored.get("due") is not None:
        changed = store.refresh(entered, due=stored.get("due") or gb_due, policy=stored.get("late_policy") or "none")
    else:
        changed = store.refresh(entered)
    paths = write_summary(assignment, out_dir, store=store)
    paths["changed"] = changed
    if db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = db_url
        paths["gradebook_notes"] = record_results(assignment, paths["results"], db_url)
    return paths
