"""Run the ps2_shapes source notebook in-process, optionally with solution cells replaced.

Used by tests/test_ps2_notebook.py and tests/test_ps2_mutants.py. The notebook's code
cells run in one namespace, in order, as Jupyter runs them; each test cell's outcome is
recorded instead of stopping the run.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[3]
NAME = "ps2_shapes"
SOURCE = ROOT / "solutions" / NAME / f"{NAME}.ipynb"
RELEASED = ROOT / "exercises" / NAME / f"{NAME}.ipynb"
MUTANTS_FILE = Path(__file__).with_name("mutants.py")

# graded functions, in the order of the notebook; a test belongs to the function whose
# name is the longest prefix of its grade_id after "test_"
FUNCTIONS = ["conv_output_size", "layer_output_shape", "layer_param_count", "summarize",
             "practice_layers", "mnist_cnn_layers", "bn_cnn_layers", "lenet5_layers", "vgg16_layers",
             "alexnet_c1_input_size", "alexnet_layers"]


def function_of(grade_id: str) -> str:
    name = grade_id[len("test_"):]
    owners = [f for f in FUNCTIONS if name == f or name.startswith(f + "_")]
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

    @property
    def failed(self) -> list[str]:
        return [g for g, r in self.results.items() if not r.passed]

    def failed_for(self, function: str) -> list[str]:
        return [g for g in self.failed if function_of(g) == function]

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results.values() if r.passed)

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.results.values())


def load(path: Path = SOURCE) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    meta = nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def test_cells(nb) -> list:
    return [c for c in nb.cells if is_test(c)]


def replace_solution(nb, replacements: dict):
    """A copy of ``nb`` whose solution cells ``{grade_id: source}`` hold the given sources."""
    nb = nbformat.from_dict(nb)                      # deep copy
    todo = dict(replacements)
    for cell in nb.cells:
        meta = nbgrader(cell)
        if meta.get("solution") and meta.get("grade_id") in todo:
            cell.source = todo.pop(meta["grade_id"])
    if todo:
        raise KeyError(f"no solution cell with grade_id {sorted(todo)}")
    return nb


def run_notebook(nb) -> Run:
    """Execute the code cells in one namespace; record each test cell's outcome."""
    ns: dict = {"__name__": "__main__"}
    run = Run()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader(cell)
        gid = meta.get("grade_id", "cell")
        code = compile(cell.source, f"<{gid}>", "exec")
        if not is_test(cell):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, ns)
            continue
        hidden = "### BEGIN HIDDEN TESTS" in cell.source
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, ns)
            run.results[gid] = CellResult(gid, float(meta.get("points", 0)), hidden, True)
        except Exception as exc:  # noqa: BLE001 - a failing test cell is data here
            run.results[gid] = CellResult(gid, float(meta.get("points", 0)), hidden, False,
                                          f"{type(exc).__name__}: {exc}")
    return run


# --------------------------------------------------------------------------- mutants
def load_mutants() -> dict[str, tuple[str, str]]:
    """{mutant name: (target function, source of the replacement solution cell)}.

    A mutant ``f__what`` in mutants.py is renamed ``f``; the ``_mut_*`` helpers it calls
    are put in front of it.
    """
    spec = importlib.util.spec_from_file_location("ps2_mutants", MUTANTS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    helpers = {name: inspect.getsource(obj) for name, obj in vars(module).items()
               if inspect.isfunction(obj) and name.startswith("_mut_")}
    out = {}
    for name, obj in vars(module).items():
        if not inspect.isfunction(obj) or "__" not in name or name.startswith("_"):
            continue
        target = name.split("__")[0]
        if target not in FUNCTIONS:
            raise KeyError(f"mutant {name} targets unknown function {target}")
        src = inspect.getsource(obj).replace(f"def {name}(", f"def {target}(", 1)
        used = [h for h in helpers if h + "(" in src]
        out[name] = (target, "\n\n".join([helpers[h] for h in used] + [src]))
    return out


def mutant_kind(name: str) -> str:
    what = name.split("__", 1)[1]
    if what.startswith("ok_"):
        return "ok"
    if what.startswith("forbidden_"):
        return "forbidden"
    return "wrong"


# ------------------------------------------------------------- packing mutants for the engine
# which graded functions a test cell calls (directly or through the student's own code:
# summarize calls layer_output_shape and layer_param_count, layer_output_shape calls
# conv_output_size); hidden tests of the networks call only the network function and `ref`
_CALLS = {
    "conv_output_size": {"conv_output_size"},
    "layer_output_shape": {"layer_output_shape", "conv_output_size"},
    "layer_param_count": {"layer_param_count"},
    "summarize": {"summarize", "layer_output_shape", "layer_param_count", "conv_output_size"},
}


def calls(grade_id: str, hidden: bool) -> set:
    """The graded functions test ``grade_id`` depends on."""
    f = function_of(grade_id)
    if f in _CALLS:
        return _CALLS[f]
    if hidden:
        return {f}
    if f == "alexnet_c1_input_size":
        return {f, "conv_output_size"}
    return {f} | _CALLS["summarize"]


def pack(mutants: dict, caught_by: dict, hidden: dict) -> list[list[str]]:
    """Group wrong mutants into few notebooks, each mutant still caught by a test that no
    other mutant of its notebook can affect.

    caught_by: {mutant: grade_ids of its own function's tests it fails when alone};
    hidden: {grade_id: is hidden}. Returns lists of mutant names (distinct targets each).
    """
    groups: list[list[str]] = []

    def clean(name, targets):
        return any(calls(t, hidden[t]) & targets == {mutants[name][0]} for t in caught_by[name])

    for name in mutants:
        for group in groups:
            targets = {mutants[m][0] for m in group} | {mutants[name][0]}
            if len(targets) == len(group) + 1 and all(clean(m, targets) for m in [*group, name]):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups
