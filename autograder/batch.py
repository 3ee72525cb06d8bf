"""Batch grading: find the submissions, grade them in parallel, write every output.

Accepted layouts of ``SUBMISSIONS`` (a folder, or a ``.zip`` of one):

* ``<student_id>/<notebook>.ipynb``
* nbgrader's ``submitted/<student_id>/<assignment>/<notebook>.ipynb`` (with or without
  the ``submitted/`` level), a single wrapping folder (as zips often have) is looked through.

Outputs in ``out_dir``: ``students/<student_id>/results.json`` and ``feedback.html``, written
(atomically) as soon as that student is graded, so no student id can collide with the batch's
own files and an interrupted run loses nothing; then ``grades.csv`` (``student_id, assignment,
score, max_score, status``, sorted by student id), ``report.html`` and ``score_histogram.png``,
rebuilt from every ``results.json`` on disk (a regrade of some students merges into the rest).
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
import shutil
import stat
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from autograder import __version__
from autograder.results import (ERROR, GRADED, INVALID, MISSING, SubmissionResult, apply_scores, fmt_num,
                                late_penalty_fn, safe_cell, safe_dirname)
from autograder.sandbox import close_templates

# Zip extraction caps.
MAX_ZIP_MEMBERS = 20_000
MAX_MEMBER_BYTES = 64 * 2**20        # one file
MAX_TOTAL_BYTES = 2 * 2**30          # everything
MAX_RATIO = 200                      # uncompressed / compressed, per member

_SKIP_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
STUDENTS_DIR = "students"            # out_dir/students/<student_id>/
CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "auto_score", "manual_score",
               "needs_manual_grading", "late", "late_by", "late_penalty")


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
    submitted_at_source: str = ""         # "timestamp.txt" | "file time"


def submission_time(folder: Path, notebook: Path | None) -> tuple[datetime | None, str]:
    """When a hand-in was submitted: nbgrader's ``timestamp.txt`` in its folder (UTC unless it
    names a zone), else the notebook file's modification time (said so)."""
    stamp = folder / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink() and stamp.stat().st_size < 200:
        try:
            from nbgrader.utils import parse_utc

            when = parse_utc(stamp.read_text(encoding="utf-8", errors="replace").strip())
            return when.replace(tzinfo=timezone.utc), "timestamp.txt"
        except Exception:  # noqa: BLE001 - an unreadable stamp falls back to the file's time
            pass
    if notebook is not None and notebook.is_file() and not notebook.is_symlink():
        return datetime.fromtimestamp(notebook.stat().st_mtime, tz=timezone.utc), "file time"
    return None, ""


# ---------------------------------------------------------------- zips


def safe_extract(zip_path: Path | str, dest: Path | str) -> list[str]:
    """Extract ``zip_path`` into ``dest`` refusing path traversal, links and zip bombs.

    Returns the warnings about members that were skipped. Raises :class:`BatchError` when the
    file is not a zip or exceeds the caps as a whole.
    """
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
            sub.submitted_at, sub.submitted_at_source = submission_time(where, sub.path)
            others = [p.name for p in nbs if p.name != notebook_name]
            if others:
                sub.notes.append(f"ignored other notebooks: {', '.join(others)}")
            subs.append(sub)
        elif len(nbs) == 1:
            sub = Submission(sid, nbs[0])
            sub.submitted_at, sub.submitted_at_source = submission_time(where, sub.path)
            sub.notes.append(f"graded {nbs[0].name} (expected the name {notebook_name})")
            subs.append(sub)
        else:
            subs.append(Submission(
                sid, None,
                f"{len(nbs)} notebooks in {shown} ({', '.join(p.name for p in nbs)}) and none is named "
                f"{notebook_name}: hand in exactly one notebook."))
    return subs


# ---------------------------------------------------------------- grading


def _max_score(assignment) -> float:
    return float(sum(t.points for t in assignment.tests))


