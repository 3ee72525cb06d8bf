"""Static detection of forbidden APIs in the student's functions and classes.

``grading.toml``'s ``[forbidden]`` lists ``modules`` (``"scipy"``: the module and
everything under it) and ``names`` (``"numpy.convolve"``: that attribute, reached
through any alias or submodule of numpy). :func:`analyze` resolves names through
module-level and local imports (``import numpy as np``, ``from numpy import
convolve as cv``, ``f = np.convolve``), ``getattr(np, "convolve")``, and
``__import__`` / ``importlib.import_module`` with constant (or constant-folded)
names. Uses propagate through the student's own helper functions, and through
top-level assignments and loops (``cv = [np.convolve][0]`` flags the functions that
use ``cv``). A course helper that needs a forbidden library (:data:`HELPERS_NEEDING`:
``autograder.tools.keras_utils`` needs Keras) counts as that library: it would hand the
student's code the library's objects.

**Dynamic code.** When an assignment forbids anything, code that could reach a
forbidden API without naming it is itself flagged, because a static check cannot
see through it (the root causes, not individual tricks):

* code built at run time: ``exec``, ``eval``, ``compile``, ``__import__`` or
  ``importlib.import_module`` with a computed name, any other use of ``importlib``,
  ``runpy``, ``code``, ``pickle``/``marshal`` (they look names up from strings),
  ``np.load(..., allow_pickle=True)``;
* attribute or name look-ups by a computed string: ``getattr``/``setattr``/
  ``delattr`` with a non-constant name (or passed around as a value, e.g.
  ``functools.reduce(getattr, ...)``), ``operator.attrgetter``/``methodcaller``,
  ``string.Formatter``, ``pydoc.locate``, ``pkgutil``, ``vars()``, ``globals()``,
  ``__dict__`` and the other introspection dunders (anything outside
  :data:`SAFE_DUNDERS`), frame and code attributes (``f_globals``, ``tb_frame``...),
  ``inspect``, ``gc``, ``ctypes``;
* the import system and the builtins: ``sys.modules``, ``sys.meta_path``,
  ``sys.path_hooks``, ``__builtins__``, ``builtins.exec``/``builtins.getattr``...,
  any change to an attribute of ``builtins`` or ``sys`` (assignment, ``setattr``);
  ``builtins.range`` and frames' code (``sys._getframe(1).f_code``) are fine, frames'
  namespaces (``f_globals``, ``f_locals``, ``f_builtins``) are not;
* a module that holds a forbidden name (numpy for ``numpy.convolve``), ``sys`` or
  ``builtins`` used as a value (``[np][0]``, ``f(np)``) instead of through a constant attribute,
  and that module's private internals (``np._core``, ``np.core``).

A dynamic construct inside a function or class flags that function or class. In a
top-level statement that runs while grading (an assignment, a table-filling loop)
it flags **every** function and class of the notebook, since such code can change
what any of them does (e.g. remove the sandbox's import guard); so does dynamic code in
the parts of a def or class that run when the notebook loads (decorators, default
values, annotations, base classes, class bodies outside methods). Names a student
binds themselves (a parameter called ``vars``) are not builtins. The sandbox adds
a runtime layer (worker.py).
"""
from __future__ import annotations

import ast
import sys
import types


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


# The course's helpers (autograder.tools, shipped to students) that need a library an
# assignment may forbid: calling one hands that library's objects to the student's code
# (``small_vgg16().layers[1].__class__`` is Keras' Conv2D), so where the library is forbidden
# the helper is too. A module name covers everything in it. The sandbox refuses the import
# at run time as well (worker.py); this names it before anything runs.
HELPERS_NEEDING = {
    "autograder.tools.keras_utils": ("keras", "tensorflow"),     # Keras models and layers
    "autograder.tools.data.sample_photo": ("scipy",),            # scikit-image imports SciPy
    "autograder.tools.sample_photo": ("scipy",),                 # the same, re-exported lazily
}


