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
from pathlib import Path, PurePosixPath

from autograder import __version__
from autograder.results import ERROR, INVALID, SubmissionResult, fmt_num, safe_cell, safe_dirname

# Zip extraction caps.
MAX_ZIP_MEMBERS = 20_000
MAX_MEMBER_BYTES = 64 * 2**20        # one file
MAX_TOTAL_BYTES = 2 * 2**30          # everything
MAX_RATIO = 200                      # uncompressed / compressed, per member

_SKIP_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
STUDENTS_DIR = "students"            # out_dir/students/<student_id>/
CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status")


class BatchError(ValueError):
    """A usage error: the submissions cannot be found or read at all."""


@dataclass
class Submission:
    """One student's hand-in: the notebook to grade, or why there is none."""

    student_id: str
    path: Path | None = None
    problem: str = ""                     # set when there is nothing gradable (-> invalid)
    notes: list[str] = field(default_factory=list)


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
        if not nbs:
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
                    bar.set_postfix_str(f"{res.student_id}: {res.score:g}/{res.max_score:g}", refresh=False)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [results[k] for k in sorted(results)]


# ---------------------------------------------------------------- outputs


def grades_csv_text(results: list[SubmissionResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in sorted(results, key=lambda r: r.student_id):
        w.writerow([safe_cell(r.student_id), safe_cell(r.assignment), fmt_num(r.score), fmt_num(r.max_score),
                    safe_cell(r.status)])
    return buf.getvalue()


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


def grade_folder(assignment, submissions: Path | str, out_dir: Path | str, *, workers: int | None = None,
                 insecure: bool = False, limits: dict | None = None, seed: int = 0, progress: bool = True,
                 db_url: str | None = None, grade_fn=None, resume: bool = False,
                 runner=None) -> tuple[list[SubmissionResult], dict]:
    """Find, grade and write everything for one batch; return ``(results, output paths)``.

    ``results`` are this batch's students (resumed ones included); the summary files cover
    every student under ``out_dir``. ``db_url``: nbgrader gradebook to record the scores in
    (``None``: skip). ``resume``: do not grade again students whose stored results match.
    ``runner``: the fan-out (see :func:`grade_all`; ``None``: a thread pool of ``workers``).
    """
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
        subs = find_submissions(root, assignment.name, notebook_name)
        if not subs:
            raise BatchError(
                f"no student folders found in {submissions}: expected <student_id>/{notebook_name} "
                f"or submitted/<student_id>/{assignment.name}/{notebook_name}.")
        out_dir.mkdir(parents=True, exist_ok=True)
        kept: list[SubmissionResult] = []
        if resume:
            todo = []
            for sub in subs:
                old = _done_before(assignment, sub, out_dir)
                (kept if old is not None else todo).append(old if old is not None else sub)
            if kept:
                notes.append(f"--resume: {len(kept)} student(s) already graded from the same notebook and tests "
                             "were not graded again")
            subs = todo
        results = grade_all(assignment, subs, workers=workers, insecure=insecure, limits=limits, seed=seed,
                            progress=progress, grade_fn=grade_fn, hide=[str(out_dir.resolve())],
                            on_result=lambda r: write_student(assignment, r, out_dir), runner=runner)
        results = sorted(results + kept, key=lambda r: r.student_id)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    paths = write_summary(assignment, out_dir, invalid_notes=notes)
    paths["resumed"] = len(kept)
    if db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = db_url
        paths["gradebook_notes"] = record_results(assignment, paths["results"], db_url)
    return results, paths