def _sha256(path: Path | None) -> str:
    if path is None or path.is_symlink() or not path.is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def invalid_result(assignment, sub: Submission, message: str) -> SubmissionResult:
    return SubmissionResult(
        student_id=sub.student_id, assignment=assignment.name, status=INVALID, score=0.0,
        max_score=_max_score(assignment), tests=[], message=message, sha256=_sha256(sub.path),
        grader_version=__version__, notebook=sub.path.name if sub.path else "",
        assignment_version=getattr(assignment, "version", ""),
    )


def grade_one(assignment, sub: Submission, *, grade_fn=None, insecure: bool = False, limits: dict | None = None,
              seed: int = 0, hide=()) -> SubmissionResult:
    """Grade one submission as a batch does (its notes appended, never raising); both fan-outs
    (the thread pool here, a Dask worker in :mod:`autograder.distributed`) call this."""
    extra = {"hide": list(hide)} if hide else {}
    if grade_fn is None:
        from autograder.engine import grade_notebook as grade_fn
    if sub.missing:
        return missing_result(assignment, sub.student_id)
    if sub.path is None:
        return invalid_result(assignment, sub, sub.problem)
    t0 = time.perf_counter()
    try:
        res = grade_fn(assignment, sub.path, sub.student_id, insecure=insecure, limits=limits, seed=seed, **extra)
    except Exception as exc:  # the engine should never raise; keep the batch going if it does
        res = invalid_result(assignment, sub, f"internal grader error ({type(exc).__name__}: {exc}); please report it.")
    res.durations.setdefault("batch_wall_s", round(time.perf_counter() - t0, 3))
    res.assignment_version = getattr(assignment, "version", "")
    if sub.notes:
        res.message = "; ".join(filter(None, [res.message] + sub.notes))
    return res


def grade_all(assignment, subs: list[Submission], *, workers: int | None = None, insecure: bool = False,
              limits: dict | None = None, seed: int = 0, progress: bool = True, grade_fn=None,
              hide=(), on_result=None, runner=None) -> list[SubmissionResult]:
    """Grade ``subs`` with ``workers`` threads; results sorted by student id.

    ``grade_fn`` defaults to :func:`autograder.engine.grade_notebook` (tests pass a fake);
    ``hide``: paths the sandbox must not see (the output folder); ``on_result(result)`` is
    called (in this thread) as each student's result arrives, e.g. to write it to disk.
    ``runner``: another fan-out with a ``grade_all`` method taking the same keywords (but
    ``workers``), e.g. :class:`autograder.distributed.DaskRunner`; ``None``: the thread pool.
    """
    if runner is not None:
        return runner.grade_all(assignment, subs, insecure=insecure, limits=limits, seed=seed, progress=progress,
                                grade_fn=grade_fn, hide=hide, on_result=on_result)
    workers = max(1, int(workers or os.cpu_count() or 1))
    results: dict[str, SubmissionResult] = {}

    def one(sub: Submission) -> SubmissionResult:
        return grade_one(assignment, sub, grade_fn=grade_fn, insecure=insecure, limits=limits, seed=seed, hide=hide)

    bar = None
    if progress:
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
                    bar.set_postfix_str(f"{res.student_id}: {fmt_num(res.score)}/{fmt_num(res.max_score)}", refresh=False)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        close_templates()        # a template holds its imports (1 GB for TensorFlow) until closed
    return [results[k] for k in sorted(results)]


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
                    _late_by(r.late_by_s) if r.late else "", fmt_num(r.late_penalty) if r.late else ""])
    return buf.getvalue()


def _late_by(seconds: float) -> str:
    """``3:07:00`` (hours:minutes:seconds) as nbgrader and spreadsheets read durations."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def student_dir(out_dir: Path | str, student_id: str) -> Path:
    """Where one student's outputs live: ``out_dir/students/<safe folder name>/``."""
    return Path(out_dir) / STUDENTS_DIR / safe_dirname(student_id)


def write_student(assignment, result: SubmissionResult, out_dir: Path | str) -> Path:
    """Write one student's results.json and feedback.html (atomically); return the folder."""
    from autograder import report

    report.redact_hidden(result, assignment)
    d = student_dir(out_dir, result.student_id)
    text = json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"   # ASCII: surrogates escaped
    atomic_write(d / "feedback.html", report.feedback_html(result, assignment))
    atomic_write(d / "results.json", text)
    return d


