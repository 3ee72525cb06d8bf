"""Static detection of forbidden APIs in the student's functions and classes.

``grading.toml``'s ``[forbidden]`` lists ``modules`` (``"scipy"``: the module and
everything under it) and ``names`` (``"numpy.convolve"``: that attribute, reached
through any alias or submodule of numpy). :func:`analyze` resolves names through
module-level and local imports (``import numpy as np``, ``from numpy import
convolve as cv``, ``f = np.convolve``), ``getattr(np, "convolve")``, and
``__import__`` / ``importlib.import_module`` with constant (or constant-folded)
names; a computed dynamic import is reported as such. Uses propagate through the
student's own helper functions. The sandbox adds a runtime layer (worker.py).
"""
from __future__ import annotations

import ast


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _const_str(node) -> str | None:
    """Fold string constants, '+' and f-strings of constants: 'sci' + 'py' -> 'scipy'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _const_str(node.left), _const_str(node.right)
        if a is not None and b is not None:
            return a + b
    if isinstance(node, ast.JoinedStr):
        parts = [_const_str(v) if not isinstance(v, ast.FormattedValue) else _const_str(v.value) for v in node.values]
        if all(p is not None for p in parts):
            return "".join(parts)
    return None


class Rules:
    def __init__(self, modules=(), names=()):
        self.modules = [m for m in modules if m]
        self.names = [n for n in names if n]

    def __bool__(self):
        return bool(self.modules or self.names)

    def check(self, dotted: str) -> str | None:
        """The forbidden API that ``dotted`` (a resolved name like numpy.convolve) is, or None."""
        for m in self.modules:
            if dotted == m or dotted.startswith(m + "."):
                return m
        for n in self.names:
            root, _, last = n.partition(".")[0], None, n.rsplit(".", 1)[-1]
            if dotted == n or (dotted.startswith(root + ".") and dotted.endswith("." + last)):
                return n
        return None


def _import_aliases(node) -> dict[str, str]:
    out = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                out[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                out[top] = top
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for a in node.names:
            out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _imported_modules(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return []


def _resolve(dotted: str, aliases: dict) -> str:
    head, _, rest = dotted.partition(".")
    if head in aliases:
        base = aliases[head]
        return base + ("." + rest if rest else "")
    return dotted


def analyze(nodes: list, modules=(), names=()) -> dict[str, list[str]]:
    """Map each student function/class name to the forbidden APIs it uses (directly or via helpers).

    ``nodes``: the kept top-level statements (ast nodes) in run order.
    Names with no violation are absent.
    """
    rules = Rules(modules, names)
    if not rules:
        return {}
    aliases: dict[str, str] = {}
    defs: dict[str, ast.AST] = {}
    for node in nodes:
        aliases.update(_import_aliases(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, ast.Assign):
            d = _dotted(node.value)
            if d is not None:
                resolved = _resolve(d, aliases)
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        aliases[t.id] = resolved
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for name, node in defs.items():
        local = dict(aliases)
        found: set[str] = set()
        refs: set[str] = set()
        for n in ast.walk(node):
            local.update(_import_aliases(n))
        for n in ast.walk(node):
            for mod in _imported_modules(n):
                hit = rules.check(mod)
                if hit:
                    found.add(hit)
            if isinstance(n, ast.Assign):
                d = _dotted(n.value)
                if d is not None:
                    for t in n.targets:
                        if isinstance(t, ast.Name):
                            local[t.id] = _resolve(d, local)
            if isinstance(n, (ast.Attribute, ast.Name)):
                d = _dotted(n)
                if d is not None:
                    hit = rules.check(_resolve(d, local))
                    if hit:
                        found.add(hit)
                if isinstance(n, ast.Name) and n.id in defs and n.id != name:
                    refs.add(n.id)
            if isinstance(n, ast.Call):
                fn = _dotted(n.func)
                fn_res = _resolve(fn, local) if fn else None
                if fn_res in ("__import__", "importlib.import_module", "builtins.__import__") and n.args:
                    mod = _const_str(n.args[0])
                    if mod is None:
                        found.add("a dynamic import (__import__ / import_module with a computed name)")
                    else:
                        hit = rules.check(mod)
                        if hit:
                            found.add(hit)
                if fn_res in ("getattr", "builtins.getattr") and len(n.args) >= 2:
                    obj = _dotted(n.args[0])
                    attr = _const_str(n.args[1])
                    if obj is not None and attr is not None:
                        hit = rules.check(_resolve(obj, local) + "." + attr)
                        if hit:
                            found.add(hit)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in rules.modules:
                # exec("import scipy") or sys.modules["scipy"]
                found.add(n.value)
        direct[name] = found
        calls[name] = refs
    result = {k: set(v) for k, v in direct.items()}
    changed = True
    while changed:
        changed = False
        for name, refs in calls.items():
            for r in refs:
                extra = {api if "via" in api else f"{api} (via {r})" for api in result.get(r, ())} - result[name]
                extra = {e for e in extra if e.split(" (via")[0] not in {x.split(" (via")[0] for x in result[name]}}
                if extra:
                    result[name] |= extra
                    changed = True
    return {k: sorted(v) for k, v in result.items() if v}