class Rules:
    def __init__(self, modules=(), names=()):
        self.modules = [m for m in modules if m]
        self.names = [n for n in names if n]
        # packages that hold a forbidden name: their internals and their use as values are dynamic
        self.roots = {n.split(".")[0] for n in self.names if "." in n}
        # course helpers that need a forbidden module: forbidden too, under a name that says why
        self.helpers = {}
        for helper, needs in HELPERS_NEEDING.items():
            hit = [n for n in needs if any(n == m or n.startswith(m + ".") for m in self.modules)]
            if hit:
                self.helpers[helper] = f"{helper} (a course helper that uses {hit[0]})"

    def __bool__(self):
        return bool(self.modules or self.names)

    def check(self, dotted: str) -> str | None:
        """The forbidden API that ``dotted`` (a resolved name like numpy.convolve) is, or None."""
        for m in self.modules:
            if dotted == m or dotted.startswith(m + "."):
                return m
        for helper, why in self.helpers.items():
            if dotted == helper or dotted.startswith(helper + "."):
                return why
        for n in self.names:
            root, last = n.partition(".")[0], n.rsplit(".", 1)[-1]
            if dotted == n or (dotted.startswith(root + ".") and dotted.endswith("." + last)):
                return n
        parts = dotted.split(".")
        if parts[0] in self.roots and len(parts) > 1 and (parts[1].startswith("_") or parts[1] == "core") \
                and not (parts[1].startswith("__") and parts[1].endswith("__")):
            return f"{parts[0]} internals ({parts[0]}.{parts[1]}: dynamic access)"
        return None


# ----------------------------------------------------------------------------- dynamic code

# Builtins that run code or look names up at run time (by name, unless the student rebinds it).
DYNAMIC_BUILTINS = {
    "exec": "exec (code built at run time)",
    "eval": "eval (code built at run time)",
    "compile": "compile (code built at run time)",
    "__import__": "__import__ with a computed name (dynamic import)",
    "globals": "globals() (dynamic name look-up)",
    "vars": "vars() (dynamic name look-up)",
    "breakpoint": "breakpoint()",
    "__builtins__": "__builtins__ (the builtins, reached dynamically)",
    "__loader__": "__loader__ (the import system)",
    "__spec__": "__spec__ (the import system)",
}
_ATTR_FUNCS = {"getattr", "setattr", "delattr"}
# Modules (or their attributes) that look names up from strings, build code, or reach the
# import system, the interpreter's frames or raw memory.
DYNAMIC_MODULES = {
    "importlib": "importlib (dynamic import)", "imp": "imp (dynamic import)", "_imp": "_imp (dynamic import)",
    "zipimport": "zipimport (dynamic import)", "runpy": "runpy (code run at run time)",
    "code": "the code module (code run at run time)", "codeop": "codeop (code built at run time)",
    "pickle": "pickle (looks names up from strings)", "_pickle": "pickle (looks names up from strings)",
    "cPickle": "pickle (looks names up from strings)", "dill": "dill (looks names up from strings)",
    "cloudpickle": "cloudpickle (looks names up from strings)", "marshal": "marshal (code objects)",
    "copyreg": "copyreg (pickling hooks)", "shelve": "shelve (pickle)",
    "pydoc": "pydoc (looks names up from strings)", "pkgutil": "pkgutil (looks names up from strings)",
    "inspect": "inspect (reaches other modules' namespaces)", "gc": "gc (reaches every object)",
    "ctypes": "ctypes (raw memory)", "_ctypes": "ctypes (raw memory)", "cffi": "cffi (raw memory)",
    "sys.modules": "sys.modules (the import system)", "sys.meta_path": "sys.meta_path (the import system)",
    "sys.path_hooks": "sys.path_hooks (the import system)",
    "sys.path_importer_cache": "sys.path_importer_cache (the import system)",
    "sys.settrace": "sys.settrace",
    "sys.setprofile": "sys.setprofile", "sys.addaudithook": "sys.addaudithook",
    "operator.attrgetter": "operator.attrgetter (attribute look-up by string)",
    "operator.methodcaller": "operator.methodcaller (attribute look-up by string)",
    "string.Formatter": "string.Formatter (attribute look-up by string)",
    "types.FunctionType": "types.FunctionType (functions built at run time)",
    "types.CodeType": "types.CodeType (code built at run time)",
    "types.ModuleType": "types.ModuleType (modules built at run time)",
    "unittest.mock": "unittest.mock (patches names given as strings)",
}
# Dunder attributes that cannot reach other namespaces; every other dunder attribute is dynamic.
SAFE_DUNDERS = {
    "__init__", "__new__", "__name__", "__qualname__", "__doc__", "__class__", "__module__", "__version__",
    "__len__", "__call__", "__repr__", "__str__", "__format__", "__hash__", "__bool__", "__iter__", "__next__",
    "__getitem__", "__setitem__", "__delitem__", "__contains__", "__enter__", "__exit__", "__annotations__",
    "__array__", "__array_interface__", "__array_priority__", "__array_ufunc__", "__array_function__",
    "__post_init__", "__slots__", "__all__", "__file__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__add__", "__sub__", "__mul__", "__matmul__", "__truediv__", "__floordiv__", "__mod__",
    "__pow__", "__neg__", "__pos__", "__abs__", "__radd__", "__rsub__", "__rmul__", "__rmatmul__",
    "__rtruediv__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__and__", "__or__", "__xor__",
    "__invert__", "__int__", "__float__", "__index__", "__round__", "__copy__", "__deepcopy__",
    "__setstate__", "__getstate__", "__sizeof__", "__reversed__", "__missing__", "__set_name__",
}
# Attributes that hand out other namespaces (frames' globals) or the import system, on any object.
# Getting a frame (sys._getframe, tb_frame) is harmless by itself: its namespaces are what matter.
FRAME_ATTRS = {"f_globals", "f_locals", "f_builtins", "meta_path", "path_hooks", "path_importer_cache"}
# Modules whose attributes must not be changed (and that must not be passed around as values).
GUARDED_MODULES = {"builtins", "sys"}


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


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module the grader has already imported (no import is done here)."""
    if dotted in sys.modules:
        return True
    parent, _, attr = dotted.rpartition(".")
    return bool(parent) and isinstance(getattr(sys.modules.get(parent), attr, None), types.ModuleType)


def _local_names(node) -> set[str]:
    """Names a function binds itself (parameters, assignments, imports, nested defs)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not node:
            out.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= set(_import_aliases(n))
    return out


