"""The modules of ``autograder/`` import each other without cycles.

The graph is read from the sources with ``ast`` (nothing is imported):

- an edge ``A -> B`` for every ``import autograder.B``, ``from autograder.B import x``,
  ``from .B import x`` and ``from . import B`` in A; ``from P import name`` where ``P.name``
  is a module counts as an import of ``P.name``; importing a submodule also runs the
  ``__init__`` of each package above it (edges to those packages, except A's own);
- *module-level* imports are those outside any ``def``/``class`` (inside a top-level
  ``if``/``try`` included): they run when A is imported, so a cycle among them is an import
  cycle, and must not exist (``test_module_level_imports_are_acyclic``);
- *lazy* imports (inside a function) run only when called; they are counted too
  (``test_imports_with_lazy_ones_are_acyclic``): today the whole graph is a DAG, and a lazy
  import that closes a cycle usually hides a layering problem. ``LAZY_CYCLES_ALLOWED``
  lists the exceptions (none).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "autograder"
LAZY_CYCLES_ALLOWED: set = set()   # frozensets of module names, each with a reason in a comment


def module_files() -> dict:
    mods = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def _ancestors(name: str) -> list:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _targets(mod: str, is_pkg: bool, node, mods: dict) -> set:
    out = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    else:
        base = node.module or ""
        if node.level:
            pkg = mod if is_pkg else mod.rpartition(".")[0]
            for _ in range(node.level - 1):
                pkg = pkg.rpartition(".")[0]
            base = pkg + ("." + node.module if node.module else "")
        if base.split(".")[0] == "autograder":
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base)
    own = set(_ancestors(mod)) | {mod}
    for t in list(out):
        out |= {a for a in _ancestors(t) if a not in own and a in mods}
    return {t for t in out if t in mods} - {mod}


def _imports(body, module_level: bool):
    """(node, at module level?) for every import statement in ``body``, nested ones included."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, module_level
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _imports(node.body, False)
        elif isinstance(node, ast.ClassDef):
            yield from _imports(node.body, module_level)   # a class body runs at import time
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                sub = getattr(node, field, None)
                if isinstance(sub, list):
                    yield from _imports(sub, module_level)


def import_graph(lazy: bool) -> dict:
    """``{module: set of autograder modules it imports}``; lazy imports only if ``lazy``."""
    mods = module_files()
    graph = {}
    for mod, f in mods.items():
        tree = ast.parse(f.read_text(), str(f))
        graph[mod] = set()
        for node, module_level in _imports(tree.body, True):
            if module_level or lazy:
                graph[mod] |= _targets(mod, f.name == "__init__.py", node, mods)
    return graph


def find_cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan), each sorted,
    plus modules importing themselves."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _describe(graph, cycles) -> str:
    lines = []
    for comp in cycles:
        members = set(comp)
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a] & members)]
        lines.append("cycle among " + ", ".join(comp) + " (" + "; ".join(edges) + ")")
    return "\n".join(lines)


def test_the_graph_is_read():
    """Known edges are present, so an empty graph cannot pass the tests below vacuously."""
    graph = import_graph(lazy=False)
    assert "autograder.remote" in graph["autograder.engine"]
    assert {"autograder.sandbox", "autograder.protocol"} <= graph["autograder.remote"]
    assert "autograder.tools.checks" in graph["autograder.engine"]
    assert "autograder.grader_process" in graph["autograder.engine"]
    assert "autograder.engine" not in import_graph(lazy=True)["autograder.grader_process"], (
        "grader_process.py is below engine.py: the grading threads' shared state knows nothing of grading")
    assert "autograder.protocol" in graph["autograder.worker"]
    assert {"autograder.isolation.probe", "autograder.isolation.templates"} <= graph["autograder.sandbox"]
    assert "autograder.isolation.cgroups" in graph["autograder.isolation.probe"]
    grader_side = {"autograder.engine", "autograder.remote", "autograder.sandbox", "autograder.batch",
                   "autograder.intake", "autograder.lateness",
                   "autograder.isolation.probe", "autograder.isolation.backends", "autograder.isolation.templates",
                   "autograder.isolation.cgroups", "autograder.isolation.uids", "autograder.isolation.data",
                   "autograder.cli", "autograder.gradebook", "autograder.release", "autograder.export"}
    assert not graph["autograder.worker"] & grader_side, (
        "the worker runs in the sandbox: it must not import the grader's side, got "
        f"{sorted(graph['autograder.worker'] & grader_side)}")
    assert graph["autograder.bootstrap"] == set(), "bootstrap.py runs with python -I -S: standard library only"
    lazy = import_graph(lazy=True)
    assert "autograder.engine" in lazy["autograder.cli"] and "autograder.engine" not in graph["autograder.cli"]


# A batch, bottom up: intake (what SUBMISSIONS holds) < lateness (when it was handed in, the due
# date and policy) < batch (the driver: runners, resume, outputs). A module may import only the
# layers below it, lazily or not; intake and lateness read files and times, they grade nothing.
BATCH_LAYERS = ("autograder.intake", "autograder.lateness", "autograder.batch")
GRADING = {"autograder.engine", "autograder.grader_process", "autograder.remote", "autograder.sandbox",
           "autograder.distributed", "autograder.gradebook", "autograder.report", "autograder.cli"}


def test_batch_layers():
    lazy = import_graph(lazy=True)
    assert {"autograder.intake", "autograder.lateness"} <= lazy["autograder.batch"]
    assert "autograder.intake" in lazy["autograder.lateness"]
    for i, mod in enumerate(BATCH_LAYERS):
        above = set(BATCH_LAYERS[i + 1:])
        assert not lazy[mod] & above, f"{mod} imports a layer above it: {sorted(lazy[mod] & above)}"
    for mod in BATCH_LAYERS[:2]:
        assert not lazy[mod] & GRADING, f"{mod} reads files and times only, got {sorted(lazy[mod] & GRADING)}"


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"a"}}, [["a"]]),
])
def test_find_cycles(graph, expected):
    assert find_cycles(graph) == expected


def test_module_level_imports_are_acyclic():
    graph = import_graph(lazy=False)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in autograder/ (module-level imports):\n" + _describe(graph, cycles)


def test_imports_with_lazy_ones_are_acyclic():
    graph = import_graph(lazy=True)
    cycles = [c for c in find_cycles(graph) if frozenset(c) not in LAZY_CYCLES_ALLOWED]
    assert not cycles, ("cycles in autograder/ counting imports inside functions (move the shared code "
                        "down a layer, or list the cycle in LAZY_CYCLES_ALLOWED with a reason):\n"
                        + _describe(graph, cycles))
