"""Batch grading: the submissions of a batch graded in parallel, every output written.

The submissions come from :mod:`autograder.intake` (folders, zips, nbgrader layouts, LMS
downloads), their submission times, due date and late policy from :mod:`autograder.lateness`.

Outputs in ``out_dir``: ``students/<folder>/results.json`` and ``feedback.html`` (``<folder>``:
:func:`autograder.results.safe_dirname` of the student id, collision-free; a batch where two
students would share one stops before grading), written (atomically) as soon as that student
is graded, so no student id can collide with the batch's own files and an interrupted run
loses nothing; then ``grades.csv`` (``student_id, assignment, score, max_score, status, ...,
submitted_at, submitted_at_source``, sorted by student id), ``report.html`` and
``score_histogram.png``, rebuilt from every ``results.json`` on disk (a regrade of some
students merges into the rest).

``resume=True`` skips students whose results were made from the same notebook bytes (sha256)
and the same assignment version. A submission with nothing gradable gets an ``invalid`` row
(``missing`` when the student handed in other work only); nothing stops the batch.
Submission files are only ever read.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from autograder import __version__
from autograder.assignment import points_of
from autograder.intake import BatchError, Submission, check_folder_names, collect
from autograder.isolation.templates import close_templates
from autograder.lateness import (NO_TIME_NOTE, TimeSource, assign_submission_times, check_policy, lateness_rules,
                                 parse_zone, read_submitted_at, reuse_stored_times)
from autograder.options import GradingOptions
from autograder.results import (ERROR, GRADED, INVALID, MISSING, SubmissionResult, apply_scores, late_penalty_fn,
                                safe_dirname)
from autograder.store import (STUDENTS_DIR, ResultStore, atomic_write, judge_lateness, read_policy, store_roster,
                              stored_roster, student_dir, write_policy)
from autograder.text import fmt_num, safe_cell, visible

CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "auto_score", "manual_score",
               "needs_manual_grading", "late", "late_by", "late_penalty", "submitted_at", "submitted_at_source",
               "comments")


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
                    safe_cell(r.submitted_at), safe_cell(r.submitted_at_source or TimeSource.NONE),
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
    if not off_roster:   # `report`, `grade` without --roster: the roster the last `grade --roster` was given
        off_roster = report.off_roster_ids(results, stored_roster(out_dir))
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


def blank_answers(assignment, path: Path | None) -> list[str]:
    """The hand-graded answers of the notebook at ``path`` left as released (the stub
    ``YOUR ANSWER HERE``, or nothing): nbgrader's autograde scores those 0 without a grader.
    The file is read bounded (no larger than a notebook the grader reads, notebook.CAPS) and
    parsed as plain JSON; anything unreadable gives ``[]``."""
    from autograder.cells import CODE_STUB, TEXT_STUB, nbgrader_of
    from autograder.notebook import CAPS

    ids = {m.grade_id for m in getattr(assignment, "manual", [])}
    if not ids or path is None:
        return []
    try:
        if path.is_symlink() or path.stat().st_size > CAPS["file_bytes"]:
            return []
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    stubs = {"", TEXT_STUB.strip(), CODE_STUB.strip()}
    out = []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        gid = nbgrader_of(cell).get("grade_id") if isinstance(cell, dict) else None
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
                 entered: dict, time_notes: dict | None = None):
        self.assignment = assignment
        self.time_notes = time_notes or {}      # student -> why an earlier run's time was not reused
        self.by_id = {s.student_id: s for s in subs}
        self.due = due
        self.policy = late_policy or "none"
        self.fn = late_penalty_fn(self.policy)
        self.entered = entered

    def __call__(self, r: SubmissionResult) -> SubmissionResult:
        sub = self.by_id.get(r.student_id)
        when = sub.submitted_at if sub is not None else None
        r.submitted_at = when.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") if when else ""
        r.submitted_at_source = sub.submitted_at_source if (sub is not None and when) else TimeSource.NONE
        judge_lateness(r, self.due, self.policy)   # a resumed result is judged again on today's evidence
        notes = [n for n in r.message.split("; ") if n != NO_TIME_NOTE] if r.message else []
        if r.student_id in self.time_notes and self.time_notes[r.student_id] not in notes:
            notes.append(self.time_notes[r.student_id])
        if when is None and self.due is not None and r.status != MISSING:
            notes.append(NO_TIME_NOTE)
        r.message = "; ".join(notes)
        if r.status == GRADED and sub is not None:
            r.blank_answers = blank_answers(self.assignment, sub.path)
        adj = self.entered.get(r.student_id, {})
        return apply_scores(r, getattr(self.assignment, "manual", []), adj.get("manual", {}),
                            self.fn if r.late else None, comments=adj.get("comments", {}))



def missing_result(assignment, student_id: str) -> SubmissionResult:
    r = SubmissionResult(student_id=student_id, assignment=assignment.name, status=MISSING, score=0.0,
                         max_score=points_of(assignment.tests), message="nothing submitted", grader_version=__version__,
                         assignment_version=getattr(assignment, "version", ""), submitted_at_source=TimeSource.NONE)
    return apply_scores(r, getattr(assignment, "manual", []))


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
    o = GradingOptions.build(options, **kw)
    check_policy(o.late_policy)
    submissions, out_dir = Path(submissions), Path(out_dir)
    if not submissions.exists():
        raise BatchError(f"SUBMISSIONS={str(submissions)!r} does not exist.")
    if submissions.is_dir() and _inside(out_dir, submissions):
        raise BatchError(f"--out {out_dir} is inside SUBMISSIONS {submissions}: choose an output folder elsewhere.")
    zone = parse_zone(o.zip_tz)
    given, time_notes = read_submitted_at(o.submitted_at) if o.submitted_at else ({}, [])
    notes: list[str] = list(time_notes)
    tmps: list[Path] = []
    try:
        notebook_name = getattr(assignment, "notebook_name", None) or f"{assignment.name}.ipynb"
        found = collect(submissions, assignment.name, notebook_name, tmps=tmps, roster_rows=o.roster_rows or [],
                        roster_ids=o.roster or [])
        notes += found.warnings + found.notes
        time_notes += found.notes
        subs = found.subs
        out_dir.mkdir(parents=True, exist_ok=True)
        assign_submission_times(subs, assignment.name, given=given, zip_root=found.zip_root,
                                zip_times=found.zip_times, zip_tz=zone)
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
        # No evidence in this run: the time an earlier run established, while the notebook is the same file.
        changed_notes, reuse_notes = reuse_stored_times(subs, store.by_id, _sha256)
        notes += reuse_notes
        time_notes += reuse_notes
        entered, expected = {}, set(o.roster or [])
        gb_due = None
        if o.db_url:
            from autograder import gradebook as nbgb

            entered = nbgb.manual_scores(o.db_url, assignment.name)
            expected |= set(nbgb.roster(o.db_url))
            gb_due = nbgb.duedate(o.db_url, assignment.name)
        due, policy, policy_notes = lateness_rules(o, read_policy(out_dir), gb_due)
        notes += policy_notes
        time_notes += policy_notes
        if o.due is not None or o.late_policy is not None or (out_dir / "assignment.json").exists() \
                or due is not None:
            write_policy(out_dir, assignment.name, due, policy)
        if o.db_url and due is not None and due != gb_due:
            from autograder import gradebook as nbgb

            nbgb.set_duedate(o.db_url, assignment.name, due)
        finish = Finisher(assignment, subs, due=due, late_policy=policy, entered=entered, time_notes=changed_notes)
        check_folder_names(sorted(everyone | expected), out_dir)
        # Off the roster: the roster CSV is the word on who is in the class (the gradebook's students
        # include everyone graded into it); without one, the gradebook's students before this run.
        on_roster = set(o.roster) if o.roster else expected
        new_off = sorted(everyone - on_roster) if on_roster else []
        if new_off:
            time_notes.append(f"{len(new_off)} student(s) handed in but are "
                              + ("not on the roster" if o.roster else "not among the gradebook's students") + ": "
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
        graded_now = sum(r.status != MISSING for r in results)   # not who handed in other work only
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
    if o.roster:
        store_roster(out_dir, o.roster)
    paths = write_summary(assignment, out_dir, invalid_notes=notes, store=store, off_roster=off_roster)
    paths["resumed"], paths["graded"] = len(kept), graded_now
    paths["time_notes"] = time_notes
    paths["off_roster"] = off_roster
    paths["due"], paths["late_policy"] = due, policy
    paths["stale"] = [] if o.regrade_stale else store.stale()
    if o.db_url:
        from autograder.gradebook import record_results

        paths["gradebook"] = o.db_url
        paths["gradebook_notes"] = record_results(assignment, paths["results"], o.db_url)
    return results, paths


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
