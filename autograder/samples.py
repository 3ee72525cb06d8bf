"""Sample submissions for ``cnn-course demo`` (and a tiny assignment for tests).

Submissions are generated from the instructor sources at demo time, so no notebook holding
solutions is ever committed outside ``solutions/``:

=============  =====================================================================
``correct``    the source notebook with the hidden tests taken out (solutions filled in)
``partly``     the correct notebook with one function replaced by a wrong version
``blank``      the released notebook, untouched
``broken``     invalid JSON
``cheating``   the blank notebook plus code that redefines ``np.allclose`` and the test
               helpers, copies answers from ``solutions/``, calls ``os._exit`` in one
               function and starts a detached background process
=============  =====================================================================
"""
from __future__ import annotations

import ast
import copy
import textwrap
from pathlib import Path

import nbformat

from autograder.cells import BEGIN_SOLUTION, END_SOLUTION, nbgrader_of, public_part, solved
from autograder.release import write_notebook

SAMPLE_KINDS = ("correct", "partly", "blank", "broken", "cheating")

# Wrong versions of known functions: the body that replaces the solution region.
# Each is a classic mistake the feedback should recognise.
WRONG_BODIES = {
    "conv_output_size": "return (n + 2 * p - k) // s  # forgot the + 1",
    "zero_pad": "return np.pad(X, pad)  # pads every axis, channels included",
    "conv2d_single": "return np.zeros((1, 1))",
    "pool2d": "return X[..., ::2, ::2]",
    "conv_param_count": "return k * k * c_in * c_out  # forgot the biases",
    "layer_output_shape": "return tuple(input_shape)",
    "add": "return a - b",
    "scale": "return x",
    "rel_error": "return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))  # absolute, not relative",
    "evaluate": "return 1.0  # reports a perfect accuracy without measuring it",
    "train_epoch": "return 0.01  # reports a low loss without training",       # ps6: the grader measures
}