def write_summary(assignment, out_dir: Path | str, *, invalid_notes=None, problems=None) -> dict:
    """Rebuild grades.csv, report.html and the histogram from every results.json under
    ``out_dir`` (students graded earlier included); return their paths and the results."""
    from autograder import report
    from autograder.export import load_results

    out_dir = Path(out_dir)
    problems = [] if problems is None else problems
    results = [r for r in load_results(out_dir, problems=problems) if r.assignment == assignment.name]
    paths = {"grades": out_dir / "grades.csv", "report": out_dir / "report.html",
             "histogram": out_dir / "score_histogram.png",
             "students": {r.student_id: student_dir(out_dir, r.student_id) for r in results}, "results": results}
    atomic_write(paths["grades"], grades_csv_text(results))
    png = report.histogram_png([r.score for r in results], _max_score(assignment), title=assignment.name)
    atomic_write(paths["histogram"], png)
    notes = list(invalid_notes or []) + [f"not read: {p}" for p in problems]
    atomic_write(paths["report"], report.report_html(results, assignment, png, notes=notes))
    return paths


def write_outputs(assignment, results: list[SubmissionResult], out_dir: Path | str, *, invalid_notes=None) -> dict:
    """Write each student's outputs, then the batch's (rebuilt from disk); return their paths."""
    for r in results:
        write_student(assignment, r, out_dir)
    return write_summary(assignment, out_dir, invalid_notes=invalid_notes)


def _done_before(assignment, sub: Submission, out_dir: Path) -> SubmissionResult | None:
    """The stored result of ``sub`` when it was graded from the same bytes and tests."""
    path = student_dir(out_dir, sub.student_id) / "results.json"
    try:
        if not path.is_file() or path.stat().st_size > 50 * 2**20:
            return None
        old = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    if old.status == ERROR or old.student_id != sub.student_id:
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


def read_roster(path: Path | str) -> list[str]:
    """Student ids from a roster CSV: the column ``student_id`` (or ``id``/``Student ID``)."""
    import csv as _csv

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BatchError(f"--roster {path}: cannot be read ({exc.strerror}).") from None
    rows = list(_csv.DictReader(io.StringIO(text)))
    keys = {k.strip().lower().replace(" ", "_"): k for k in (rows[0].keys() if rows else []) if k}
    col = next((keys[k] for k in ("student_id", "id", "username", "login") if k in keys), None)
    if col is None:
        raise BatchError(f"--roster {path}: expected a column student_id (found: {', '.join(keys) or 'none'}).")
    return sorted({r[col].strip() for r in rows if (r.get(col) or "").strip()})


class Finisher:
    """Makes each fresh result final before it is written: the submission time and lateness,
    the scores entered by hand (read from the gradebook), the late policy."""

    def __init__(self, assignment, subs: list[Submission], *, due: datetime | None, late_policy: str,
                 entered: dict):
        self.assignment = assignment
        self.by_id = {s.student_id: s for s in subs}
        self.due = due
        self.policy = late_policy or "none"
        self.fn = late_penalty_fn(self.policy)
        self.entered = entered

    def __call__(self, r: SubmissionResult) -> SubmissionResult:
        sub = self.by_id.get(r.student_id)
        if sub is not None and sub.submitted_at is not None:
            r.submitted_at = sub.submitted_at.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
            r.submitted_at_source = sub.submitted_at_source
            if sub.submitted_at_source == "file time" and self.due is not None:
                r.message = "; ".join(filter(None, [r.message, "no timestamp.txt: the submission time is the "
                                                               "notebook file's modification time"]))
            if self.due is not None and sub.submitted_at > self.due:
                r.late = True
                r.late_by_s = round((sub.submitted_at - self.due).total_seconds(), 3)
        r.late_policy = self.policy
        adj = self.entered.get(r.student_id, {})
        return apply_scores(r, getattr(self.assignment, "manual", []), adj.get("manual", {}),
                            self.fn if r.late else None)


