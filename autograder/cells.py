"""What a notebook cell is, for every part of cnn-course: one definition, nbgrader's.

nbgrader (schema 3) marks cells in ``metadata.nbgrader``:

==================  =====================================================================
solution cell       ``solution: true, grade: false``: the student completes it; the region
                    between lines containing ``BEGIN SOLUTION`` / ``END SOLUTION`` becomes a
                    stub on release. The top-level names it defines are the *graded names*:
                    the only student names test cells can use.
test cell           ``grade: true, solution: false`` with ``points``: autograded.
hidden region       the lines between a line *containing* ``BEGIN HIDDEN TESTS`` and one
                    containing ``END HIDDEN TESTS`` (the delimiter lines included), removed
                    on release by nbgrader's ClearHiddenTests, which matches the texts
                    anywhere in a line: so does the grader. A test cell with a hidden region
                    is a hidden test; the grader never quotes it or sends it to the sandbox.
manual answer       ``grade: true, solution: true``: a written answer graded by hand.
task cell           ``task: true``: graded by hand, not a student answer cell.
grade id            ``grade_id``: the cell's stable name (tests, solutions, the setup cell).
==================  =====================================================================

Used by release (what to clear and the leak check), the assignment loader (test roles and
graded names), feedback redaction, the sample submissions and the tests.
"""
from __future__ import annotations

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
# What authors write (and authoring.py emits); any line containing the texts above counts.
HIDDEN_BEGIN_LINE = f"### {BEGIN_HIDDEN}"
HIDDEN_END_LINE = f"### {END_HIDDEN}"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


def nbgrader_of(cell) -> dict:
    """The ``metadata.nbgrader`` dict of an nbformat cell or dict (empty when absent/bad)."""
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else getattr(cell, "metadata", {})
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def is_solution(nbg: dict) -> bool:
    return bool(nbg.get("solution")) and not nbg.get("grade")


def is_test(nbg: dict) -> bool:
    return bool(nbg.get("grade")) and not nbg.get("solution")


def is_manual(nbg: dict) -> bool:
    """A cell graded by hand: a written answer (grade + solution) or a task cell."""
    return bool(nbg.get("task")) or (bool(nbg.get("grade")) and bool(nbg.get("solution")))


def has_hidden(source: str) -> bool:
    return BEGIN_HIDDEN in source


def regions(source: str, begin: str, end: str) -> list[str]:
    """Lines strictly inside ``begin`` / ``end`` delimiter lines (nbgrader's line rule)."""
    inside, out = False, []
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def outside(source: str, pairs=((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN))) -> list[str]:
    """Lines outside every region of ``pairs`` (delimiter lines dropped)."""
    inside, out = False, []
    for line in source.split("\n"):
        if any(b in line for b, _ in pairs):
            inside = True
        elif any(e in line for _, e in pairs):
            inside = False
        elif not inside:
            out.append(line)
    return out


def solved(source: str) -> str:
    """A solution cell's text with its ``BEGIN SOLUTION`` / ``END SOLUTION`` delimiter lines
    dropped and what they enclose kept: the cell as a student who solved it would write it."""
    return "\n".join(line for line in source.split("\n") if BEGIN_SOLUTION not in line and END_SOLUTION not in line)


def public_part(source: str) -> str:
    """A test cell's text as nbgrader releases it (hidden regions removed)."""
    return "\n".join(outside(source, ((BEGIN_HIDDEN, END_HIDDEN),)))
