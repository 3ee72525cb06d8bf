"""No public name is defined in two modules of ``autograder/`` (issue 22: one idea, one place).

Read from the sources with ``ast`` (nothing is imported). A module *defines* a name with a
top-level ``def``, ``class`` or assignment (``X = ...``, ``X: T = ...``, ``X = other.X``: an
alias is a second definition), including those inside a top-level ``if``/``try``/``with``.
Importing a name (``from autograder.store import load_results``) is not defining it. Public
means not starting with ``_``.

Two modules that define one name either hold two copies of one idea (keep one, import it) or
two ideas under one name (rename one): both confuse a reader who greps for the name.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "autograder"

# A module's ``main`` is its ``python -m`` / console-script entry point, always reached through
# its module; every runnable module has one by convention.
CONVENTIONAL = {"main"}

# Duplicates allowed while a change lands in modules other helpers own. Each entry: the name, the
# modules that define it today, and who must remove it. Delete an entry when its copy goes
# (test_allow_list_is_not_stale fails until then). None remain: BUILTIN_NAMES lives in
# protocol.py (both sides of the wire import it), and the largest notebook read is
# notebook.CAPS["file_bytes"].
ALLOWED: dict[str, set[str]] = {}


def _bound(target) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _bound(elt)]
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    return []     # attribute or subscript: binds no name of the module


def defined_names(source: str) -> dict[str, int]:
    """``{name: first line}`` of the public names a module's source defines at its top level."""
    found: dict[str, int] = {}

    def visit(body):
        for node in body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [n for t in node.targets for n in _bound(t)]
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                names = _bound(node.target)
            elif hasattr(ast, "TypeAlias") and isinstance(node, ast.TypeAlias):
                names = _bound(node.name)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                visit(node.body)
            for name in names:
                if not name.startswith("_"):
                    found.setdefault(name, node.lineno)

    visit(ast.parse(source).body)
    return found


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def definitions(pkg: Path = PKG) -> dict[str, dict[str, int]]:
    """``{name: {module: line}}`` for every public name defined in more than one module."""
    where: dict[str, dict[str, int]] = {}
    for path in sorted(pkg.rglob("*.py")):
        for name, line in defined_names(path.read_text(encoding="utf-8")).items():
            where.setdefault(name, {})[module_name(path, pkg.parent)] = line
    return {n: mods for n, mods in where.items() if len(mods) > 1 and n not in CONVENTIONAL}


def test_the_reader_counts_definitions_not_imports():
    src = (
        "from autograder.store import load_results\n"
        "import autograder.text as text\n"
        "from x import *\n"
        "A = 1\n"
        "B: int = 2\n"
        "C: int\n"                      # an annotation alone binds nothing
        "D, (E, *F) = 1, (2, 3)\n"
        "G = text.safe_text\n"          # an alias is a definition
        "_private = 3\n"
        "obj.attr = 4\n"
        "if A:\n    def H(): pass\nelse:\n    def H(): pass\n"
        "try:\n    import numpy\nexcept ImportError:\n    class I: pass\n"
        "def J():\n    K = 1\n"         # names inside a function are not the module's
        "class L:\n    M = 1\n"
    )
    assert set(defined_names(src)) == {"A", "B", "D", "E", "F", "G", "H", "I", "J", "L"}


def test_a_second_definition_is_found(tmp_path):
    pkg = tmp_path / "autograder"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("def read_roster(path):\n    return []\nmain = None\n")
    (pkg / "b.py").write_text("from autograder.a import read_roster\n\ndef main(): pass\n")
    (pkg / "sub" / "__init__.py").write_text("x = 1\n")
    (pkg / "sub" / "c.py").write_text("\n\nread_roster = lambda path: {}\n")
    found = definitions(pkg)
    assert found == {"read_roster": {"autograder.a": 1, "autograder.sub.c": 3}}


def _describe(dups: dict) -> str:
    return "\n".join(f"  {name}: " + ", ".join(f"{m}:{line}" for m, line in sorted(mods.items()))
                     for name, mods in sorted(dups.items()))


def test_no_public_name_is_defined_twice():
    dups = definitions()
    new = {n: mods for n, mods in dups.items() if not set(mods) <= ALLOWED.get(n, set())}
    assert not new, ("public names defined in more than one module of autograder/ (keep one and "
                     "import it, or rename one of two different ideas):\n" + _describe(new))


def test_allow_list_is_not_stale():
    dups = definitions()
    stale = {n: sorted(mods - set(dups.get(n, {}))) for n, mods in ALLOWED.items()
             if mods - set(dups.get(n, {}))}
    assert not stale, f"these modules no longer define the name: remove them from ALLOWED: {stale}"