def correct_notebook(source_nb):
    """The source notebook as a perfect student would hand it in: solutions kept (markers
    removed), hidden-test regions removed, outputs cleared."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        cell.source = solved(public_part(cell.source))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def _defined_function(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            return node.name
    return None


def partly_wrong_notebook(source_nb, function: str | None = None):
    """The correct notebook with one function's solution region replaced by a wrong body.

    ``function``: which one (default: the last solution cell whose function has a known
    wrong version in :data:`WRONG_BODIES`, else the last solution cell's function).
    Returns ``(notebook, function_name)``.
    """
    nb = copy.deepcopy(source_nb)
    candidates = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and nbgrader_of(cell).get("solution") and BEGIN_SOLUTION in cell.source:
            name = _defined_function(solved(cell.source))
            if name:
                candidates.append((i, name))
    if not candidates:
        raise ValueError("the source notebook has no solution cell defining a function")
    if function is None:
        known = [c for c in candidates if c[1] in WRONG_BODIES]
        index, function = (known or candidates)[-1]
    else:
        matches = [c for c in candidates if c[1] == function]
        if not matches:
            raise ValueError(f"function={function!r}: no solution cell defines it; have {[c[1] for c in candidates]}")
        index = matches[0][0]
    body = WRONG_BODIES.get(function, "return None")
    cell = nb.cells[index]
    lines, out, inside = cell.source.split("\n"), [], False
    for line in lines:
        if BEGIN_SOLUTION in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + b for b in body.split("\n")]
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            out.append(line)
    cell.source = "\n".join(out)
    return correct_notebook(nb), function


CHEAT_CELL = textwrap.dedent(
    '''\
    # Everything a dishonest submission might try. None of it may earn points or
    # disturb the grader.
    import os, subprocess, numpy as np
    np.allclose = lambda *args, **kwargs: True
    np.testing.assert_allclose = lambda *args, **kwargs: None
    np.array_equal = lambda *args, **kwargs: True
    _background = subprocess.Popen(
        ["sh", "-c", "sleep 30; echo pwned > /tmp/cnn-course-cheat.txt"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _peek = [os.listdir(p) for p in (@SOLUTIONS@, "solutions", "../solutions") if os.path.isdir(p)]
    '''
)


def cheating_notebook(released_nb, source_nb, solutions_dir: Path | str = "solutions"):
    """The blank notebook plus cheating: patched comparisons, copied answers, os._exit, a
    detached process, a look into ``solutions_dir`` (the grader's instructor sources, which the
    sandbox hides). Its first solution function calls ``os._exit``; the others try to import
    the reference library (absent in the sandbox)."""
    nb = copy.deepcopy(released_nb)
    first = True
    for cell in nb.cells:
        meta = nbgrader_of(cell)
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        name = _defined_function(cell.source)
        if not name:
            continue
        if first:
            body = "import os\n    os._exit(0)"
            first = False
        else:
            body = f"import solutions as _ref\n    return _ref.{name}(*args, **kwargs)"
        cell.source = f"def {name}(*args, **kwargs):\n    {body}\n"
    nb.cells.insert(1, nbformat.v4.new_code_cell(CHEAT_CELL.replace("@SOLUTIONS@", repr(str(solutions_dir)))))
    return nb


def build_samples(source_nb_path: Path | str, released_nb_path: Path | str, out_dir: Path | str,
                  *, kinds=SAMPLE_KINDS) -> dict[str, Path]:
    """Write ``out_dir/<kind>/<notebook>.ipynb`` for each kind; return ``{kind: path}``
    (``source_nb_path`` is ``<source folder>/<name>/<name>.ipynb``: the cheating kind peeks
    into that source folder)."""
    source_nb_path, released_nb_path, out_dir = Path(source_nb_path), Path(released_nb_path), Path(out_dir)
    source = nbformat.read(str(source_nb_path), as_version=4)
    released = nbformat.read(str(released_nb_path), as_version=4)
    name = released_nb_path.name
    paths = {}
    for kind in kinds:
        path = out_dir / kind / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "correct":
            write_notebook(correct_notebook(source), path)
        elif kind == "partly":
            write_notebook(partly_wrong_notebook(source)[0], path)
        elif kind == "blank":
            write_notebook(released, path)
        elif kind == "broken":
            path.write_text('{"cells": [ this is not JSON', encoding="utf-8")
        elif kind == "cheating":
            write_notebook(cheating_notebook(released, source, source_nb_path.resolve().parent.parent), path)
        else:
            raise ValueError(f"kinds: unknown kind {kind!r}; expected some of {SAMPLE_KINDS}")
        paths[kind] = path
    return paths


# ---------------------------------------------------------------- a tiny assignment for tests

TOY_NAME = "toy_add"


def toy_source_notebook():
    """A two-function assignment (``add``, ``scale``) with public and hidden tests: 6 points.

    Written with the exercises' builder dialect (:class:`autograder.authoring.NotebookSource`)."""
    from autograder.authoring import NotebookSource

    nb = NotebookSource()
    nb.md("md-title", "# Toy assignment\nTwo tiny functions to exercise the grader.")
    nb.setup("setup", """
        import numpy as np
        from autograder.tools import assert_close, assert_equal, assert_raises
        """)
    nb.solution("add", '''
        def add(a, b):
            """Element-wise sum of two arrays of the same shape (any shape)."""
            ### BEGIN SOLUTION
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape:
                raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
            return a + b
            ### END SOLUTION
        ''')
    nb.test("test_add_public", 1, """
        assert_equal(add(2, 3), np.array(5), name="add(2, 3)")
        """)
    nb.hidden("test_add_hidden", 2, """
        rng_hidden = np.random.default_rng(7)
        xh, yh = rng_hidden.normal(size=(3, 4)), rng_hidden.normal(size=(3, 4))
        assert_close(add(xh, yh), xh + yh, rtol=1e-12, atol=0, name="add(x, y)")
        assert_raises(ValueError, add, np.ones(2), np.ones(3))
        """)
    nb.solution("scale", '''
        def scale(x, k):
            """Multiply array ``x`` (any shape) by the number ``k``; same shape back."""
            ### BEGIN SOLUTION
            return np.asarray(x) * k
            ### END SOLUTION
        ''')
    nb.test("test_scale_public", 1, """
        assert_close(scale(np.arange(3.0), 2.0), np.array([0.0, 2.0, 4.0]), rtol=0, atol=0, name="scale(arange(3), 2)")
        """)
    nb.hidden("test_scale_hidden", 2, """
        secret_factor_hidden = -3.5
        assert_close(scale(np.eye(3), secret_factor_hidden), -3.5 * np.eye(3), rtol=1e-12, atol=0, name="scale(eye(3), -3.5)")
        """)
    return nb.build()


TOY_GRADING_TOML = """\
[limits]
cpu_per_test = 5
cpu_per_submission = 60
startup_cpu = 20
wall_factor = 3
memory_mb = 4096
output_kb = 64
processes = 32

[forbidden]
modules = ["torch", "tensorflow", "keras", "scipy"]
names = []
"""


def write_toy_source(source_dir: Path | str, name: str = TOY_NAME) -> Path:
    """Write ``source_dir/<name>/<name>.ipynb`` and ``grading.toml``; return the notebook path."""
    folder = Path(source_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    write_notebook(toy_source_notebook(), path)
    (folder / "grading.toml").write_text(TOY_GRADING_TOML, encoding="utf-8")
    return path
