"""Export graded results: a students x tests CSV, a Canvas gradebook import, Gradescope results.

Everything starts from the folder ``cnn-course grade`` wrote (:func:`autograder.store.load_results`):
``OUT/students/<student_id>/results.json`` (the current layout) or ``OUT/<student_id>/results.json``
(the layout before it). Manual scores and late penalties come from nbgrader's gradebook when it
holds the assignment (:func:`gradebook_adjustments`); the gradebook is only read, never created.

Student ids, test messages and every other string that comes from a submission are treated as
hostile: CSV cells a spreadsheet would evaluate (leading ``=``, ``+``, ``-``, ``@``, tab, CR)
are prefixed with ``'`` (:func:`safe_cell`), and Gradescope folders get names that cannot
escape the output folder (:func:`safe_dirname`).

Formats
-------
``csv``
    one row per student (per student and assignment with ``--all``): ``student_id, assignment,
    status, score, max_score``, then ``auto_score, manual_score, late_penalty, final_score``
    when the gradebook or the results hold any of them, then ``<test>`` (points) and
    ``<test> status`` for every test; cells a student has no value for stay empty.
``canvas``
    Canvas' gradebook import: ``Student, ID, SIS User ID, SIS Login ID, Section`` and one
    column per assignment (``<name> (<canvas assignment id>)`` when the id is given), the
    second row ``Points Possible``. Students are matched through a roster CSV.
``gradescope``
    Gradescope's autograder ``results.json`` for each student (``score``, ``tests[]`` with
    ``name``, ``score``, ``max_score``, ``status``, ``output``, ``visibility``): public tests
    ``visible``, hidden ones ``after_published``, stdout hidden from students.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from autograder.results import HIDDEN, PASSED, SubmissionResult, refresh, safe_dirname
from autograder.roster import RosterError, read_roster
from autograder.store import StoreError, load_results, read_result, result_files
from autograder.text import safe_cell

MAX_OUTPUT_CHARS = 20_000           # per Gradescope test output
FORMATS = ("csv", "canvas", "gradescope")
EXTRA_COLUMNS = ("auto_score", "manual_score", "late_penalty", "final_score")
CANVAS_HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


class ExportError(ValueError):
    """The grades cannot be exported as asked; the message says what is missing."""


# ---------------------------------------------------------------- small helpers


def _report(problems: list | None, message: str) -> None:
    if problems is None:
        print(f"warning: {message}", file=sys.stderr, flush=True)
    else:
        problems.append(message)


# ---------------------------------------------------------------- gradebook (manual scores, late penalties)


def gradebook_adjustments(db_url: str | None, assignment: str, *, problems: list | None = None) -> dict[str, dict]:
    """``{student_id: {"manual": {grade_id: points}, "late_penalty": float}}`` from nbgrader's
    gradebook (``{}`` when there is none; it is never created here)."""
    try:
        from autograder.gradebook import manual_scores

        return manual_scores(db_url, assignment)
    except Exception as exc:  # a broken gradebook must not stop an export of the results
        _report(problems, f"gradebook {db_url}: not read ({type(exc).__name__}: {exc}); manual scores are left out")
        return {}


def score_columns(result: SubmissionResult) -> dict:
    """``auto_score, manual_score, late_penalty, final_score`` of one student, from the result
    (made final by :func:`autograder.results.refresh`); ``None`` where they do not apply."""
    late = float(result.late_penalty or 0.0)
    manual = result.manual_score
    has = bool(result.manual_max) or late > 0 or manual is not None
    return {"auto_score": result.auto_score if has else None,
            "manual_score": manual,
            "late_penalty": late if late else None,
            "final_score": result.score if has else None}


def final_score(result: SubmissionResult) -> float:
    """The score to report: the one final score (autograded + by hand - late penalty)."""
    return float(result.score)


# ---------------------------------------------------------------- csv


def csv_rows(batches: list[tuple[str, list[SubmissionResult]]], *, prefix_tests: bool = False) -> list[list]:
    """Header and rows of the students x tests table. ``batches``: ``(assignment, results)``
    (scores already final: :func:`autograder.results.refresh`); ``prefix_tests`` names test columns ``<assignment>:<test>``."""
    tests: list[str] = []
    seen = set()
    for name, results in batches:
        for r in results:
            for t in r.tests:
                key = f"{name}:{t.name}" if prefix_tests else t.name
                if key not in seen:
                    seen.add(key)
                    tests.append(key)
    scores = {(name, r.student_id): score_columns(r)
              for name, results in batches for r in results}
    extras = [c for c in EXTRA_COLUMNS if any(s[c] is not None for s in scores.values())]
    header = ["student_id", "assignment", "status", "score", "max_score", *extras]
    commented = {(f"{name}:{t.name}" if prefix_tests else t.name) for name, results in batches
                 for r in results for t in r.tests if t.comment}
    for key in tests:
        header += [key, f"{key} status"] + ([f"{key} comment"] if key in commented else [])
    rows = [header]
    for name, results in batches:
        for r in results:
            cells: dict[str, tuple] = {}
            for t in r.tests:
                key = f"{name}:{t.name}" if prefix_tests else t.name
                cells.setdefault(key, (t.points, t.status, t.comment))
            row = [r.student_id, r.assignment or name, r.status, r.score, r.max_score]
            row += [scores[(name, r.student_id)][c] for c in extras]
            for key in tests:
                points, status, comment = cells.get(key, (None, None, None))
                row += [points, status] + ([comment] if key in commented else [])
            rows.append(row)
    rows[1:] = sorted(rows[1:], key=lambda row: (str(row[0]), str(row[1])))
    return rows


def write_csv(rows: list[list], path: Path | str) -> Path:
    """Write ``rows`` with every cell passed through :func:`safe_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        w.writerow([safe_cell(c) for c in row])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8", errors="replace")
    return path


# ---------------------------------------------------------------- canvas


def _match(roster: list[dict], student_id: str) -> dict | None:
    for key in ("student_id", "sis_login_id", "sis_user_id", "canvas_id"):
        for row in roster:
            if row[key] and row[key] == student_id:
                return row
    return None


def canvas_rows(batches: list[tuple[str, list[SubmissionResult]]], roster: list[dict] | None, *,
                assignment_ids: dict[str, str] | None = None, problems: list | None = None) -> list[list]:
    """Header, ``Points Possible`` row and one row per student for Canvas' gradebook import.

    Students are matched to ``roster`` rows by their id (against the roster's ``student_id``,
    then ``sis_login_id``, ``sis_user_id``, ``canvas_id``); unmatched students are reported and
    left out. Without a roster the student id goes into ``SIS User ID``. A student without a
    result for an assignment gets an empty cell (Canvas leaves that grade unchanged)."""
    assignment_ids = assignment_ids or {}
    columns = []
    for name, results in batches:
        cid = assignment_ids.get(name)
        columns.append(f"{name} ({cid})" if cid else name)
    header = [*CANVAS_HEADER, *columns]
    possible = ["Points Possible", "", "", "", ""]
    for _, results in batches:
        possible.append(max((r.max_score for r in results), default=None))
    people: dict[str, dict] = {}
    order: list[str] = []
    unmatched: list[str] = []
    for col, (name, results) in enumerate(batches):
        for r in results:
            if roster is not None:
                row = _match(roster, r.student_id)
                if row is None:
                    if r.student_id not in unmatched:
                        unmatched.append(r.student_id)
                    continue
                key = row["canvas_id"] or row["sis_user_id"] or row["sis_login_id"] or row["student_id"]
                ident = [row["name"] or row["student_id"], row["canvas_id"], row["sis_user_id"],
                         row["sis_login_id"], row["section"]]
            else:
                key = r.student_id
                ident = [r.student_id, "", r.student_id, "", ""]
            if key not in people:
                people[key] = {"ident": ident, "scores": [None] * len(batches)}
                order.append(key)
            people[key]["scores"][col] = final_score(r)
    if unmatched:
        _report(problems, f"{len(unmatched)} student(s) not in the roster, left out of the Canvas file: "
                          + ", ".join(repr(s) for s in unmatched))
    # Canvas matches an imported row on ID, SIS User ID or SIS Login ID, else on the name alone.
    unknown = [people[k]["ident"][0] for k in order if not any(people[k]["ident"][1:4])]
    if unknown:
        _report(problems, f"{len(unknown)} student(s) have no canvas_id, sis_user_id or sis_login_id in the "
                          "roster: Canvas can match their rows only by name (as its own export writes it, "
                          "'Last, First'), which may fail or be ambiguous; add one of these columns: "
                          + ", ".join(repr(s) for s in unknown[:20]) + (" ..." if len(unknown) > 20 else ""))
    rows = [header, possible]
    for key in sorted(order, key=lambda k: (str(people[k]["ident"][0]).lower(), k)):
        rows.append(people[key]["ident"] + people[key]["scores"])
    return rows


# ---------------------------------------------------------------- gradescope


def gradescope_json(result: SubmissionResult) -> dict:
    """One student's result in Gradescope's autograder format (``results.json``)."""
    tests = []
    for i, t in enumerate(result.tests, 1):
        output = t.message or ("passed" if t.status == PASSED else t.status)
        if t.comment:
            output += f"\n\nGrader's comment: {t.comment}"
        if len(output) > MAX_OUTPUT_CHARS:
            output = output[:MAX_OUTPUT_CHARS] + "\n[... output cut]"
        tests.append({"name": t.name, "number": str(i), "score": round(float(t.points), 4),
                      "max_score": round(float(t.max_points), 4),
                      "status": "passed" if t.status == PASSED else "failed",
                      "output": output, "tags": [t.status],
                      "visibility": "after_published" if t.visibility == HIDDEN else "visible"})
    out = {"score": round(float(final_score(result)), 4),
           "output": result.message[:MAX_OUTPUT_CHARS] if result.message else f"status: {result.status}",
           "stdout_visibility": "hidden", "tests": tests,
           "extra_data": {"student_id": result.student_id, "assignment": result.assignment,
                          "status": result.status, "max_score": result.max_score, "sha256": result.sha256,
                          "grader_version": result.grader_version}}
    if result.durations.get("total_s") is not None:
        try:
            out["execution_time"] = round(float(result.durations["total_s"]), 3)
        except (TypeError, ValueError):
            pass
    return out


def write_gradescope(batches: list[tuple[str, list[SubmissionResult]]], out: Path | str) -> list[Path]:
    """``out/<student>/results.json`` (``out/<assignment>/<student>/results.json`` for several
    assignments) when ``out`` is a folder (exists as one, ends with ``/`` or has no ``.json``
    suffix); else one JSON file ``{student_id: results}`` (``{assignment: {...}}`` for several)."""
    out_s = str(out)
    out = Path(out)
    written = []
    as_dir = out.is_dir() or out_s.endswith(("/", "\\")) or out.suffix.lower() != ".json"
    if as_dir:
        for name, results in batches:
            base = out / safe_dirname(name) if len(batches) > 1 else out
            for r in results:
                d = base / safe_dirname(r.student_id)
                d.mkdir(parents=True, exist_ok=True)
                p = d / "results.json"
                p.write_text(json.dumps(gradescope_json(r), indent=2) + "\n", encoding="utf-8")
                written.append(p)
        return written
    data = {name: {r.student_id: gradescope_json(r) for r in results}
            for name, results in batches}
    if len(batches) == 1:
        data = next(iter(data.values()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [out]


# ---------------------------------------------------------------- one entry point


def _holds(folder: Path, name: str) -> bool:
    """Whether ``folder``'s results are of the assignment ``name`` (a copy or a backup folder is not)."""
    for path in result_files(folder)[:3]:
        try:
            if read_result(path).assignment == name:
                return True
        except (OSError, ValueError, TypeError, UnicodeDecodeError):
            continue
    return False


def find_graded_assignments(grades_root: Path | str, known=None, *, problems: list | None = None) -> list[str]:
    """Sub-folders of ``grades_root`` that hold graded results (``--all``); with ``known`` (the
    course's assignments), only those: any other folder is reported and left out."""
    root = Path(grades_root)
    if not root.is_dir():
        return []
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and result_files(p))
    other = [n for n in found if (known is not None and n not in set(known)) or not _holds(root / n, n)]
    if other:
        _report(problems, f"{len(other)} folder(s) under {root} are not assignments of this course, left out: "
                          + ", ".join(repr(n) for n in other[:20]))
    return [n for n in found if n not in other]


def export(fmt: str, assignments: dict[str, Path], out: Path | str, *, db_url: str | None = None,
           roster: Path | str | None = None, assignment_ids: dict[str, str] | None = None,
           problems: list | None = None) -> dict:
    """Export ``assignments`` (``{name: grades folder}``) as ``fmt`` into ``out``.

    Returns ``{"paths": [...], "students": n, "assignments": [...]}``; problems (unreadable
    files, unmatched students) go to ``problems`` or stderr."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not known; expected one of {', '.join(FORMATS)}")
    batches = []
    for name, folder in assignments.items():
        try:
            results = load_results(folder, problems=problems)
        except StoreError as exc:      # not a folder
            raise ExportError(str(exc)) from None
        if not results:
            raise ExportError(f"no results.json in {folder} (expected students/<student_id>/results.json): "
                              f"grade {name} first or pass --grades DIR")
        entered = gradebook_adjustments(db_url, name, problems=problems)
        for r in results:
            adj = entered.get(r.student_id, {})
            refresh(r, adj.get("manual", {}), gradebook_penalty=adj.get("late_penalty"),
                    comments=adj.get("comments", {}) if entered else None)
        batches.append((name, results))
    n = len({r.student_id for _, results in batches for r in results})
    if fmt == "csv":
        paths = [write_csv(csv_rows(batches, prefix_tests=len(batches) > 1), out)]
    elif fmt == "canvas":
        try:
            people = read_roster(roster) if roster else None
        except RosterError as exc:
            raise ExportError(str(exc)) from None
        rows = canvas_rows(batches, people, assignment_ids=assignment_ids,
                           problems=problems)
        paths = [write_csv(rows, out)]
        n = len(rows) - 2          # the students written: those not on the roster are left out
    else:
        paths = write_gradescope(batches, out)
    return {"paths": paths, "students": n, "assignments": list(assignments)}
