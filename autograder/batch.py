"""Batch grading: find the submissions, grade them in parallel, write every output.

Accepted layouts of ``SUBMISSIONS`` (a folder, or a ``.zip`` of one):

* ``<student_id>/<notebook>.ipynb``
* nbgrader's ``submitted/<student_id>/<assignment>/<notebook>.ipynb`` (with or without
  the ``submitted/`` level), a single wrapping folder (as zips often have) is looked through.

Outputs in ``out_dir``: ``grades.csv`` (``student_id, assignment, score, max_score, status``,
sorted by student id), ``<student_id>/results.json``, ``<student_id>/feedback.html``,
``report.html`` and ``score_histogram.png``. A student folder without a notebook, or with
several notebooks none of which has the assignment's name, gets an ``invalid`` row; nothing
stops the batch. Submission files are only ever read.
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
from autograder.results import INVALID, SubmissionResult

# Zip extraction caps.
MAX_ZIP_MEMBERS = 20_000
MAX_MEMBER_BYTES = 64 * 2**20        # one file
MAX_TOTAL_BYTES = 2 * 2**30          # everything
MAX_RATIO = 200                      # uncompressed / compressed, per member

_SKIP_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
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
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _SKIP_DIRS)


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".ipynb" and not p.name.startswith("."))


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
        where = folder / assignment if (folder / assignment).is_dir() else folder
        nbs = _notebooks(where)
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


def invalid_result(assignment, sub: Submission, message: str) -> SubmissionResult:
    sha = ""
    if sub.path is not None and sub.path.is_file():
        sha = hashlib.sha256(sub.path.read_bytes()).hexdigest()
    return SubmissionResult(
        student_id=sub.student_id, assignment=assignment.name, status=INVALID, score=0.0,
        max_score=_max_score(assignment), tests=[], message=message, sha256=sha,
        grader_version=__version__, notebook=sub.path.name if sub.path else "",
    )


def grade_all(assignment, subs: list[Submission], *, workers: int | None = None, insecure: bool = False,
              limits: dict | None = None, seed: int = 0, progress: bool = True, grade_fn=None,
              hide=()) -> list[SubmissionResult]:
    """Grade ``subs`` with ``workers`` threads; results sorted by student id.

    ``grade_fn`` defaults to :func:`autograder.engine.grade_notebook` (tests pass a fake);
    ``hide``: paths the sandbox must not see (the output folder).
    """
    extra = {"hide": list(hide)} if hide else {}
    if grade_fn is None:
        from autograder.engine import grade_notebook as grade_fn
    workers = max(1, int(workers or os.cpu_count() or 1))
    results: dict[str, SubmissionResult] = {}

    def one(sub: Submission) -> SubmissionResult:
        if sub.path is None:
            return invalid_result(assignment, sub, sub.problem)
        t0 = time.perf_counter()
        try:
            res = grade_fn(assignment, sub.path, sub.student_id, insecure=insecure, limits=limits, seed=seed, **extra)
        except Exception as exc:  # the engine should never raise; keep the batch going if it does
            res = invalid_result(assignment, sub, f"internal grader error ({type(exc).__name__}: {exc}); please report it.")
        res.durations.setdefault("batch_wall_s", round(time.perf_counter() - t0, 3))
        if sub.notes:
            res.message = "; ".join(filter(None, [res.message] + sub.notes))
        return res

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
                if bar is not None:
                    bar.set_postfix_str(f"{res.student_id}: {res.score:g}/{res.max_score:g}", refresh=False)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [results[k] for k in sorted(results)]


# ---------------------------------------------------------------- outputs


def fmt_num(x: float) -> str:
    """Scores as people write them: ``3``, ``2.5``, ``0.3333``."""
    x = round(float(x), 4)
    return str(int(x)) if x == int(x) else f"{x:g}"


def grades_csv_text(results: list[SubmissionResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in sorted(results, key=lambda r: r.student_id):
        w.writerow([r.student_id, r.assignment, fmt_num(r.score), fmt_num(r.max_score), r.status])
    return buf.getvalue()


def write_outputs(assignment, results: list[SubmissionResult], out_dir: Path | str, *, invalid_notes=None) -> dict:
    """Write grades.csv, per-student results.json and feedback.html, report.html and the
    histogram PNG into ``out_dir``; return their paths."""
    from autograder import report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"grades": out_dir / "grades.csv", "report": out_dir / "report.html",
             "histogram": out_dir / "score_histogram.png", "students": {}}
    paths["grades"].write_text(grades_csv_text(results), encoding="utf-8")
    for r in results:
        report.redact_hidden(r, assignment)
        d = out_dir / r.student_id
        d.mkdir(parents=True, exist_ok=True)
        (d / "results.json").write_text(json.dumps(r.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (d / "feedback.html").write_text(report.feedback_html(r, assignment), encoding="utf-8")
        paths["students"][r.student_id] = d
    png = report.histogram_png([r.score for r in results], _max_score(assignment), title=assignment.name)
    paths["histogram"].write_bytes(png)
    paths["report"].write_text(report.report_html(results, assignment, png, notes=invalid_notes or []), encoding="utf-8")
    return paths


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def grade_folder(assignment, submissions: Path | str, out_dir: Path | str, *, workers: int | None = None,
                 insecure: bool = False, limits: dict | None = None, seed: int = 0, progress: bool = True,
                 db_url: str | None = None, grade_fn=None) -> tuple[list[SubmissionResult], dict]:
    """Find, grade and write everything for one batch; return ``(results, output paths)``.

    ``db_url``: nbgrader gradebook to record the scores in (``None``: skip).
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
        results = grade_all(assignment, subs, workers=workers, insecure=insecure, limits=limits, seed=seed,
                            progress=progress, grade_fn=grade_fn, hide=[str(out_dir.resolve())])
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    paths = write_outputs(assignment, results, out_dir, invalid_notes=notes)
    if db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = db_url
        paths["gradebook_notes"] = record_results(assignment, results, db_url)
    return results, paths
