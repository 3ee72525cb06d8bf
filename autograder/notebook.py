"""Reading submissions defensively and extracting the student's code.

:func:`read_notebook` accepts nbformat 4.0-4.5 notebooks with or without cell ids
and metadata, and raises :class:`InvalidSubmission` (with a message a student
understands) for an empty file, invalid JSON, a file that is not a notebook, or a
notebook over one of the size caps of :data:`CAPS` (checked before anything is
parsed). Text is made safe once, at read time: lone surrogates (invalid Unicode
that JSON escapes can carry) become U+FFFD.

:func:`extract_student_code` turns every code cell that is not a test cell into
Python the way IPython does (IPython's own input transformers: magics and shell
lines become ``get_ipython()...`` calls) and keeps, from the top level, only what
defines things:

* imports, ``def``, ``class``;
* assignments whose right-hand side does not *call* student code: a ``lambda``
  (or a table of lambdas / student functions) is a definition and is kept, but a
  call of a student function or class, of a lambda or table built from one, of a
  training/plotting method (:data:`SKIP_METHODS`) or of ``get_ipython()`` is not;
* ``for`` loops and ``if`` blocks that only fill tables (assignments, subscript
  assignments and ``append``/``update``-like calls, see :data:`TABLE_METHODS`)
  under the same rule, and ``T.append(...)``-like statements themselves.

Everything else (training loops, plots, prints, ``while``, ``with``) is not run.
A statement that reads a name whose producer was skipped is skipped too: names a
skipped statement binds, or mutates (``history["loss"].append(...)``,
``y_pred[i] = ...``, ``model.fit(...)``), become *dirty*, and dirty names
only become usable again when a kept statement rebinds them.

Cost is linear in the notebook's size; each cell's syntax tree is checked for
nesting depth (``CAPS["ast_depth"]``) before it is used.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .cells import is_test, nbgrader_of

# Every cap in one place (the grading.toml [limits] may override them; see read_notebook's ``caps``).
CAPS = {
    "file_bytes": 8 * 1024 * 1024,   # size of the submitted .ipynb file
    "cells": 2000,                   # number of cells (all types)
    "cell_chars": 200_000,           # characters in one code cell's source
    "code_chars": 400_000,           # characters in all code cells together
    "ast_depth": 100,                # nesting depth of one cell's syntax tree
    "magic_work": 400_000,           # IPython transformation budget per notebook (see _to_python)
}


class InvalidSubmission(Exception):
    """The file is not a readable notebook; the message says why."""


@dataclass
class Cell:
    index: int               # position in the submitted notebook (0-based)
    cell_type: str
    source: str
    nbgrader: dict = field(default_factory=dict)

    @property
    def grade_id(self) -> str | None:
        gid = self.nbgrader.get("grade_id")
        return gid if isinstance(gid, str) else None

    @property
    def is_test(self) -> bool:
        return is_test(self.nbgrader)


def _source(value) -> str:
    if isinstance(value, list):
        return "".join(v if isinstance(v, str) else str(v) for v in value)
    if isinstance(value, str):
        return value
    return ""


def _caps(caps) -> dict:
    return {**CAPS, **(caps or {})}


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def parse_notebook(data: bytes, *, caps: dict | None = None) -> list[Cell]:
    """Parse notebook bytes into cells; raise :class:`InvalidSubmission` with a clear reason.

    ``caps``: overrides of :data:`CAPS` (same keys).
    """
    cap = _caps(caps)
    if len(data) > cap["file_bytes"]:
        raise InvalidSubmission(f"the notebook is too large: {_size(len(data))}, the limit is "
                                f"{_size(cap['file_bytes'])} (clear the outputs: Kernel > Restart & Clear Output)")
    if not data.strip():
        raise InvalidSubmission("the file is empty: save the notebook in Jupyter and submit it again")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidSubmission("the file is not a Jupyter notebook (it is not UTF-8 text)") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(
            f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "it may have been truncated or edited by hand") from None
    except RecursionError:
        raise InvalidSubmission("the file is not a Jupyter notebook (JSON nested too deeply)") from None
    if not isinstance(nb, dict):
        raise InvalidSubmission(f"the file is JSON but not a Jupyter notebook (top level is a {type(nb).__name__})")
    major = nb.get("nbformat", 4)
    if "worksheets" in nb or (isinstance(major, int) and major < 4):
        raise InvalidSubmission(f"the notebook uses the old format nbformat {major}; open it in Jupyter, "
                                "save it (nbformat 4) and submit again")
    if isinstance(major, int) and major > 4:
        raise InvalidSubmission(f"the notebook uses an unknown format nbformat {major}")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise InvalidSubmission("the file is JSON but not a Jupyter notebook (no list of cells)")
    if len(cells) > cap["cells"]:
        raise InvalidSubmission(f"the notebook has too many cells: {len(cells):,}, the limit is {cap['cells']:,}")
    out = []
    code_chars = 0
    for i, c in enumerate(cells):
        if not isinstance(c, dict):
            continue
        nbg = {k: no_surrogates(v) if isinstance(v, str) else v for k, v in nbgrader_of(c).items()}
        cell_type = no_surrogates(str(c.get("cell_type", "")))[:40]
        source = _source(c.get("source", ""))
        if cell_type == "code":
            if len(source) > cap["cell_chars"]:
                raise InvalidSubmission(f"code cell {i + 1} is too large: {len(source):,} characters, the limit "
                                        f"is {cap['cell_chars']:,} per cell")
            code_chars += len(source)
            if code_chars > cap["code_chars"]:
                raise InvalidSubmission(f"the notebook has too much code: more than {cap['code_chars']:,} "
                                        f"characters in its code cells (reached at cell {i + 1})")
        out.append(Cell(index=i, cell_type=cell_type, source=no_surrogates(source), nbgrader=nbg))
    return out


def read_notebook(path: str | Path, *, caps: dict | None = None) -> tuple[bytes, list[Cell]]:
    """Read a submission: ``(raw bytes, cells)``. Never modifies the file; never reads more than
    ``file_bytes`` + 1 bytes of it."""
    limit = _caps(caps)["file_bytes"]
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InvalidSubmission(f"the file could not be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        try:
            size = Path(path).stat().st_size
        except OSError:
            size = len(data)
        raise InvalidSubmission(f"the notebook is too large: {_size(size)}, the limit is {_size(limit)} "
                                "(clear the outputs: Kernel > Restart & Clear Output)")
    return data, parse_notebook(data, caps=caps)


# ----------------------------------------------------------------------------- magics -> Python

_KEEP_BODY_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_ESCAPE_LINE = re.compile(r"^[ \t]*[%!?/;,]|=[ \t]*[%!]|\?[ \t]*$", re.M)
_TRANSFORMER = None


def _transformer():
    global _TRANSFORMER
    if _TRANSFORMER is None:
        from IPython.core.inputtransformer2 import TransformerManager
        _TRANSFORMER = TransformerManager()
    return _TRANSFORMER


class _NotPython(Exception):
    """A cell that cannot be turned into Python; the message says why (for the notes)."""


def _to_python(src: str, budget: list | None = None, trees: list | None = None) -> str | None:
    """The cell's source as Python, transformed as IPython does; None for a cell magic whose
    body is not Python (``%%bash``...); the body of ``%%time``-like magics is kept.

    A cell that parses as Python is returned as it is (IPython's transformers only change
    what is not Python), and its tree is appended to ``trees`` so it is not parsed twice.
    ``budget``: ``[remaining work]``, shared by a notebook's cells: IPython re-tokenizes the
    whole cell once per magic, so a cell costs about (magics + 1) x its size; over the
    budget, :class:`_NotPython` is raised."""
    first = src.lstrip().split("\n", 1)[0]
    if first.startswith("%%"):
        words = first[2:].split()
        if not words or words[0] not in _KEEP_BODY_MAGICS:
            return None
        head, _, rest = src.partition("%%")          # keep line numbers: the magic line becomes blank
        src = head + "\n" + rest.split("\n", 1)[1] if "\n" in rest else head
    try:
        tree = ast.parse(src)
        if trees is not None:
            trees.append(tree)
        return src          # plain Python: IPython's transformers would leave it as it is
    except (SyntaxError, ValueError):
        pass
    except (RecursionError, MemoryError):
        return src          # let the caller's parse report it
    work = (len(_ESCAPE_LINE.findall(src)) + 1) * max(len(src), 1)
    if budget is not None:
        if work > budget[0]:
            raise _NotPython("it has too many IPython magics or shell commands for its size "
                             "(move them into a cell of their own)")
        budget[0] -= work
    try:
        return _transformer().transform_cell(src)
    except Exception as exc:  # noqa: BLE001 - e.g. "Input transformation still changing after 500 iterations"
        raise _NotPython(f"IPython could not read it ({type(exc).__name__}: {exc})") from None


def _is_magic_call(node) -> bool:
    """``get_ipython().xxx(...)`` (what IPython makes of a magic or shell line), maybe assigned."""
    value = node.value if isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign)) else None
    return value is not None and _calls_get_ipython(value)


def _calls_get_ipython(expr) -> bool:
    for n in ast.walk(expr):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "get_ipython":
            return True
    return False


def strip_magics(src: str) -> str | None:
    """The cell as Python with its top-level magics and shell lines blanked (line numbers kept);
    None when the whole cell is not Python (a cell magic such as ``%%bash``)."""
    try:
        py = _to_python(src, [CAPS["magic_work"]])
    except _NotPython:
        return None
    if py is None:
        return None
    try:
        tree = ast.parse(py)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return py if py.endswith("\n") else py + "\n"
    lines = py.splitlines()
    for node in tree.body:
        if _is_magic_call(node):
            for k in range(node.lineno - 1, (node.end_lineno or node.lineno)):
                lines[k] = ""
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- selection

# Method calls that train, evaluate or draw: never run at top level while grading.
SKIP_METHODS = {"fit", "fit_generator", "train_on_batch", "evaluate", "predict", "backward", "step",
                "show", "savefig", "save", "save_weights", "summary", "imshow", "plot"}
# Method calls that fill a table: kept at top level (and in loops) when their arguments are safe.
TABLE_METHODS = {"append", "extend", "insert", "update", "setdefault", "add"}
# Method calls that change their object: when not run, the object is dirty.
MUTATING_METHODS = TABLE_METHODS | SKIP_METHODS | {
    "pop", "popitem", "remove", "discard", "clear", "sort", "reverse", "fill", "resize", "put", "itemset",
    "train", "eval", "to", "cuda", "cpu", "compile", "load_state_dict", "load_weights", "set_weights",
    "zero_grad", "apply", "register_buffer", "add_module", "build", "reset_states", "shuffle", "seed",
    "manual_seed", "write", "close"}
_PURE_CALLS = {"partial", "functools.partial"}     # wrap a function without calling it


@dataclass
class StudentCode:
    stmts: list[dict] = field(default_factory=list)     # {"cell", "lineno", "src"} in run order
    cells: dict = field(default_factory=dict)           # str(cell index) -> cleaned source (tracebacks)
    nodes: list = field(default_factory=list)           # ast nodes of the kept statements
    defined: dict = field(default_factory=dict)         # top-level def/class name -> cell index (last wins)
    notes: list[str] = field(default_factory=list)      # cells that could not be parsed, ...
    skipped: int = 0                                    # top-level statements not run
    added_skipped: list = field(default_factory=list)   # those not in the release: {cell, lineno, src, where}
    stmt_cells: list = field(default_factory=list)      # cell index of each kept node (for messages)


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def statement_key(lines: list[str], node) -> str:
    """A top-level statement's own source (``lines``: its cell's), normalised to compare a
    submission with the release: from its first column to its last (not a `;` neighbour's),
    decorators included, trailing spaces and blank lines dropped. Linear in its size."""
    decorators = getattr(node, "decorator_list", None)
    start = min([node.lineno] + [d.lineno for d in decorators]) if decorators else node.lineno
    end = node.end_lineno or node.lineno
    part = [ln.rstrip("\r\n") for ln in lines[start - 1:end]]
    if not part:
        return ""
    if node.end_col_offset is not None:        # ast offsets count UTF-8 bytes
        part[-1] = part[-1].encode()[:node.end_col_offset].decode(errors="ignore")
    if not decorators:
        part[0] = part[0].encode()[node.col_offset:].decode(errors="ignore")
    return "\n".join(ln.rstrip() for ln in part if ln.strip()).strip()


def released_statements(sources) -> frozenset:
    """The :func:`statement_key` of every top-level statement of ``sources``, the released
    notebook's non-test code cells (assignment.py says which text each cell is released with)."""
    out = set()
    budget = [CAPS["magic_work"]]
    for src in sources:
        try:
            py = _to_python(src, budget)
            tree = ast.parse(py) if py else None
        except (_NotPython, SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        lines = py.splitlines(True) if tree else []
        out.update(statement_key(lines, node) for node in (tree.body if tree else ()))
    return frozenset(out)


def _root_name(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


from .forbidden import _dotted  # noqa: E402  (one definition of a dotted name)
from .text import first_line, no_surrogates  # noqa: E402


_SCOPES = (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _walk(node, *, into_lambdas=False):
    """ast.walk that does not enter lambda bodies (evaluated later, if ever) unless asked;
    default arguments are entered. Iterative."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, ast.Lambda) and not into_lambdas:
            todo.extend(n.args.defaults)
            todo.extend(d for d in n.args.kw_defaults if d is not None)
            continue
        todo.extend(ast.iter_child_nodes(n))


def _reads(node) -> set[str]:
    """Names a statement or expression reads from outside: loads, minus names it binds itself
    (targets, loop variables, comprehension variables); lambda bodies are not read now."""
    loads, local = set(), set()
    for n in _walk(node):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else local).add(n.id)
        elif isinstance(n, ast.arg):
            local.add(n.arg)
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        local.discard(node.target.id)
        loads.add(node.target.id)
    return loads - local


def _stores(node) -> set[str]:
    """Names a (skipped) statement binds or may change: Name targets anywhere in it (not in
    nested scopes), roots of subscript/attribute targets and of mutating method calls."""
    out = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.ctx, (ast.Store, ast.Del)):
            r = _root_name(n)
            if r:
                out.add(r)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and (
                n.func.attr in MUTATING_METHODS or n.func.attr.endswith("_")):
            r = _root_name(n.func.value)
            if r:
                out.add(r)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
            continue
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in n.names}
        if isinstance(n, _SCOPES):
            continue
        todo.extend(ast.iter_child_nodes(n))
    return out


def _fills_table(loop) -> bool:
    """The loop writes into a table: ``T[k] = ...``, ``T.attr = ...`` or ``T.append(...)``-like."""
    for n in ast.walk(loop):
        if isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, ast.Store):
            return True
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute) \
                and n.value.func.attr in TABLE_METHODS:
            return True
    return False


def _bound_by(node) -> set[str] | None:
    """Names a kept statement binds; None for ``from x import *`` (unknown)."""
    if isinstance(node, ast.Import):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom):
        if any(a.name == "*" for a in node.names):
            return None
        return {a.asname or a.name for a in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return _stores(node)


_ALWAYS_BOUND = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "get_ipython", "display"}


class _Selector:
    """The keep/skip decision for top-level statements, in run order (see the module docstring)."""

    def __init__(self, student_defs: set[str]):
        self.callables = set(student_defs)     # student code, or values that wrap it
        self.dirty: set[str] = set()
        self.bound: set[str] | None = set(_ALWAYS_BOUND)   # None once a star import makes it unknowable
        self.modules: set[str] = set()         # names bound by imports: not tables

    # -- expressions
    def refs_student(self, expr) -> bool:
        """The expression mentions student code (anywhere, lambda bodies included)."""
        return any(isinstance(n, ast.Name) and n.id in self.callables for n in _walk(expr, into_lambdas=True))

    def runs_student(self, expr) -> bool:
        """Evaluating ``expr`` may run student code, train, draw, or run a magic."""
        if expr is None:
            return False
        for n in _walk(expr):
            if not isinstance(n, ast.Call):
                continue
            if isinstance(n.func, ast.Lambda):
                if self.refs_student(n.func.body):
                    return True
                continue
            root = _root_name(n.func)
            if root in self.callables or root in self.dirty or root == "get_ipython":
                return True
            if isinstance(n.func, ast.Attribute) and n.func.attr in SKIP_METHODS:
                return True
            if _dotted(n.func) in _PURE_CALLS:
                continue
            # a student function (or a lambda/table wrapping one) handed to a call may be called by it
            if any(self.refs_student(a) for a in [*n.args, *(k.value for k in n.keywords)]):
                return True
        return False

    def readable(self, names: set[str]) -> bool:
        if self.bound is None:
            return not (names & self.dirty)
        return names <= self.bound

    # -- statements
    def safe_assign(self, node, local=frozenset()) -> bool:
        if not self.readable(_reads(node) - local):
            return False
        if isinstance(node, ast.AnnAssign) and node.value is None:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return not self.runs_student(node.value) and not any(self.runs_student(t) for t in targets)

    def table_call(self, node, local=frozenset()) -> bool:
        """``T.append(...)``-like statement on a usable table, with safe arguments."""
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            return False
        call = node.value
        if not (isinstance(call.func, ast.Attribute) and call.func.attr in TABLE_METHODS):
            return False
        root = _root_name(call.func.value)
        if root is None or root in self.modules or not (root in local or self.readable({root})):
            return False
        return self.readable(_reads(node) - local) and not self.runs_student(call)

    def table_block(self, stmts, local) -> bool:
        """Loop/if bodies that only fill tables: assignments, table calls, nested for/if, pass."""
        for s in stmts:
            if isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                if not self.safe_assign(s, local):
                    return False
            elif isinstance(s, ast.Expr):
                if not self.table_call(s, local):
                    return False
            elif isinstance(s, ast.For):
                if not self.table_loop(s, local):
                    return False
            elif isinstance(s, ast.If):
                if not self.table_if(s, local):
                    return False
            elif not isinstance(s, (ast.Pass, ast.Continue, ast.Break)):
                return False
        return True

    def table_loop(self, node, local=frozenset()) -> bool:
        if isinstance(node, ast.AsyncFor) or not isinstance(node, ast.For):
            return False
        inner = set(local) | _stores(node)
        if not self.readable(_reads(node.iter) - set(local)) or self.runs_student(node.iter):
            return False
        return _fills_table(node) and self.table_block(node.body, inner) and self.table_block(node.orelse, inner)

    def table_if(self, node, local=frozenset()) -> bool:
        inner = set(local) | _stores(node)
        return (self.readable(_reads(node.test) - set(local)) and not self.runs_student(node.test)
                and self.table_block(node.body, inner) and self.table_block(node.orelse, inner))

    def safe_try(self, node) -> bool:
        def simple(stmts):
            return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or
                       (isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)) for s in stmts)
        return (isinstance(node, ast.Try) and simple(node.body) and simple(node.orelse)
                and all(simple(h.body) for h in node.handlers) and not node.finalbody)

    def keep(self, node) -> bool:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return True
        if _is_magic_call(node):
            return False
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            return self.safe_assign(node)
        if isinstance(node, ast.Expr):
            return self.table_call(node)
        if isinstance(node, ast.For):
            return self.table_loop(node)
        if isinstance(node, ast.If):
            return self.table_if(node)
        if isinstance(node, ast.Try):
            return self.safe_try(node)
        return False

    def record(self, node, kept: bool) -> None:
        if kept:
            names = _bound_by(node)
            if names is None:
                self.bound = None
                return
            is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            wraps = is_def or (not isinstance(node, (ast.Import, ast.ImportFrom)) and self.refs_student(node))
            for name in names:
                self.dirty.discard(name)
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    self.modules.add(name)
                else:
                    self.modules.discard(name)
                if self.bound is not None:
                    self.bound.add(name)
                if wraps:
                    self.callables.add(name)
                elif not isinstance(node, (ast.Import, ast.ImportFrom)):
                    self.callables.discard(name)
            return
        for name in _stores(node):
            self.dirty.add(name)
            if self.bound is not None:
                self.bound.discard(name)


def _depth(tree) -> int:
    """Nesting depth of a syntax tree, computed iteratively (expression contexts not counted)."""
    best = 0
    todo = [(tree, 1)]
    pop, push, AST, ctx = todo.pop, todo.append, ast.AST, ast.expr_context
    while todo:
        node, d = pop()
        if d > best:
            best = d
        d += 1
        for name in node._fields:
            v = getattr(node, name, None)
            if isinstance(v, list):
                for x in v:
                    if isinstance(x, AST):
                        push((x, d))
            elif isinstance(v, AST) and not isinstance(v, ctx):
                push((v, d))
    return best


def extract_student_code(cells: list[Cell], *, test_ids=(), test_texts=(), caps: dict | None = None,
                         released: frozenset | None = None) -> StudentCode:
    """Select the student's definitions from the notebook's non-test code cells.

    ``test_ids``: grade_ids of test cells (cells carrying one are test cells even if
    their metadata lost ``grade``); ``test_texts``: released test-cell sources, to
    recognise test cells whose metadata was stripped. ``caps``: overrides of :data:`CAPS`.
    ``released``: :func:`released_statements` of the release; a skipped statement found
    there is the template's own, not in ``added_skipped`` (None: every skipped one is).
    """
    cap = _caps(caps)
    test_ids = set(test_ids)
    texts = {_normalise(t) for t in test_texts if t and t.strip()}
    code = StudentCode()
    budget = [cap["magic_work"]]
    parsed = []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        if cell.is_test or (cell.grade_id in test_ids) or (texts and _normalise(cell.source) in texts):
            continue
        where = (f"the cell starting `{first_line(cell.source)}` was not run" if first_line(cell.source)
                 else f"code cell {cell.index + 1} was not run")
        trees: list = []
        try:
            src = _to_python(cell.source, budget, trees)
        except _NotPython as exc:
            code.notes.append(f"{where}: {exc}")
            continue
        if src is None or not src.strip():
            continue
        try:
            tree = trees[0] if trees else ast.parse(src, f"<cell {cell.index}>")
        except SyntaxError as exc:
            code.notes.append(f"{where}: syntax error on line {exc.lineno}: {exc.msg}")
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            code.notes.append(f"{where}: its code is nested too deeply or is too complex to read "
                              f"({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})")
            continue
        depth = _depth(tree)
        if depth > cap["ast_depth"]:
            code.notes.append(f"{where}: its code is nested too deeply ({depth} levels; the limit is "
                              f"{cap['ast_depth']})")
            continue
        parsed.append((cell, src, tree))
    student_defs = set()
    for _, _, tree in parsed:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                student_defs.add(node.name)
    sel = _Selector(student_defs)
    for cell, src, tree in parsed:
        lines = None
        kept_any = False
        for node in tree.body:
            keep = sel.keep(node)
            sel.record(node, keep)
            if not keep:
                code.skipped += 1
                if lines is None:
                    lines = src.splitlines(True)
                key = statement_key(lines, node)
                if released is None or key not in released:
                    code.added_skipped.append({"cell": cell.index, "lineno": node.lineno, "src": first_line(key),
                                               "where": first_line(cell.source)})
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                code.defined[node.name] = cell.index
            if lines is None:
                lines = src.splitlines(True)
            start = node.lineno
            decorators = getattr(node, "decorator_list", None)
            if decorators:
                start = min([start] + [d.lineno for d in decorators])
            end = node.end_lineno or node.lineno
            if start == end:
                text = ast.get_source_segment(src, node) or lines[start - 1]
            else:   # whole lines, dedented if the statement started mid-line (after `a = 1;`)
                first = lines[start - 1][node.col_offset:] if not decorators else lines[start - 1]
                text = first + "".join(lines[start:end])
                text = text.rstrip("\n")
            code.stmts.append({"cell": cell.index, "lineno": start, "src": text})
            node.cell_index = cell.index          # for messages (forbidden.py)
            node.cell_first_line = first_line(cell.source)
            code.nodes.append(node)
            code.stmt_cells.append(cell.index)
            kept_any = True
        if kept_any:
            code.cells[str(cell.index)] = src
    return code
