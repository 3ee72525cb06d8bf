"""Run an assignment's source notebook in-process, optionally with solution cells replaced.

Shared by the notebook and mutant tests of every assignment with mutants (ps1, ps2, ps5, ps6:
tests/exercises/test_ps*_notebook.py, test_ps*_mutants.py, test_ps6_grading.py); each
assignment's constants (its name, graded functions and mutants file) are in
tests/mutants/<ps>/harness.py, which makes an ``Assignment`` of them. The notebook's code cells
run in one namespace in order, the way Jupyter runs them (lines starting with ``%`` or ``!``
are skipped); each test cell's outcome is recorded instead of stopping the run.

Test cells that call ``autograder.tools.run_student`` / ``run_probe`` (``Assignment(...,
tools=...)``) get in-process stand-ins: the code (a probe read from the assignment's
grading.toml) runs in the namespace of the notebook being executed (the caller's globals),
with inputs deep-copied as the grader's transfer to the sandbox copies them.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import importlib.util
import inspect
import io
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CellResult:
    grade_id: str
    points: float
    hidden: bool
    passed: bool
    error: str = ""


@dataclass
class Run:
    function_of: Callable[[str], str]
    results: dict = field(default_factory=dict)      # grade_id -> CellResult
    namespace: dict = field(default_factory=dict)
    demo_errors: dict = field(default_factory=dict)  # cell id -> error of a plain (demo) cell

    @property
    def failed(self) -> list[str]:
        return [g for g, r in self.results.items() if not r.passed]

    def failed_for(self, function: str) -> list[str]:
        return [g for g in self.failed if self.function_of(g) == function]

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results.values() if r.passed)

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.results.values())


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


def filled_release(source, released):
    """The released notebook with every stub filled in with the source's solution (the
    ``### BEGIN/END SOLUTION`` lines dropped): what a student who solved everything hands in."""
    filled = released
    for cell in source.cells:
        meta = nbgrader(cell)
        if meta.get("solution"):
            text = "\n".join(line for line in cell.source.splitlines()
                             if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
            filled = replace_solution(filled, {meta["grade_id"]: text})
    return filled


def run_in(ns: dict, code: str, inputs: dict):
    """``code`` run in a copy of namespace ``ns`` with deep copies of ``inputs``; its ``result``."""
    namespace = dict(ns)
    namespace.update(copy.deepcopy(inputs))
    exec(compile(code, "<run_student>", "exec"), namespace)
    if "result" not in namespace:
        raise AssertionError("the checked code did not set `result`")
    return copy.deepcopy(namespace["result"])


def edit_source(source: str, edits, name: str = "mutant") -> str:
    """``source`` with each ``(old, new)`` of ``edits`` applied (every occurrence of ``old``,
    which must occur: a mutant that changes nothing is an error, not a silent copy)."""
    for old, new in edits:
        if old not in source:
            raise ValueError(f"{name}: {old!r} is not in the reference source")
        source = source.replace(old, new)
    return source


def mutant_kind(name: str) -> str:
    """'ok' (a correct variant), 'forbidden' (right values, forbidden API) or 'wrong'."""
    what = name.split("__", 1)[1]
    if what.startswith("ok_"):
        return "ok"
    if what.startswith("forbidden_"):
        return "forbidden"
    return "wrong"


class Assignment:
    """One assignment's notebooks, graded functions and mutants.

    ``functions``: the graded functions in the order of the notebook; a test belongs to the
    function whose name is the longest prefix of its grade_id after "test_".
    ``skip_demos``: the default of ``run_notebook``'s argument of that name.
    ``tools``: the ``autograder.tools`` functions (``run_student``, ``run_probe``) the test cells
    call, replaced in-process while the notebook runs.
    """

    ROOT = ROOT
    nbgrader = staticmethod(nbgrader)
    is_test = staticmethod(is_test)
    is_hidden = staticmethod(is_hidden)
    test_cells = staticmethod(test_cells)
    replace_solution = staticmethod(replace_solution)
    filled_release = staticmethod(filled_release)
    mutant_kind = staticmethod(mutant_kind)

    def __init__(self, name: str, functions: list[str], mutants_file: Path, *, skip_demos: bool,
                 answers: list[str] | None = None, tools: tuple[str, ...] = ()):
        self.NAME = name
        self.FUNCTIONS = list(functions)
        # predict-before-run questions: solution cells binding plain values (by default the
        # functions named answer_*)
        self.ANSWERS = [f for f in functions if f.startswith("answer_")] if answers is None else list(answers)
        self.SOURCE = ROOT / "solutions" / name / f"{name}.ipynb"
        self.RELEASED = ROOT / "exercises" / name / f"{name}.ipynb"
        self.GRADING = ROOT / "solutions" / name / "grading.toml"
        self.MUTANTS_FILE = Path(mutants_file)
        self.skip_demos = skip_demos
        unknown = set(tools) - {"run_student", "run_probe"}
        if unknown:
            raise ValueError(f"no in-process stand-in for {sorted(unknown)}")
        self.tools = tuple(tools)
        self.PROBES = tomllib.loads(self.GRADING.read_text()).get("probes", {}) if tools else {}

    def run_student(self, code: str, **inputs):
        """In-process ``autograder.tools.run_student``, called from a notebook cell."""
        return run_in(sys._getframe(1).f_globals, code, inputs)

    def run_probe(self, name: str, **inputs):
        """In-process ``autograder.tools.run_probe``: the probe ``name`` of grading.toml."""
        return run_in(sys._getframe(1).f_globals, self.PROBES[name], inputs)

    @contextlib.contextmanager
    def stand_ins(self):
        """``autograder.tools``' functions in ``self.tools`` replaced by the in-process ones."""
        if not self.tools:
            yield
            return
        import autograder.tools as tools     # the project's own engine: an ImportError fails

        saved = {name: getattr(tools, name, None) for name in self.tools}
        for name in self.tools:
            setattr(tools, name, getattr(self, name))
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(tools, name, value)

    def function_of(self, grade_id: str) -> str:
        name = grade_id[len("test_"):]
        owners = [f for f in self.FUNCTIONS if name == f or name.startswith(f + "_")]
        if not owners:
            raise KeyError(f"test {grade_id!r} belongs to no graded function")
        return max(owners, key=len)

    def load(self, path: Path | None = None) -> nbformat.NotebookNode:
        return nbformat.read(str(path or self.SOURCE), as_version=4)

    def run_notebook(self, nb, *, skip_demos: bool | None = None) -> Run:
        """Execute the code cells in one namespace; record each test cell's outcome.

        Plain (ungraded) code cells are demos and plots; with ``skip_demos`` they are not run.
        Matplotlib uses the Agg backend and ``plt.show`` does nothing.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if skip_demos is None:
            skip_demos = self.skip_demos
        with self.stand_ins():
            return self._run_cells(nb, skip_demos, plt)

    def _run_cells(self, nb, skip_demos: bool, plt) -> Run:
        ns: dict = {"__name__": "__main__"}
        run = Run(self.function_of, namespace=ns)
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
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, f"<{meta.get('grade_id', cell.get('id', 'cell'))}>", "exec"), ns)
            except NotImplementedError:
                # a stub: an unanswered answer cell (`answer = None` then the raise; the grader
                # keeps the None, as here) or a demo calling a function not written yet; as in
                # Jupyter, only that cell stops
                if meta.get("locked"):
                    raise
            except Exception as exc:  # noqa: BLE001 - a demo (plot, table) failing on a wrong function
                if meta.get("locked") or meta.get("solution"):
                    raise
                run.demo_errors[cell.get("id", "cell")] = f"{type(exc).__name__}: {exc}"
            plt.close("all")
        return run

    def load_mutants(self) -> dict[str, tuple[str, str]]:
        """{mutant name: (target function, source of the replacement solution cell)}.

        In the mutants file a mutant of function ``f`` is a function named ``f__what``; its
        source is renamed to ``f`` for injection, with the ``_mut_*`` helpers it calls put in
        front of it (and ``import math`` where the file imports math and the mutant uses it).
        Other module-level names are not available: each mutant is self-contained apart
        from the notebook's own names. A wrong answer to a predict-before-run question is an
        entry of the module's ``ANSWERS`` dict, ``{"answer_x__what": "value source"}``.

        Mutants derived from the reference (the target's solution cell in the source notebook):
        ``EDITS = {"f__what": [(old, new), ...]}`` replaces text in that cell (``edit_source``);
        ``ANSWER_MUTANTS = {"predict_x__what": ("predict_x", "answer_x = wrong")}`` appends a line
        overriding one prediction.
        """
        spec = importlib.util.spec_from_file_location(f"{self.NAME}_mutants", self.MUTANTS_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        helpers = {name: inspect.getsource(obj) for name, obj in vars(module).items()
                   if inspect.isfunction(obj) and name.startswith("_mut_")}
        module_math = inspect.ismodule(vars(module).get("math"))
        out = {}
        for name, obj in vars(module).items():
            if not (inspect.isfunction(obj) and "__" in name and not name.startswith("_")):
                continue
            target = name.split("__", 1)[0]
            if target not in self.FUNCTIONS:
                raise ValueError(f"mutant {name!r} targets unknown function {target!r}")
            src = inspect.getsource(obj)
            src = re.sub(rf"^def {re.escape(name)}\(", f"def {target}(", src, count=1, flags=re.M)
            used = [h for h in helpers if re.search(rf"\b{h}\(", src)]
            prefix = "import math\n\n" if module_math and re.search(r"\bmath\.", src) else ""
            src = prefix + "".join(helpers[h] + "\n\n" for h in used) + src
            ast.parse(src)
            out[name] = (target, src)
        # answer cells (``answer_x = value``): ANSWERS = {"answer_x__what": "the wrong value's source"}
        for name, value in getattr(module, "ANSWERS", {}).items():
            target = name.split("__", 1)[0]
            if target not in self.FUNCTIONS:
                raise ValueError(f"answer mutant {name!r} targets unknown answer {target!r}")
            src = f"{target} = {value}\n"
            ast.parse(src)
            out[name] = (target, src)
        derived = {**{name: (name.split("__", 1)[0], edits) for name, edits in getattr(module, "EDITS", {}).items()},
                   **getattr(module, "ANSWER_MUTANTS", {})}
        if derived:
            reference = {nbgrader(c).get("grade_id"): c.source for c in self.load().cells
                         if nbgrader(c).get("solution")}
        for name, (target, change) in derived.items():
            if target not in self.FUNCTIONS or name.split("__", 1)[0] != target:
                raise ValueError(f"mutant {name!r} targets unknown function {target!r}")
            if isinstance(change, str):          # an answer mutant: one more line
                src = reference[target] + "\n" + change + "\n"
            else:
                src = edit_source(reference[target], change, name)
            ast.parse(src)
            out[name] = (target, src)
        return out