def _parents(node) -> dict[int, ast.AST]:
    out = {}
    for n in ast.walk(node):
        for c in ast.iter_child_nodes(n):
            out[id(c)] = n
    return out


def _module_names(node) -> set[str]:
    """Names bound to modules by ``import X`` / ``import X as Y`` statements in ``node``."""
    return {k for n in ast.walk(node) if isinstance(n, ast.Import) for k in _import_aliases(n)}


def _dynamic(node, rules: Rules, aliases: dict, own: set[str], mod_names: set[str] = frozenset()) -> set[str]:
    """The dynamic constructs in ``node`` (see the module docstring); ``own``: names the student
    binds (they are not builtins); ``mod_names``: names bound to modules by imports."""
    found: set[str] = set()
    mod_names = set(mod_names) | _module_names(node)
    parents = _parents(node)
    called = {id(n.func): n for n in ast.walk(node) if isinstance(n, ast.Call)}
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            if n.id in own:
                continue
            if n.id in DYNAMIC_BUILTINS:
                call = called.get(id(n))
                if n.id == "__import__" and call is not None and call.args and _const_str(call.args[0]) is not None:
                    continue   # constant import: checked against the rules
                found.add(DYNAMIC_BUILTINS[n.id])
            elif n.id in _ATTR_FUNCS:
                call = called.get(id(n))
                if call is None or len(call.args) < 2:
                    found.add(f"{n.id} used as a value (dynamic attribute access)")
                else:
                    attr = _const_str(call.args[1])
                    if attr is None:
                        found.add(f"{n.id} with a computed attribute name (dynamic attribute access)")
                    elif attr.startswith("__") and attr.endswith("__") and attr not in SAFE_DUNDERS:
                        found.add(f"{attr} (dynamic attribute access)")
        if isinstance(n, ast.Attribute):
            if n.attr.startswith("__") and n.attr.endswith("__") and n.attr not in SAFE_DUNDERS:
                found.add(f"{n.attr} (dynamic attribute access)")
            elif n.attr in FRAME_ATTRS:
                found.add(f"{n.attr} (reaches other namespaces or the import system)")
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, (ast.Store, ast.Del)):
            d = _dotted(n)
            if d is not None and _resolve(d, aliases).split(".")[0] in GUARDED_MODULES:
                found.add(f"changing {_resolve(d, aliases)} (the builtins or the interpreter's state)")
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("setattr", "delattr") \
                and n.func.id not in own and n.args:
            d = _dotted(n.args[0])
            if (d is not None and _resolve(d, aliases).split(".")[0] in GUARDED_MODULES) or d == "__builtins__":
                found.add(f"{n.func.id} on {d} (changing the builtins or the interpreter's state)")
        if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(getattr(n, "ctx", None), ast.Load) \
                and not isinstance(parents.get(id(n)), ast.Attribute):    # whole dotted chains only
            d = _dotted(n)
            if d is None or (isinstance(n, ast.Name) and n.id in own and n.id not in aliases):
                continue
            resolved = _resolve(d, aliases)
            if resolved.startswith("builtins."):
                first = resolved.split(".")[1]
                if first in DYNAMIC_BUILTINS or first in _ATTR_FUNCS:
                    found.add(f"builtins.{first} ({DYNAMIC_BUILTINS.get(first, 'dynamic attribute access')})")
            for key, why in DYNAMIC_MODULES.items():
                if resolved == key or resolved.startswith(key + "."):
                    call = called.get(id(n))
                    if resolved == "importlib.import_module" and call is not None and call.args \
                            and _const_str(call.args[0]) is not None:
                        break
                    found.add(why)
                    break
            # a module holding a forbidden name, or sys, used as a value rather than through an attribute
            parent = parents.get(id(n))
            top = resolved.split(".")[0]
            if isinstance(n, ast.Name) and not isinstance(parent, ast.Attribute) and (
                    top in rules.roots or top in GUARDED_MODULES) and (d in mod_names or _is_module(resolved)) \
                    and d in aliases:
                if not (isinstance(parent, ast.Assign) and all(isinstance(t, ast.Name) for t in parent.targets)):
                    found.add(f"the module {resolved} used as a value (dynamic attribute access)")
        if isinstance(n, ast.Call):
            for k in n.keywords:
                if k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and not k.value.value):
                    found.add("allow_pickle (pickle looks names up from strings)")
            fn = _dotted(n.func)
            if fn is not None and _resolve(fn, aliases) in ("importlib.import_module",) and n.args \
                    and _const_str(n.args[0]) is None:
                found.add("importlib.import_module with a computed name (dynamic import)")
    return found


