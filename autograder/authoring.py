"""Write an nbgrader source notebook from plain Python (instructor side).

Each exercise's ``build_notebook.py`` lists its cells with these helpers, so solutions,
public and hidden tests are reviewed and diffed as Python, and regenerating gives the same
notebook byte for byte (cell ids are fixed, no outputs)::

    nb = NotebookSource()
    nb.md("md-intro", "# Problem set 9 ...")
    nb.setup("setup", "import numpy as np")
    nb.solution("relu", '''
        def relu(X):
            ### BEGIN SOLUTION
            return np.maximum(X, 0)
            ### END SOLUTION
    ''')
    nb.test("test_relu_public", 1, "assert relu(-1) == 0")
    nb.hidden("test_relu_hidden", 2, "assert relu(3) == 3")
    nb.write("solutions/ps9_relu/ps9_relu.ipynb")

A solution region can come from the reference library instead of being written twice:
``code_of(ref.relu)`` is that function's body (no signature, no docstring), ready to stand
between the markers of an f-string cell template (ps2, ps3, ps4 and ps6 build scripts).

Cell metadata follows nbgrader's schema 3 (see docs/instructor-guide.md).
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import nbformat

from autograder.cells import HIDDEN_BEGIN_LINE, HIDDEN_END_LINE


def nbgrader_meta(grade_id: str, **flags) -> dict:
    """nbgrader cell metadata (schema 3); ``flags`` override grade/solution/locked/task/points."""
    meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
            "solution": False, "task": False}
    meta.update(flags)
    return meta


def code_of(function, *, after: str | None = None, indent: int = 4) -> str:
    """The body of ``function`` (a function or method of the reference library) as text for a
    solution region: one implementation serves the library and the notebook (d2l-style).

    The lines are read with ``inspect.getsource``, comments and layout kept; the signature and
    docstring are dropped, and with ``after`` every statement up to and including the first whose
    text is ``after`` (e.g. ``"super().__init__()"``, or the library's last argument check). The
    result is dedented and indented by ``indent`` spaces, to stand between ``### BEGIN
    SOLUTION`` and ``### END SOLUTION`` in a build script's cell template (an f-string).
    """
    lines = textwrap.dedent(inspect.getsource(function)).splitlines()
    node = ast.parse("\n".join(lines)).body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"{function!r} is not a function")
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if after is not None:
        texts = ["\n".join(lines[s.lineno - 1:s.end_lineno]).strip() for s in body]
        if after not in texts:
            raise ValueError(f"{function.__qualname__} has no statement {after!r}")
        body = body[texts.index(after) + 1:]
    if not body:
        raise ValueError(f"{function.__qualname__} has no code to take")
    code = textwrap.dedent("\n".join(lines[body[0].lineno - 1:body[-1].end_lineno]))
    return textwrap.indent(code, " " * indent)


class NotebookSource:
    """An ordered list of cells that becomes an nbgrader source notebook.

    ``dedent``: remove the common indentation of each cell's text (so cells can be
    written as indented triple-quoted strings); leading and trailing blank lines are
    always stripped.
    """

    def __init__(self, dedent: bool = True):
        self.cells: list[nbformat.NotebookNode] = []
        self.dedent = dedent

    def _text(self, text: str) -> str:
        return (textwrap.dedent(text) if self.dedent else text).strip("\n")

    def _add(self, cell, cid: str, nbgrader: dict | None):
        """Every cell has an explicit, stable id: inserting a cell never renames the others."""
        if not isinstance(cid, str) or not cid or any(c.id == cid for c in self.cells):
            raise ValueError(f"cell id {cid!r} is empty or already used: give every cell its own stable id")
        if nbgrader is not None and nbgrader.get("grade_id") and nbgrader["grade_id"] != cid:
            raise ValueError(f"cell {cid!r}: its grade_id {nbgrader['grade_id']!r} differs from its id")
        cell.id = cid
        if nbgrader is not None:
            cell.metadata["nbgrader"] = dict(nbgrader)
            if nbgrader.get("locked"):
                cell.metadata["deletable"] = False
                cell.metadata["editable"] = False
        self.cells.append(cell)
        return cell

    def md(self, cid: str, text: str, nbgrader: dict | None = None):
        """A markdown cell (explanations, pictures, questions)."""
        return self._add(nbformat.v4.new_markdown_cell(self._text(text)), cid, nbgrader)

    def code(self, cid: str, text: str, nbgrader: dict | None = None):
        """A code cell: not graded unless ``nbgrader`` metadata says otherwise."""
        return self._add(nbformat.v4.new_code_cell(self._text(text)), cid, nbgrader)

    def setup(self, cid: str, text: str):
        """The read-only cell of imports that students and tests need."""
        return self.code(cid, text, nbgrader_meta(cid, locked=True))

    def solution(self, cid: str, text: str):
        """A cell students complete: the region between ``### BEGIN/END SOLUTION`` becomes a stub."""
        return self.code(cid, text, nbgrader_meta(cid, solution=True))

    def test(self, cid: str, points: float, text: str):
        """A public autograded test cell (students see and run it)."""
        return self.code(cid, text, nbgrader_meta(cid, grade=True, locked=True, points=points))

    def hidden(self, cid: str, points: float, text: str):
        """A hidden test cell: the whole body is removed from the release."""
        return self.test(cid, points, f"{HIDDEN_BEGIN_LINE}\n{self._text(text)}\n{HIDDEN_END_LINE}")

    def answer(self, cid: str, points: float, text: str):
        """A written answer (markdown), graded by hand."""
        return self.md(cid, text, nbgrader_meta(cid, grade=True, solution=True, points=points))

    def build(self) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook(cells=list(self.cells), metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        })
        nbformat.validate(nb)
        return nb

    def main(self, argv, default_out) -> int:
        """Command line of a ``build_notebook.py``: write to ``argv[0]`` if given, else ``default_out``."""
        self.write(Path(argv[0]) if argv else default_out)
        return 0

    def write(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(self.build(), str(path))
        print(f"wrote {path} ({len(self.cells)} cells)")
        return path
