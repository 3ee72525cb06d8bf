"""`cnn-course similarity`: planted copies (renamed variables, reordered functions, added
comments, reformatted) rank above independent solutions; the template's stubs do not count;
outputs escape hostile student ids."""
from __future__ import annotations

import ast
import builtins
import csv
from pathlib import Path

import nbformat
import pytest

from autograder import cli, similarity
from autograder.release import write_notebook

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "similarity"
ASSIGNMENT = "ps1_convolution"
TEMPLATE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
INDEPENDENT = ("student_loops", "student_numpy", "student_while")
HOSTILE = "=HYPERLINK(\"x\")<img src=x onerror=alert(1)>"


def _defined(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    return next((n.name for n in tree.body if isinstance(n, ast.FunctionDef)), None)


def _solution_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def notebook_from_module(code: str, *, one_cell: bool = False):
    """The released template with ``code``'s functions in their solution cells (module-level
    extras go before the first one); ``one_cell``: all of ``code`` in the first solution cell,
    the other solution cells left with a comment (what a copier who reorders does)."""
    nb = nbformat.read(str(TEMPLATE), as_version=4)
    cells = _solution_cells(nb)
    if one_cell:
        cells[0].source = code
        for c in cells[1:]:
            c.source = "# (written above)\n"
        return nb
    tree = ast.parse(code)
    funcs = {n.name: ast.get_source_segment(code, n) for n in tree.body if isinstance(n, ast.FunctionDef)}
    by_cell = {_defined(c.source): c for c in cells}
    extras = [ast.get_source_segment(code, n) for n in tree.body
              if not (isinstance(n, ast.FunctionDef) and n.name in by_cell)]
    first = True
    for name, cell in by_cell.items():
        if name in funcs:
            cell.source = ("\n\n".join(extras) + "\n\n\n" if first and extras else "") + funcs[name] + "\n"
            first = False
    return nb


class _Rename(ast.NodeTransformer):
    """Rename every local variable and argument (not functions, modules or builtins)."""

    def __init__(self, keep: set[str]):
        self.keep = keep

    def _new(self, name: str) -> str:
        return name if name in self.keep else f"my_{name.lower()}_val"

    def visit_Name(self, node):
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        return node


def planted_copy(code: str) -> str:
    """``code`` with renamed variables, its functions in reverse order, reformatted by
    ``ast.unparse`` (quotes, parentheses) and a comment before every third line."""
    tree = ast.parse(code)
    keep = set(dir(builtins)) | {"np", "sliding_window_view"}
    keep |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    tree = _Rename(keep).visit(tree)
    tree.body = [n for n in tree.body if not isinstance(n, ast.FunctionDef)] + \
        [n for n in tree.body if isinstance(n, ast.FunctionDef)][::-1]
    out = []
    for i, line in enumerate(ast.unparse(tree).splitlines()):
        if i % 3 == 1 and line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# step {i}: my own work, honestly")
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    """Three independent students, two planted copies, one untouched template, one hostile id."""
    root = tmp_path_factory.mktemp("similarity") / "subs"
    codes = {name: (FIXTURES / f"{name}.py").read_text() for name in INDEPENDENT}
    notebooks = {name: notebook_from_module(code) for name, code in codes.items()}
    notebooks["copy_of_loops"] = notebook_from_module(planted_copy(codes["student_loops"]), one_cell=True)
    notebooks["copy_of_numpy"] = notebook_from_module(planted_copy(codes["student_numpy"]), one_cell=True)
    notebooks["blank_1"] = nbformat.read(str(TEMPLATE), as_version=4)
    notebooks["blank_2"] = nbformat.read(str(TEMPLATE), as_version=4)
    notebooks[HOSTILE] = notebook_from_module(codes["student_while"])
    for sid, nb in notebooks.items():
        (root / sid).mkdir(parents=True)
        write_notebook(nb, root / sid / f"{ASSIGNMENT}.ipynb")
    (root / "broken").mkdir()
    (root / "broken" / f"{ASSIGNMENT}.ipynb").write_text("{ not json")
    return root


def test_planted_copies_rank_above_independent_solutions(subs, tmp_path):
    _, template_cells = similarity.template_code(TEMPLATE)
    codes, notes = similarity.collect_codes(ASSIGNMENT, subs, template_cells=template_cells)
    assert "broken" not in codes and any(n.startswith("broken: left out") for n in notes), notes
    template, _ = similarity.template_code(TEMPLATE)
    pairs = similarity.compare({k: v for k, v in codes.items() if k != HOSTILE}, template)
    sim = {frozenset((p.student_a, p.student_b)): p.similarity for p in pairs}
    copies = [sim[frozenset(("copy_of_loops", "student_loops"))], sim[frozenset(("copy_of_numpy", "student_numpy"))]]
    others = [p.similarity for p in pairs if frozenset((p.student_a, p.student_b)) not in
              {frozenset(("copy_of_loops", "student_loops")), frozenset(("copy_of_numpy", "student_numpy"))}]
    print("copies", copies, "highest other", max(others))
    assert {frozenset((p.student_a, p.student_b)) for p in pairs[:2]} == {
        frozenset(("copy_of_loops", "student_loops")), frozenset(("copy_of_numpy", "student_numpy"))}, pairs[:4]
    assert min(copies) >= 0.6, f"planted copies scored {copies}; expected at least 0.6"
    assert max(others) <= 0.3, f"an independent pair scored {max(others)}; expected at most 0.3"
    # Identical stubs do not count: two untouched templates share nothing.
    assert sim[frozenset(("blank_1", "blank_2"))] == 0.0


def test_cli_writes_pairs_csv_and_escaped_html(subs, tmp_path, capsys):
    out = tmp_path / "sim"
    assert cli.main(["similarity", ASSIGNMENT, str(subs), "--out", str(out), "--top", "5"]) == 0
    printed = capsys.readouterr()
    assert "broken: left out" in printed.err
    with open(out / "pairs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["student_a", "student_b", "similarity"]
    n = 8  # readable submissions: 3 independent, 2 copies, 2 blank, 1 hostile id
    assert len(rows) - 1 == n * (n - 1) // 2
    values = [float(r[2]) for r in rows[1:]]
    assert values == sorted(values, reverse=True), "pairs.csv must list the most similar pair first"
    # The hostile id hands in student_while's code unchanged: the top pair (1.0), and its cell
    # cannot run as a formula; the planted copies come next.
    assert set(rows[1][:2]) == {"'" + HOSTILE, "student_while"} and float(rows[1][2]) == 1.0, rows[1]
    assert {frozenset(r[:2]) for r in rows[2:4]} == {frozenset(("copy_of_loops", "student_loops")),
                                                     frozenset(("copy_of_numpy", "student_numpy"))}
    assert not any(cell.startswith("=") for r in rows for cell in r)
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("<mark>") >= 3, "matching regions are highlighted"


def test_notebook_code_bounds_and_fallback(tmp_path):
    # A notebook that lost its nbgrader metadata: its non-template code cells are compared.
    nb = nbformat.read(str(TEMPLATE), as_version=4)
    template_cell = next(c.source for c in nb.cells if c.cell_type == "code")
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    nb.cells.append(nbformat.v4.new_code_cell("%timeit x\ndef mine(a):\n    return a * 2\n"))
    path = tmp_path / "stripped.ipynb"
    write_notebook(nb, path)
    _, cells = similarity.template_code(TEMPLATE)
    code = similarity.notebook_code(path, template_cells=cells)
    assert "def mine(a)" in code and "%timeit" not in code and template_cell.strip() not in code
    assert len(similarity.notebook_code(path, template_cells=cells, max_chars=10)) == 10
    with pytest.raises(similarity.InvalidSubmission, match="at most 100 are compared"):
        similarity.notebook_code(path, max_bytes=100)