def _uses(node, rules: Rules, aliases: dict, defs: dict, name: str | None):
    """(forbidden APIs named in ``node``, student names it refers to, local aliases)."""
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
                if mod is not None:
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
    return found, refs, local


def _bound_names(node) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return set(_import_aliases(node))
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        elif isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, ast.Store):
            base = n.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                out.add(base.id)
    return out


def _load_time_parts(node) -> list:
    """The parts of a def/class that run when it is defined (decorators, default values,
    annotations, base classes, a class body outside its methods)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        return [*node.decorator_list, *args.defaults, *(d for d in args.kw_defaults if d is not None),
                *(a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs] if a.annotation),
                *([node.returns] if node.returns else [])]
    if isinstance(node, ast.ClassDef):
        parts = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                parts += _load_time_parts(stmt)
            else:
                parts.append(stmt)
        return parts
    return []


def _where(node) -> str:
    first = getattr(node, "cell_first_line", "")
    if first:
        return f"the cell starting `{first}`, line {node.lineno}"
    cell = getattr(node, "cell_index", None)
    return f"cell {cell + 1}, line {node.lineno}" if isinstance(cell, int) else f"line {node.lineno}"


def analyze(nodes: list, modules=(), names=()) -> dict[str, list[str]]:
    """Map each student function/class (or top-level name) to the forbidden APIs it uses,
    directly, via helpers, or through dynamic code (see the module docstring).

    ``nodes``: the kept top-level statements (ast nodes) in run order.
    Names with no violation are absent.
    """
    rules = Rules(modules, names)
    if not rules:
        return {}
    aliases: dict[str, str] = {}
    defs: dict[str, ast.AST] = {}
    tops: list[ast.AST] = []
    own: set[str] = set()               # names the student binds at top level
    for node in nodes:
        aliases.update(_import_aliases(node))
        own |= _bound_names(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):
            tops.append(node)
            if isinstance(node, ast.Assign):
                d = _dotted(node.value)
                if d is not None:
                    resolved = _resolve(d, aliases)
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            aliases[t.id] = resolved
    own -= set(aliases)
    top_modules = {k for node in nodes if isinstance(node, ast.Import) for k in _import_aliases(node)}
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    everywhere: set[str] = set()        # dynamic code at top level: flags every function and class
    for node in tops:
        found, refs, _ = _uses(node, rules, aliases, defs, None)
        dyn = _dynamic(node, rules, aliases, own, top_modules)
        if dyn:
            everywhere |= {f"dynamic code at top level ({_where(node)}: {d})" for d in sorted(dyn)}
        bound = _bound_names(node) - set(defs)
        is_alias = isinstance(node, ast.Assign) and _dotted(node.value) is not None
        for name in bound:
            if is_alias:
                continue    # resolved through `aliases` where it is used
            direct.setdefault(name, set()).update(found)
            calls.setdefault(name, set()).update(refs)
    for node in defs.values():     # decorators, defaults, class bodies run while the notebook loads
        for part in _load_time_parts(node):
            dyn = _dynamic(part, rules, aliases, own, top_modules)
            everywhere |= {f"dynamic code run at load time ({_where(node)}, in {node.name}: {d})" for d in sorted(dyn)}
    for name, node in defs.items():
        found, refs, local = _uses(node, rules, aliases, defs, name)
        mine = (own | _local_names(node)) - set(_import_aliases_all(node))
        found |= _dynamic(node, rules, local, mine - {k for k in local if k not in aliases}, top_modules)
        refs |= {r for r in _names_in(node) if r in direct and r not in defs}
        direct[name] = found | everywhere
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


def _import_aliases_all(node) -> dict[str, str]:
    out = {}
    for n in ast.walk(node):
        out.update(_import_aliases(n))
    return out


def _names_in(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
