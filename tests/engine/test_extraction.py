"""Extraction of the student's code (autograder/notebook.py): IPython-style transformation,
what is kept at top level, size and depth caps, unsafe text; and the integrity corpus
(tests/corpus/integrity_corpus.py) graded by the engine."""
from __future__ import annotations

import ast
import copy
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder import engine as ENGINE   # the project's own engine: an ImportError fails, never skips
from autograder.assignment import load_assignment
from autograder.forbidden import analyze
from autograder.notebook import (CAPS, InvalidSubmission, extract_student_code, parse_notebook, read_notebook,
                                 released_statements, statement_key)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))
import integrity_corpus as IC  # noqa: E402
import engine_corpus as C  # noqa: E402


def correct_notebook(source_nb):
    """As autograder.samples.correct_notebook: solutions kept (markers removed), hidden tests removed."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        out, inside = [], False
        for line in cell.source.split("\n"):
            if "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END HIDDEN TESTS" in line:
                inside = False
            elif "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
                continue
            elif not inside:
                out.append(line)
        cell.source = "\n".join(out)
    return nb


def nb_bytes(*sources) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.writes(nb).encode()


def code_of(*sources, **kw):
    return extract_student_code(parse_notebook(nb_bytes(*sources)), **kw)


def kept(code) -> list[str]:
    return [s["src"] for s in code.stmts]


# ----------------------------------------------------------------------------- IPython syntax

def test_black_style_percent_and_ne_continuation_lines_are_kept_intact():
    src = ("%matplotlib inline\n"
           "def f(n, k):\n    return (\n        n\n        % k\n    )\n"
           "def g(a, b):\n    if (a\n            != b):\n        return 1\n    return 0\n")
    code = code_of(src)
    assert code.notes == [], code.notes
    assert set(code.defined) == {"f", "g"}
    ns: dict = {}
    for st in code.stmts:
        exec(compile(st["src"], "<t>", "exec"), ns)
    assert ns["f"](7, 4) == 3 and ns["g"](1, 2) == 1, "the continuation lines changed the functions' meaning"


def test_magics_become_calls_that_are_not_run_at_top_level():
    code = code_of("%matplotlib inline\n!pip install nothing\nfiles = !ls\nn = len(files)\nnp_sum = 1\nnp.sum?\n",
                   "%%bash\necho hi\n", "%%time\nZ = 3\n",
                   "def f():\n    !echo inside\n    return 1\n")
    assert kept(code) == ["np_sum = 1", "Z = 3", "def f():\n    get_ipython().system('echo inside')\n    return 1"]
    assert code.stmts[1]["lineno"] == 2, "the %%time line must stay a (blank) line"
    assert code.notes == []


def test_too_many_magics_for_a_cell_is_a_note_not_a_hang(python_calls):
    def cell(magics):
        return "".join(f"!echo {i}\nx{i} = {i}\n" for i in range(magics)) + "y = (1\n"
    code, work = python_calls(lambda: code_of(cell(600), "def ok():\n    return 1\n"))
    assert set(code.defined) == {"ok"}
    assert len(code.notes) == 1 and "magics" in code.notes[0], code.notes
    _, work2 = python_calls(lambda: code_of(cell(1200), "def ok():\n    return 1\n"))
    assert work2 < 2.2 * work, f"IPython's transformation must stay linear: {work:,} calls for 600 magics, {work2:,} for 1,200"


# ----------------------------------------------------------------------------- top-level selection

def test_lambda_definitions_are_kept_and_their_calls_are_not():
    code = code_of("import numpy as np\ndef conv(x, w):\n    return x * w\n",
                   "w = np.ones(3)\nf = lambda x: conv(x, w)\nT = {k: (lambda x, k=k: conv(x, k)) for k in 'ab'}\n"
                   "y = f(2)\nz = T['a'](1)\ns = sorted([3, 1], key=lambda v: conv(v, 1))\nq = list(map(f, [1]))\n"
                   "import functools\ng = functools.partial(conv, w=2)\n")
    assert kept(code) == ["import numpy as np", "def conv(x, w):\n    return x * w", "w = np.ones(3)",
                          "f = lambda x: conv(x, w)", "T = {k: (lambda x, k=k: conv(x, k)) for k in 'ab'}",
                          "import functools", "g = functools.partial(conv, w=2)"]


def test_loops_and_ifs_that_fill_tables_are_kept_training_loops_are_not():
    code = code_of("import numpy as np\ndef train(m):\n    return m\n",
                   "TABLE = {}\nfor k in range(3):\n    TABLE[k] = np.full(2, k)\n"
                   "NAMES = []\nfor k in 'ab':\n    if k != 'b':\n        NAMES.append(k.upper())\n"
                   "if TABLE:\n    SIZE = len(TABLE)\nelse:\n    SIZE = 0\n"
                   "history = {'loss': []}\nfor epoch in range(5):\n    history['loss'].append(train(epoch))\n"
                   "for i in range(10**12):\n    pass\nwhile True:\n    TABLE[0] = 1\n"
                   "for i in range(3):\n    print(i)\n"
                   "last = history['loss'][-1]\n")
    src = kept(code)
    assert src[2:] == ["TABLE = {}", "for k in range(3):\n    TABLE[k] = np.full(2, k)", "NAMES = []",
                       "for k in 'ab':\n    if k != 'b':\n        NAMES.append(k.upper())",
                       "if TABLE:\n    SIZE = len(TABLE)\nelse:\n    SIZE = 0", "history = {'loss': []}"], src
    assert code.skipped == 5   # training loop, the two endless loops, the print loop, `last`


def test_statements_reading_what_a_skipped_statement_changed_are_skipped():
    # ps3's pattern: `preds` is filled by a loop that calls student code (skipped), so the
    # concatenation would raise "need at least one array to concatenate": skip it too.
    code = code_of("import numpy as np\nimport torch\ndef model(x):\n    return x\n",
                   "preds = []\nfor X in range(3):\n    preds.append(model(X))\nP = np.concatenate(preds)\n"
                   "with torch.no_grad():\n    y_pred = model(1)\nwrong = y_pred != 1\n"
                   "preds = [0]\nagain = len(preds)\n")
    assert kept(code)[-4:] == ["def model(x):\n    return x", "preds = []", "preds = [0]", "again = len(preds)"]


def test_display_and_get_ipython_count_as_defined():
    code = code_of("def show(x):\n    display(x)\n    return x\n", "v = display\n")
    assert kept(code) == ["def show(x):\n    display(x)\n    return x", "v = display"]


@pytest.mark.parametrize("ps", sorted(p.name for p in (ROOT / "solutions").glob("ps*") if p.is_dir()))
def test_correct_notebooks_keep_every_graded_name_without_notes(ps):
    a = load_assignment(ps, source_dir=ROOT / "solutions")
    source = nbformat.read(ROOT / "solutions" / ps / f"{ps}.ipynb", as_version=4)
    cells = parse_notebook(nbformat.writes(correct_notebook(source)).encode())
    code = extract_student_code(cells, test_ids=a.test_ids, test_texts=a.test_sources_for_matching)
    assert code.notes == [], code.notes
    names_kept = set()
    for node in code.nodes:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names_kept.add(node.name)
    wanted = set()
    for cell in cells:
        if cell.nbgrader.get("solution") and cell.cell_type == "code":
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    wanted.add(node.name)
    assert wanted <= names_kept, f"{ps}: solution functions not kept: {sorted(wanted - names_kept)}"
    forb = a.forbidden
    assert analyze(code.nodes, forb.get("modules", []), forb.get("names", [])) == {}, \
        f"{ps}: the reference solution must not be flagged"


# ----------------------------------------------------------------------------- what the release itself skips

PS_NAMES = sorted(p.name for p in (ROOT / "solutions").glob("ps*") if p.is_dir())


@pytest.mark.parametrize("ps", PS_NAMES)
def test_the_template_from_the_source_is_the_released_notebooks(ps):
    """The grader knows the release from the source (solution regions become nbgrader's stub):
    its top-level statements are exactly those of the committed release in exercises/."""
    src = load_assignment(ps, source_dir=ROOT / "solutions")
    rel = load_assignment(ps, source_dir=ROOT / "exercises", released=True)
    assert src.template and src.template == rel.template, sorted(src.template ^ rel.template)[:5]
    assert "raise NotImplementedError()" in src.template


def _ps1(kind: str, extra: str = ""):
    name = "ps1_convolution"
    if kind == "blank":
        data = (ROOT / "exercises" / name / f"{name}.ipynb").read_bytes()
    else:
        data = nbformat.writes(correct_notebook(nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb",
                                                              as_version=4))).encode()
    cells = parse_notebook(data)
    if extra:      # the student writes `extra` at the end of conv2d_single's cell
        cell = next(c for c in cells if c.grade_id == "conv2d_single")
        cell.source += "\n" + extra
    return cells


@pytest.mark.parametrize("kind, skipped", [("blank", 13), ("perfect", 6)])
def test_the_released_notebooks_own_top_level_lines_are_not_the_students(kind, skipped):
    """ps1's demo cells (`show_coverage(...)`) and unanswered `raise NotImplementedError()` lines
    are skipped while grading but are the release's, not the student's: no statement is named.
    Before, ``extract_student_code`` had no ``released`` and the note counted 13 and 6."""
    a = load_assignment("ps1_convolution", source_dir=ROOT / "solutions")
    code = extract_student_code(_ps1(kind), test_ids=a.test_ids, test_texts=a.test_sources_for_matching,
                                released=a.template)
    assert code.skipped == skipped and code.added_skipped == [], code.added_skipped


def test_a_top_level_statement_the_student_adds_is_named():
    a = load_assignment("ps1_convolution", source_dir=ROOT / "solutions")
    cells = _ps1("perfect", "x = conv2d_single(np.eye(3), np.eye(2))   \nshow_coverage((6, 6), k=3, stride=1, padding=0); print(x)")
    code = extract_student_code(cells, test_ids=a.test_ids, test_texts=a.test_sources_for_matching,
                                released=a.template)
    # the copy of a demo line is the release's own text (whatever cell it is in); `print(x)` beside it is not
    assert [s["src"] for s in code.added_skipped] == ["x = conv2d_single(np.eye(3), np.eye(2))", "print(x)"]
    assert all(s["where"].startswith("def conv2d_single(") for s in code.added_skipped)
    first = code.added_skipped[0]["lineno"]
    assert [s["lineno"] for s in code.added_skipped] == [first, first + 1]


def test_a_students_own_copy_stands_for_the_release_only_outside_solution_cells(tmp_path):
    """`cnn-course check` on the student's copy (no pristine release): a solution cell counts as
    the bare stub, so what the student wrote there at top level is still named."""
    name = "ps1_convolution"
    (tmp_path / name).mkdir()
    cells = _ps1("perfect", "x = conv2d_single(np.eye(3), np.eye(2))")
    nb = correct_notebook(nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4))
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "conv2d_single").source = next(
        c.source for c in cells if c.grade_id == "conv2d_single")
    nbformat.write(nb, tmp_path / name / f"{name}.ipynb")
    own = load_assignment(name, source_dir=tmp_path, released=True, own_copy=True)
    code = extract_student_code(cells, test_ids=own.test_ids, test_texts=own.test_sources_for_matching,
                                released=own.template)
    assert [s["src"] for s in code.added_skipped] == ["x = conv2d_single(np.eye(3), np.eye(2))"]
    trusting = load_assignment(name, source_dir=tmp_path, released=True)      # as if it were the release
    assert extract_student_code(cells, released=trusting.template).added_skipped == []


def test_comparing_skipped_statements_with_the_release_is_linear(python_calls):
    """Every skipped top-level statement is compared with the release by one key (its own text):
    calls per statement are the same for 100 and 400 cells of skipped ones, and at most 5 are named
    in the note, however many there are."""
    released = released_statements(["show_x(1)\nprint(2)"])
    per_stmt = []
    for n in (100, 400):
        cells = [f"show_x({i + 10})\nprint(model_{i}.fit(x, y))\nshow_x(1)\n" for i in range(n)]
        data = nb_bytes("import numpy as np\n", *cells)
        code, work = python_calls(lambda: extract_student_code(parse_notebook(data), released=released))
        assert code.skipped == 3 * n and len(code.added_skipped) == 2 * n
        per_stmt.append(work / code.skipped)
    assert per_stmt[1] < 1.1 * per_stmt[0], f"calls per statement: {per_stmt}"
    note = ENGINE._skipped_note(code.added_skipped)
    assert note.startswith("800 top-level statement(s)") and "`show_x(12)` (" in note and "and 795 more" in note
    assert "print(model_2." not in note, note                     # the sixth is not named


def test_statement_key_is_the_statements_own_text():
    src = "a = 1; show_x(a)   \nf(1,  # b\n\n  2)  # c\n"
    tree = ast.parse(src)
    lines = src.splitlines(True)
    # from its first column to its last: not a `;` neighbour, blank lines or a comment after it
    assert [statement_key(lines, n) for n in tree.body] == ["a = 1", "show_x(a)", "f(1,  # b\n  2)"]
    assert released_statements(["%matplotlib inline\nshow_x(1)", "def f(:"]) == {
        "get_ipython().run_line_magic('matplotlib', 'inline')", "show_x(1)"}


# ----------------------------------------------------------------------------- caps and unsafe text

def test_a_hundred_thousand_cells_are_refused_without_looking_at_each(python_calls):
    data = IC._many_cells(100_000)
    assert len(data) < CAPS["file_bytes"]
    err, work = python_calls(lambda: parse_notebook(data))
    assert isinstance(err, InvalidSubmission) and "too many cells: 100,000, the limit is 2,000" in str(err), err
    assert work < 1_000, f"refusing a notebook for its cell count took {work:,} calls: it must not visit each cell"


def _near_cap_cells(limit_chars: int, limit_cells: int) -> list[str]:
    body = "".join(f"    v{j} = np.maximum(x, {j}) * w + b / (1 + j{j % 7})\n" for j in range(14))
    cells, total = [], 0
    while True:
        src = f"def f{len(cells)}(x, w=1.0, b=0.0, j0=1, j1=2, j2=3, j3=4, j4=5, j5=6, j6=7):\n{body}    return v13\n"
        if total + len(src) > limit_chars or len(cells) >= limit_cells:
            return cells
        cells.append(src)
        total += len(src)


def test_a_near_cap_notebook_is_extracted_whole():
    cells = _near_cap_cells(CAPS["code_chars"] * 0.95, CAPS["cells"] - 1)
    code = extract_student_code(parse_notebook(nb_bytes("import numpy as np\n", *cells)))
    assert len(code.defined) == len(cells) and code.notes == []


def test_extraction_work_grows_linearly_with_the_notebook(python_calls):
    """Work per cell is the same for 100 and 400 cells (no pass over the whole notebook per
    cell); how long a near-cap notebook takes is measured by make bench."""
    per_cell = []
    for n in (100, 400):
        data = nb_bytes("import numpy as np\n", *_near_cap_cells(10**9, n))
        code, work = python_calls(lambda: extract_student_code(parse_notebook(data)))
        assert len(code.defined) == n
        per_cell.append(work / n)
    assert per_cell[1] < 1.1 * per_cell[0], f"calls per cell: {per_cell[0]:,.0f} for 100 cells, {per_cell[1]:,.0f} for 400"


def test_file_cell_and_code_size_caps_name_the_cap_and_the_value(tmp_path):
    big = tmp_path / "big.ipynb"
    big.write_bytes(nb_bytes("x = 1\n") + b" " * (CAPS["file_bytes"] + 10))
    with pytest.raises(InvalidSubmission, match=r"too large: 8\.0 MB, the limit is 8\.0 MB"):
        read_notebook(big)
    with pytest.raises(InvalidSubmission, match=r"code cell 2 is too large: 200,001 characters, the limit is 200,000"):
        parse_notebook(nb_bytes("x = 1\n", "#" * 200_001))
    with pytest.raises(InvalidSubmission, match=r"too much code: more than 400,000 characters .*cell 3"):
        parse_notebook(nb_bytes("#" * 150_000, "#" * 150_000, "#" * 150_000))
    with pytest.raises(InvalidSubmission, match=r"too many cells: 3, the limit is 2"):
        parse_notebook(nb_bytes("a = 1", "b = 2", "c = 3"), caps={"cells": 2})


@pytest.mark.parametrize("expr", ["+".join(["1"] * 3000), "-" * 50000 + "1", "f" + "()" * 20000,
                                  "f(" * 150 + "1" + ")" * 150, "a" + ".b" * 30000, "lambda: " * 3000 + "1"])
def test_deeply_nested_code_is_a_note_not_a_crash(expr):
    code = code_of(f"DEEP = {expr}\n", "def ok():\n    return 1\n")
    assert set(code.defined) == {"ok"} and kept(code) == ["def ok():\n    return 1"]
    assert len(code.notes) == 1 and "the cell starting `DEEP = " in code.notes[0] and "was not run" in code.notes[0] and "nested too deeply" in code.notes[0]


def test_lone_surrogates_are_replaced_when_read():
    data = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["x = '\ud800'  # \udce9\n"],
         "metadata": {"nbgrader": {"grade_id": "id\udfff", "solution": True}}}]}).encode()
    assert b"\\ud800" in data
    cells = parse_notebook(data)
    assert cells[0].source == "x = '\ufffd'  # \ufffd\n" and cells[0].grade_id == "id\ufffd"
    cells[0].source.encode("utf-8")
    code = extract_student_code(cells)
    assert kept(code) == ["x = '\ufffd'"]


# ----------------------------------------------------------------------------- the integrity corpus

ICASES = {c.name: c for c in IC.CASES}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if ENGINE.isolation_available() is None:
        pytest.skip("needs Linux namespaces (root + unshare)")
    folder = tmp_path_factory.mktemp("integrity")
    assignment = load_assignment("toy", source_dir=C.FIXTURES)
    paths = {c.name: C.materialize(c, folder) for c in IC.CASES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(ENGINE.grade_notebook, assignment, paths[n], n, limits=ICASES[n].limits, seed=0)
                   for n in paths}
        return {n: f.result() for n, f in futures.items()}


@pytest.mark.parametrize("name", list(ICASES))
def test_integrity_case(graded, name):
    case = ICASES[name]
    result = graded[name]
    assert result.status == case.status, (result.status, result.message)
    if case.status != "graded":
        assert result.score == 0 and result.message
        return
    got = {t.name: t.status for t in result.tests if t.status != "passed"}
    assert got == case.failing, {t.name: (t.status, t.message) for t in result.tests if t.status != "passed"}
    assert result.score == case.score
    msgs = {t.name: t.message for t in result.tests}
    for test, needle in case.message_has.items():
        assert needle.lower() in msgs[test].lower(), msgs[test]


def test_correct_styles_get_no_spurious_notes(graded):
    for name in ("black_percent_continuation", "black_ne_continuation", "lambda_alias", "loop_built_table",
                 "display_in_function", "concat_after_skipped_loop", "lone_surrogate_in_source"):
        message = graded[name].message
        for bad in ("Error", "could not", "was not run"):
            assert bad not in message, (name, message)


def test_cheaters_score_no_more_than_honest_wrong_code(graded):
    honest_wrong_conv = 9 - 4          # conv1d's two tests (4 points) fail, everything else passes
    for name in ("exec_after_meta_path", "getattr_join_internals", "top_level_dynamic_code"):
        assert graded[name].score <= honest_wrong_conv, (name, graded[name].score)


def test_deep_nesting_and_cell_count_messages(graded):
    assert "nested too deeply" in graded["deeply_nested_cell"].message
    assert "too many cells" in graded["hundred_thousand_cells"].message
