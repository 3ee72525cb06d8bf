"""Run the ps1 source notebook in-process, optionally with a function's solution replaced.

Used by tests/test_ps1_notebook.py and tests/test_ps1_mutants.py. The notebook's code
cells run in one namespace in order, the way Jupyter runs them (lines starting with
``%`` or ``!`` are skipped); each test cell's outcome is recorded instead of stopping.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "solutions" / "ps1_convolution" / "ps1_convolution.ipynb"
MUTANTS_FILE = Path(__file__).with_name("mutants.py")

# graded functions in the order of the notebook; a test belongs to the function whose
# name is the longest prefix of its grade_id after "test_"
FUNCTIONS = ["conv_output_size", "zero_pad", "same_padding", "conv2d_single", "conv2d",
             "pool2d", "conv_param_count", "practice_network"]


def function_of(grade_id: str) -> str:
    name = grade_id[len("test_"):]
    owners = [f for f in FUNCTIONS if name.startswith(f + "_")]
    if not owners:
        raise KeyError(f"test {grade_id!r} belongs to no graded function")
    return max(owners, key=len)


@dataclass
class CellResult:
    grade_id: str
    points: float
    hidden: bool
    passed: bool
    error: str = ""


@dataclass
class Run:
    results: dict = field(default_factory=dict)      # grade_id -> CellResult
    namespace: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [g for g, r in self.results.items() if not r.passed]

    def failed_for(self, function: str) -> list[str]:
        return [g for g in self.failed if function_of(g) == function]

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results.values() if r.passed)


def load(path: Path = SOURCE) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    meta = nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_hidden(source: str) -> bool:
    return "### BEGIN HIDDEN TESTS" in source


def runnable(source: str) -> str:
    """The cell's code without IPython magics and shell escapes."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def test_cells(nb) -> list:
    return [c for c in nb.cells if is_test(c)]


def replace_solution(nb, function: str, source: str):
    """A copy of ``nb`` whose solution cell ``function`` holds ``source`` instead."""
    nb = nbformat.from_dict(nb)                      # deep copy
    for cell in nb.cells:
        if nbgrader(cell).get("grade_id") == function and nbgrader(cell).get("solution"):
            cell.source = source
            return nb
    raise KeyError(f"no solution cell with grade_id {function!r}")


def run_notebook(nb, *, skip_demos: bool = True) -> Run:
    """Execute the code cells in one namespace; record each test cell's outcome.

    Plain (ungraded) code cells are demos and plots; with ``skip_demos`` they are not run.
    Matplotlib uses the Agg backend and ``plt.show`` does nothing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns: dict = {"__name__": "__main__"}
    run = Run(namespace=ns)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader(cell)
        code = runnable(cell.source)
        if is_test(cell):
            gid = meta["grade_id"]
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, f"<{gid}>", "exec"), ns)
                run.results[gid] = CellResult(gid, float(meta.get("points", 0)), is_hidden(code), True)
            except Exception as exc:  # noqa: BLE001 - a failing test cell is data here
                run.results[gid] = CellResult(gid, float(meta.get("points", 0)), is_hidden(code), False,
                                              f"{type(exc).__name__}: {exc}")
            continue
        if not meta and skip_demos:
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"<{meta.get('grade_id', cell.get('id', 'cell'))}>", "exec"), ns)
        plt.close("all")
    return run


# --------------------------------------------------------------------------- mutants
def load_mutants() -> dict[str, tuple[str, str]]:
    """{mutant name: (target function, source of the replacement solution cell)}.

    In ``mutants.py`` a mutant of function ``f`` is a function named ``f__what``; its
    source is renamed to ``f`` for injection. Module-level names the mutants use are not
    available: each mutant is self-contained apart from the notebook's own functions.
    """
    spec = importlib.util.spec_from_file_location("ps1_mutants", MUTANTS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    helpers = {name: inspect.getsource(obj) for name, obj in vars(module).items()
               if inspect.isfunction(obj) and name.startswith("_mut_")}
    out = {}
    for name, obj in vars(module).items():
        if not (inspect.isfunction(obj) and "__" in name and not name.startswith("_")):
            continue
        target = name.split("__", 1)[0]
        if target not in FUNCTIONS:
            raise ValueError(f"mutant {name!r} targets unknown function {target!r}")
        src = inspect.getsource(obj)
        src = re.sub(rf"^def {re.escape(name)}\(", f"def {target}(", src, count=1, flags=re.M)
        used = [h for h in helpers if re.search(rf"\b{h}\(", src)]
        prefix = "import math\n\n" if re.search(r"\bmath\.", src) else ""
        src = prefix + "".join(helpers[h] + "\n\n" for h in used) + src
        ast.parse(src)
        out[name] = (target, src)
    return out


def mutant_kind(name: str) -> str:
    """'ok' (a correct variant), 'forbidden' (right values, forbidden API) or 'wrong'."""
    what = name.split("__", 1)[1]
    if what.startswith("ok_"):
        return "ok"
    if what.startswith("forbidden_"):
        return "forbidden"
    return "wrong"
