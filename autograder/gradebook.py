"""Record ``cnn-course grade`` results in nbgrader's gradebook.

After this, ``nbgrader export`` (CSV of every student's score) and formgrader show the
scores as if ``nbgrader autograde`` had produced them. ``cnn-course release`` creates the
assignment and its grade cells; when they are missing (a gradebook that never saw the
release) they are created here from the assignment's tests. Regrading overwrites each
grade's ``auto_score`` and keeps any manual score an instructor entered in formgrader.
"""
from __future__ import annotations

from pathlib import Path

from autograder.results import SubmissionResult

COURSE_ID = "cnn-course"


def _ensure_structure(gb, assignment, notebook: str) -> list[str]:
    """Create the assignment, notebook and grade cells if the gradebook lacks them."""
    from nbgrader.api import MissingEntry

    notes = []
    try:
        gb.find_assignment(assignment.name)
    except MissingEntry:
        gb.update_or_create_assignment(assignment.name)
        notes.append(f"assignment {assignment.name!r} was not in the gradebook (run `cnn-course release` "
                     f"to record its cells); created it from the grading tests")
    gb.update_or_create_notebook(notebook, assignment.name)
    for t in assignment.tests:
        try:
            cell = gb.find_grade_cell(t.grade_id, notebook, assignment.name)
            if float(cell.max_score) != float(t.points):
                gb.update_or_create_grade_cell(t.grade_id, notebook, assignment.name, max_score=float(t.points))
        except MissingEntry:
            gb.update_or_create_grade_cell(t.grade_id, notebook, assignment.name, max_score=float(t.points),
                                           cell_type="code")
    return notes


def sync_grade_cells(db_url: str, assignment: str, notebook: str, cells: list[tuple[str, float]], *,
                     course_id: str = COURSE_ID, retire_missing: bool = True) -> list[str]:
    """Make the gradebook's grade cells of ``assignment`` match ``cells`` (``(grade_id, points)``)
    even when submissions exist (nbgrader itself refuses then): new cells are added, points
    updated, and (``retire_missing``: ``cells`` lists every grade cell of the source notebook,
    manually graded ones included) cells that no longer exist get ``max_score`` 0 and every
    grade 0 (nbgrader cannot delete a cell with grades), so totals and ``nbgrader export``
    stay right."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.release import ensure_tools_on_path

    ensure_tools_on_path()
    notes = []
    wanted = dict(cells)
    with Gradebook(db_url, course_id) as gb:
        gb.update_or_create_assignment(assignment)
        gb.update_or_create_notebook(notebook, assignment)
        for gid, points in cells:
            try:
                cell = gb.find_grade_cell(gid, notebook, assignment)
                if float(cell.max_score) != float(points):
                    cell.max_score = float(points)
                    notes.append(f"grade cell {gid}: max score now {points:g}")
            except MissingEntry:
                gb.update_or_create_grade_cell(gid, notebook, assignment, max_score=float(points), cell_type="code")
                notes.append(f"grade cell {gid} added ({points:g} points)")
        for cell in gb.find_notebook(notebook, assignment).grade_cells if retire_missing else []:
            if cell.name not in wanted and float(cell.max_score) != 0.0:
                cell.max_score = 0.0
                for g in cell.grades:
                    g.auto_score = 0.0
                    g.manual_score = None
                notes.append(f"grade cell {cell.name} no longer exists: it now counts 0 points")
        gb.db.commit()
    if notes:
        notes.append("re-run `cnn-course grade` to update the scores")
    return notes


def record_results(assignment, results: list[SubmissionResult], db_url: str, *, course_id: str = COURSE_ID) -> list[str]:
    """Write every result's per-test points as the ``auto_score`` of the matching grade cell.

    Grade cells are matched by ``grade_id`` (``TestResult.name``); an invalid submission scores 0
    on every cell. Returns notes about what had to be created.
    """
    from nbgrader.api import Grade, Gradebook, MissingEntry

    from autograder.release import ensure_tools_on_path

    ensure_tools_on_path()
    if db_url.startswith("sqlite:///"):
        Path(db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    notebook = Path(getattr(assignment, "notebook_name", None) or f"{assignment.name}.ipynb").stem
    with Gradebook(db_url, course_id) as gb:
        notes = _ensure_structure(gb, assignment, notebook)
    # New tests and changed points (cells of removed tests are retired by `release`, which
    # sees every grade cell, manually graded answers included).
    notes += [n for n in sync_grade_cells(db_url, assignment.name, notebook,
                                          [(t.grade_id, float(t.points)) for t in assignment.tests],
                                          course_id=course_id, retire_missing=False) if not n.startswith("re-run")]
    with Gradebook(db_url, course_id) as gb:
        nb_cells = {c.name: c for c in gb.find_notebook(notebook, assignment.name).grade_cells
                    if c.name in {t.grade_id for t in assignment.tests}}
        for r in results:
            gb.update_or_create_student(r.student_id)
            try:
                sub = gb.find_submission(assignment.name, r.student_id)
            except MissingEntry:
                with gb.db.no_autoflush:
                    sub = gb.add_submission(assignment.name, r.student_id)
            snb = next((n for n in sub.notebooks if n.name == notebook), None)
            if snb is None:  # the notebook was added to the assignment after this submission
                gb.remove_submission(assignment.name, r.student_id)
                with gb.db.no_autoflush:
                    sub = gb.add_submission(assignment.name, r.student_id)
                snb = next(n for n in sub.notebooks if n.name == notebook)
            grades = {g.name: g for g in snb.grades}
            points = {t.name: float(t.points) for t in r.tests}
            for name, cell in nb_cells.items():
                g = grades.get(name)
                if g is None:  # a grade cell added after this submission was first recorded
                    g = Grade(cell_id=cell.id, notebook=snb)
                    gb.db.add(g)
                g.auto_score = points.get(name, 0.0)
                g.needs_manual_grade = False
        gb.db.commit()
    return notes