def missing_result(assignment, student_id: str) -> SubmissionResult:
    r = SubmissionResult(student_id=student_id, assignment=assignment.name, status=MISSING, score=0.0,
                         max_score=_max_score(assignment), message="nothing submitted", grader_version=__version__,
                         assignment_version=getattr(assignment, "version", ""))
    return apply_scores(r, getattr(assignment, "manual", []))


def stale_students(assignment, out_dir: Path | str) -> list[str]:
    """Students whose stored results were made with another version of the tests."""
    from autograder.export import load_results

    out_dir = Path(out_dir)
    if not (out_dir / STUDENTS_DIR).is_dir():
        return []
    version = getattr(assignment, "version", "")
    return [r.student_id for r in load_results(out_dir, problems=[])
            if r.assignment == assignment.name and r.status != MISSING and r.assignment_version != version]


def grade_folder(assignment, submissions: Path | str, out_dir: Path | str, *, workers: int | None = None,
                 insecure: bool = False, limits: dict | None = None, seed: int = 0, progress: bool = True,
                 db_url: str | None = None, grade_fn=None, resume: bool = False,
                 runner=None, students=None, regrade_stale: bool = False, roster=None,
                 due: datetime | None = None, late_policy: str = "none",
                 autograded_root: Path | str | None = None) -> tuple[list[SubmissionResult], dict]:
    """Find, grade and write everything for one batch; return ``(results, output paths)``.

    ``results`` are this batch's students (resumed ones included); the summary files cover
    every student under ``out_dir``. ``db_url``: nbgrader gradebook to record the scores in
    (``None``: skip). ``resume``: do not grade again students whose stored results match.
    ``runner``: the fan-out (see :func:`grade_all`; ``None``: a thread pool of ``workers``).
    ``students``: grade only these ids (merged into the existing outputs); ``regrade_stale``:
    grade only the students graded with an older version of the tests. ``roster``: ids that
    should have submitted (with the gradebook's students): the others get status ``missing``.
    ``due``/``late_policy``: lateness (``none``, ``zero``, ``per-hour:P``); the due date
    defaults to the gradebook's. ``autograded_root``: write nbgrader's autograded notebooks
    there (``<root>/<student>/<assignment>/<notebook>``) so formgrader can open them.
    """
    try:
        late_penalty_fn(late_policy)    # a bad policy is a usage error, before any grading
    except ValueError as exc:
        raise BatchError(f"--late-penalty: {exc}") from None
    submissions, out_dir = Path(submissions), Path(out_dir)
    if not submissions.exists():
        raise BatchError(f"SUBMISSIONS={str(submissions)!r} does not exist.")
    if submissions.is_dir() and _inside(out_dir, submissions):
        raise BatchError(f"--out {out_dir} is inside SUBMISSIONS {submissions}: choose an output folder elsewhere.")
    notes: list[str] = []
    tmp = None
    try:
        if submissions.is_file():
            tmp = Path(tempfile.mkdtemp(prefix="cnn-course-subs-"))
            notes += safe_extract(submissions, tmp)
            root = tmp
        else:
            root = submissions
        notebook_name = getattr(assignment, "notebook_name", None) or f"{assignment.name}.ipynb"
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
        everyone = {s.student_id for s in subs}
        if students:
            unknown = sorted(set(students) - everyone)
            if unknown:
                raise BatchError(f"--student {', '.join(unknown)}: no submission in {submissions} "
                                 f"(found {len(everyone)} students).")
            subs = [s for s in subs if s.student_id in set(students)]
        if regrade_stale:
            stale = set(stale_students(assignment, out_dir))
            subs = [s for s in subs if s.student_id in stale]
            notes.append(f"--regrade-stale: {len(subs)} student(s) graded with an older version were graded again")
        entered, expected = {}, set(roster or [])
        if db_url:
            from autograder import gradebook as nbgb

            entered = nbgb.manual_scores(db_url, assignment.name)
            expected |= set(nbgb.roster(db_url))
            if due is None:
                due = nbgb.duedate(db_url, assignment.name)
        finish = Finisher(assignment, subs, due=due, late_policy=late_policy, entered=entered)

        def on_result(r):
            finish(r)
            write_student(assignment, r, out_dir)
            if autograded_root is not None and r.status == GRADED:
                sub = finish.by_id.get(r.student_id)
                if sub is not None and sub.path is not None:
                    write_autograded(assignment, sub.path, Path(autograded_root), r.student_id)
        kept: list[SubmissionResult] = []
        if resume:
            todo = []
            for sub in subs:
                old = _done_before(assignment, sub, out_dir)
                if old is not None:
                    adj = entered.get(old.student_id, {})
                    from autograder.results import refresh
                    refresh(old, adj.get("manual", {}))
                    write_student(assignment, old, out_dir)
                (kept if old is not None else todo).append(old if old is not None else sub)
            if kept:
                notes.append(f"--resume: {len(kept)} student(s) already graded from the same notebook and tests "
                             "were not graded again")
            subs = todo
        results = grade_all(assignment, subs, workers=workers, insecure=insecure, limits=limits, seed=seed,
                            progress=progress, grade_fn=grade_fn, hide=[str(out_dir.resolve())],
                            on_result=on_result, runner=runner)
        # On the roster, nothing submitted, never graded: `missing` (not in the class statistics).
        have = {p.parent.name for p in (out_dir / STUDENTS_DIR).glob("*/results.json")}
        missing = [missing_result(assignment, sid) for sid in sorted(expected - everyone)
                   if safe_dirname(sid) not in have or _stored_status(out_dir, sid) == MISSING]
        for r in missing:
            write_student(assignment, r, out_dir)
        results = sorted(results + kept + missing, key=lambda r: r.student_id)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    paths = write_summary(assignment, out_dir, invalid_notes=notes)
    paths["resumed"] = len(kept)
    paths["stale"] = [] if regrade_stale else stale_students(assignment, out_dir)
    if db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = db_url
        paths["gradebook_notes"] = record_results(assignment, paths["results"], db_url)
    return results, paths


