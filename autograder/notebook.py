"""Reading submissions defensively and extracting the student's code.

:func:`read_notebook` accepts nbformat 4.0-4.5 notebooks with or without cell ids
and metadata, and raises :class:`InvalidSubmission` (with a message a student
understands) for an empty file, invalid JSON or a file that is not a notebook.

:func:`extract_student_code` keeps, from every code cell that is not a test cell,
only the top-level statements that define things: imports, ``def``, ``class`` and
assignments whose right-hand side calls no student-defined function or class (nor
a method of a name assigned from such a call, nor a training/plotting method), so
training loops, plots and prints at top level are not run while grading. IPython
magics and shell lines are dropped.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass, field
from pathlib import Path


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
        return bool(self.nbgrader.get("grade")) and not self.nbgrader.get("solution")


def _source(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    if isinstance(value, str):
        return value
    return ""


def parse_notebook(data: bytes) -> list[Cell]:
    """Parse notebook bytes into cells; raise :class:`InvalidSubmission` with a clear reason."""
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
    out = []
    for i, c in enumerate(cells):
        if not isinstance(c, dict):
            continue
        meta = c.get("metadata")
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        out.append(Cell(index=i, cell_type=str(c.get("cell_type", "")), source=_source(c.get("source", "")),
                        nbgrader=nbg if isinstance(nbg, dict) else {}))
    return out


def read_notebook(path: str | Path) -> tuple[bytes, list[Cell]]:
    """Read a submission: ``(raw bytes, cells)``. Never modifies the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidSubmission(f"the file could not be read ({exc.strerror or exc})") from None
    return data, parse_notebook(data)


# ----------------------------------------------------------------------------- magics

_KEEP_BODY_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LINE_SHELL_ASSIGN = re.compile(r"^\s*[\w\s,()\[\]]+=\s*[!%]")
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$|^\s*\?{1,2}[\w.]+\s*$")


def strip_magics(src: str) -> str | None:
    """Remove IPython magics and shell lines; None when the whole cell is not Python."""
    lines = src.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        name = lines[0].lstrip()[2:].split()[0] if lines[0].lstrip()[2:].split() else ""
        if name not in _KEEP_BODY_MAGICS:
            return None
        lines[0] = ""
    out = []
    for line in lines:
        s = line.lstrip()
        if s.startswith(("%", "!")) or _LINE_SHELL_ASSIGN.match(line) or _HELP.match(line):
            out.append("")  # keep line numbers
        else:
            out.append(line)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- selection

# Method calls that train, evaluate or draw: never run at top level while grading.
SKIP_METHODS = {"fit", "fit_generator", "train_on_batch", "evaluate", "predict", "backward", "step",
                "show", "savefig", "save", "save_weights", "summary", "imshow", "plot"}


@dataclass
class StudentCode:
    stmts: list[dict] = field(default_factory=list)     # {"cell", "lineno", "src"} in run order
    cells: dict = field(default_factory=dict)           # str(cell index) -> cleaned source (tracebacks)
    nodes: list = field(default_factory=list)           # ast nodes of the kept statements
    defined: dict = field(default_factory=dict)         # top-level def/class name -> cell index (last wins)
    notes: list[str] = field(default_factory=list)      # cells that could not be parsed, ...
    skipped: int = 0                                    # top-level statements not run


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _root_name(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _targets(node) -> set[str]:
    names = set()
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                names.add(n.id)
    return names


def _rhs_runs_student_code(value, student_defs: set, tainted: set) -> bool:
    if value is None:
        return False
    for n in ast.walk(value):
        if isinstance(n, ast.Name) and n.id in tainted:
            return True
        if isinstance(n, ast.Call):
            root = _root_name(n.func)
            if root in student_defs:
                return True
            if isinstance(n.func, ast.Attribute) and n.func.attr in SKIP_METHODS:
                return True
        if isinstance(n, (ast.Lambda,)):
            continue
    return False


def _free_names(value) -> set[str]:
    """Names an expression reads that it does not bind itself (comprehension targets, lambda args)."""
    if value is None:
        return set()
    loads, local = set(), set()
    for n in ast.walk(value):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else local).add(n.id)
        elif isinstance(n, ast.arg):
            local.add(n.arg)
    return loads - local


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
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return _targets(node)
    if isinstance(node, ast.Try):
        names = set()
        for block in [node.body, node.orelse, *[h.body for h in node.handlers]]:
            for s in block:
                names |= _bound_by(s) or set()
        return names
    return set()


_ALWAYS_BOUND = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "get_ipython", "display"}


def _safe_block(stmts) -> bool:
    """A try/if block at top level made only of imports, pass and constant assignments."""
    for s in stmts:
        if isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)):
            continue
        if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant):
            continue
        return False
    return True


def extract_student_code(cells: list[Cell], *, test_ids=(), test_texts=()) -> StudentCode:
    """Select the student's definitions from the notebook's non-test code cells.

    ``test_ids``: grade_ids of test cells (cells carrying one are test cells even if
    their metadata lost ``grade``); ``test_texts``: released test-cell sources, to
    recognise test cells whose metadata was stripped.
    """
    test_ids = set(test_ids)
    texts = {_normalise(t) for t in test_texts if t and t.strip()}
    code = StudentCode()
    parsed = []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        if cell.is_test or (cell.grade_id in test_ids) or (texts and _normalise(cell.source) in texts):
            continue
        src = strip_magics(cell.source)
        if src is None or not src.strip():
            continue
        try:
            tree = ast.parse(src, f"<cell {cell.index}>")
        except SyntaxError as exc:
            code.notes.append(f"cell {cell.index + 1} was not run: syntax error on line {exc.lineno}: {exc.msg}")
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            code.notes.append(f"cell {cell.index + 1} was not run: {exc}")
            continue
        parsed.append((cell, src, tree))
    student_defs = set()
    for _, _, tree in parsed:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                student_defs.add(node.name)
    tainted: set[str] = set()
    bound: set[str] | None = set(_ALWAYS_BOUND)   # None once a star import makes it unknowable
    lines_of = {}
    for cell, src, tree in parsed:
        lines = src.splitlines(True)
        lines_of[cell.index] = lines
        kept_any = False
        for node in tree.body:
            keep = False
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                keep = True
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    code.defined[node.name] = cell.index
                    tainted.discard(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                value = node.value
                names = _targets(node)
                reads = _free_names(value) | (names if isinstance(node, ast.AugAssign) else set())
                unbound = bound is not None and not reads <= bound
                if unbound or _rhs_runs_student_code(value, student_defs, tainted):
                    # it would run student code, or read a name only skipped code defines
                    tainted |= names
                else:
                    keep = True
                    tainted -= names
            elif isinstance(node, ast.Try) and _safe_block(node.body) and all(
                    _safe_block(h.body) for h in node.handlers) and _safe_block(node.orelse):
                keep = True
            if not keep:
                code.skipped += 1
                continue
            if bound is not None:
                names = _bound_by(node)
                bound = None if names is None else bound | names
            start = node.lineno
            decorators = getattr(node, "decorator_list", None)
            if decorators:
                start = min([start] + [d.lineno for d in decorators])
                text = "".join(lines[start - 1:node.end_lineno or node.lineno])
            else:
                text = ast.get_source_segment(src, node) or ""
            code.stmts.append({"cell": cell.index, "lineno": start, "src": text})
            code.nodes.append(node)
            kept_any = True
        if kept_any:
            code.cells[str(cell.index)] = src
    return code