def _stored_status(out_dir: Path, student_id: str) -> str:
    try:
        return json.loads((student_dir(out_dir, student_id) / "results.json").read_text(encoding="utf-8")).get("status", "")
    except (OSError, ValueError, AttributeError):
        return ""


def write_autograded(assignment, submitted: Path, root: Path, student_id: str) -> Path | None:
    """nbgrader's autograded notebook of one student (what formgrader shows for hand grading):
    the submitted notebook with every test cell replaced by the instructor's, by grade_id.
    Written to ``root/<student>/<assignment>/<notebook>``; None when it cannot be read."""
    import nbformat

    from autograder.cells import nbgrader_of

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
    out = root / student_id / assignment.name / Path(getattr(assignment, "notebook_name", "") or
                                                     f"{assignment.name}.ipynb").name
    atomic_write(out, nbformat.writes(nb))
    return out


def refresh_folder(assignment, out_dir: Path | str, db_url: str | None) -> dict:
    """``cnn-course report``: read the scores entered by hand (formgrader) back from the
    gradebook into every stored result of ``out_dir``, rewrite each student's files whose score
    changed, record the final scores in the gradebook and rebuild the summary."""
    from autograder.export import load_results
    from autograder.results import refresh

    out_dir = Path(out_dir)
    if not (out_dir / STUDENTS_DIR).is_dir():
        raise BatchError(f"no graded results in {out_dir} (run `cnn-course grade` first, or pass --out DIR).")
    entered = {}
    if db_url:
        from autograder import gradebook as nbgb

        entered = nbgb.manual_scores(db_url, assignment.name)
    changed = 0
    results = [r for r in load_results(out_dir, problems=[]) if r.assignment == assignment.name]
    for r in results:
        before = (r.score, r.manual_score, r.needs_manual_grading)
        refresh(r, entered.get(r.student_id, {}).get("manual", {}), getattr(assignment, "manual", None))
        if (r.score, r.manual_score, r.needs_manual_grading) != before:
            write_student(assignment, r, out_dir)
            changed += 1
    paths = write_summary(assignment, out_dir)
    paths["changed"] = changed
    if db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = db_url
        paths["gradebook_notes"] = record_results(assignment, paths["results"], db_url)
    return paths
