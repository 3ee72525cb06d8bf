"""An assignment as the grader sees it: its tests (from the instructor's source
notebook, hidden ones included) and its ``grading.toml``.

``load_assignment("ps1", source_dir=course.source)`` reads ``solutions/ps1/ps1.ipynb``;
``load_assignment("ps1", source_dir=course.release, released=True)`` reads the student
release ``exercises/ps1/ps1.ipynb``, whose hidden test cells are empty: they are only
counted (``hidden_count``). The folder is always the caller's (the command line's
:class:`autograder.course.Course`, a test's folder): nothing here guesses where a course is.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import pysource
from .course import ConfigError
from .cells import BEGIN_SOLUTION, CODE_STUB, END_SOLUTION, has_hidden, is_manual, is_solution, outside, public_part
from .notebook import InvalidSubmission, read_notebook, released_statements
from .results import Visibility
from .limits import DEFAULT_LIMITS

DEFAULT_CONFIG = {"limits": {**DEFAULT_LIMITS, "tests": {}}, "forbidden": {"modules": [], "names": []},
                  "probes": {}, "sandbox": {"data": [], "preload": []}}
MAX_PROBE_CHARS = 20_000


def points_of(items) -> float:
    """The points of ``items`` (test specs or hand-graded cells) together: the one sum behind
    every maximum score (``Assignment.auto_max``, ``max_score``, a batch's rows, the engine's)."""
    return float(sum(i.points for i in items))


@dataclass
class TestSpec:
    grade_id: str
    points: float
    visibility: Visibility   # PUBLIC or HIDDEN (a plain string in JSON)
    source: str              # the instructor's test code (what runs in the grader)
    cpu_limit: float         # CPU seconds this test may use in the sandbox
    index: int = 0           # position of the cell in the source notebook

    __test__ = False  # not a pytest class


@dataclass
class ManualCell:
    """A cell graded by hand in formgrader: a written answer (``grade`` + ``solution``) or a task.

    How a student finds it in Jupyter, without a word of the instructor's answer: its
    ``position`` among the notebook's hand-graded cells and the first line of the question
    above it (``prompt``: the nearest markdown cell before it that the release shows)."""
    grade_id: str
    points: float
    cell_type: str           # "markdown" | "code"
    prompt: str = ""         # first line of the question cell above it (never the answer's text)
    position: int = 0        # 1, 2, ... among the hand-graded cells, in notebook order
    of: int = 0              # how many hand-graded cells the notebook has


def _prompt_line(source: str) -> str:
    """The first line of a question cell as a student sees it: outside solution and hidden regions,
    markdown heading and emphasis marks dropped, at most 80 characters."""
    for line in outside(source):
        text = line.strip().lstrip("#>*-_ ").rstrip("*_ ").strip()
        if text:
            return text if len(text) <= 80 else text[:77] + "..."
    return ""


@dataclass
class Assignment:
    name: str
    notebook_name: str
    tests: list[TestSpec]
    config: dict
    setup_source: str = ""
    test_sources_for_matching: list[str] = field(default_factory=list)
    hidden_count: int = 0
    released: bool = False
    path: Path | None = None
    graded_names: frozenset = frozenset()   # what test cells may use of the student's code
    version: str = ""                       # digest of the tests, manual cells and grading.toml (regrades)
    manual: list = field(default_factory=list)   # ManualCell: written answers and tasks graded by hand
    hidden_points: float = 0.0              # points of the hidden tests (known from the release too)
    template: frozenset | None = None       # notebook.released_statements of the student release

    @property
    def auto_max(self) -> float:
        return points_of(self.tests)

    @property
    def manual_max(self) -> float:
        return points_of(self.manual)

    @property
    def max_score(self) -> float:
        """Every point of the assignment: autograded tests and answers graded by hand."""
        return self.auto_max + self.manual_max

    @property
    def test_ids(self) -> set[str]:
        return {t.grade_id for t in self.tests}

    @property
    def limits(self) -> dict:
        return self.config["limits"]

    @property
    def forbidden(self) -> dict:
        return self.config["forbidden"]

    def effective_limits(self, overrides: dict | None = None) -> dict:
        """The limits grading uses: defaults < ``grading.toml [limits]`` < the command line's
        ``overrides`` (the one place they are merged)."""
        return {**DEFAULT_LIMITS, **{k: v for k, v in self.limits.items() if k != "tests"}, **(overrides or {})}

    def cpu_for(self, spec: "TestSpec", overrides: dict | None = None) -> float:
        """CPU seconds for one test: the command line's ``cpu_per_test``, else the test's own
        ``[limits.tests]`` entry, else ``[limits] cpu_per_test`` (computed at load time)."""
        if overrides and "cpu_per_test" in overrides:
            return float(overrides["cpu_per_test"])
        return float(spec.cpu_limit)

    @property
    def probes(self) -> dict:
        """``[probes]``: public code snippets hidden tests run in the sandbox by name."""
        return self.config.get("probes", {}) or {}

    @property
    def sandbox_data(self) -> list:
        """``[sandbox] data``: data files (in the data cache) the sandbox may read."""
        return list((self.config.get("sandbox") or {}).get("data", []) or [])

    @property
    def sandbox_preload(self) -> list:
        """``[sandbox] preload``: modules the sandbox template imports once, before forking
        each submission's sandbox (isolation/templates.py); they never run student code."""
        return list((self.config.get("sandbox") or {}).get("preload", []) or [])


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: Path) -> dict:
    """Parse ``grading.toml`` (missing file -> defaults); raise ValueError naming bad entries."""
    data = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    cfg = _merge(DEFAULT_CONFIG, data)
    lim = cfg["limits"]
    for key in DEFAULT_LIMITS:
        if not isinstance(lim[key], (int, float)) or isinstance(lim[key], bool) or lim[key] <= 0:
            raise ConfigError(f"{path}: [limits] {key} must be a positive number, got {lim[key]!r}")
    for key in ("modules", "names"):
        v = cfg["forbidden"].get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{path}: [forbidden] {key} must be a list of strings, got {v!r}")
    # [[forbidden.scoped]]: modules/names forbidden in the listed functions only (static check;
    # the sandbox's runtime guard leaves them importable for the rest of the notebook)
    scoped = cfg["forbidden"].get("scoped", [])
    if not isinstance(scoped, list) or not all(
            isinstance(s, dict) and set(s) <= {"functions", "modules", "names"} and s.get("functions")
            and all(isinstance(s.get(k, []), list) and all(isinstance(x, str) for x in s.get(k, []))
                    for k in ("functions", "modules", "names")) for s in scoped):
        raise ConfigError(f"{path}: [[forbidden.scoped]] entries must hold a non-empty list of strings "
                          f"`functions` and lists of strings `modules` / `names`, got {scoped!r}")
    probes = cfg.get("probes")
    if not isinstance(probes, dict):
        raise ConfigError(f"{path}: [probes] must be a table of name = \"\"\"code\"\"\" entries")
    for name, code in probes.items():
        if not name.isidentifier() or not isinstance(code, str) or len(code) > MAX_PROBE_CHARS:
            raise ConfigError(f"{path}: [probes] {name} must be a string of Python code "
                             f"(at most {MAX_PROBE_CHARS} characters) under an identifier name")
        try:
            pysource.parse(code)
        except SyntaxError as exc:
            raise ConfigError(f"{path}: [probes] {name} is not valid Python ({exc.msg}, line {exc.lineno})") from None
    data = (cfg.get("sandbox") or {}).get("data", [])
    if not isinstance(data, list) or not all(isinstance(x, str) and x and "/" not in x and not x.startswith(".")
                                             for x in data):
        raise ConfigError(f"{path}: [sandbox] data must be a list of file names in the data folder, got {data!r}")
    preload = (cfg.get("sandbox") or {}).get("preload", [])
    if not isinstance(preload, list) or not all(
            isinstance(x, str) and x and all(part.isidentifier() for part in x.split(".")) for x in preload):
        raise ConfigError(f"{path}: [sandbox] preload must be a list of module names, got {preload!r}")
    forbidden = set(cfg["forbidden"].get("modules", []))
    clash = sorted(m for m in preload if m in forbidden or m.split(".")[0] in forbidden)
    if clash:
        raise ConfigError(f"{path}: [sandbox] preload lists {', '.join(clash)}, which [forbidden] modules forbids")
    return cfg


def defined_names(source: str) -> set[str]:
    """Top-level names a cell defines: functions, classes, assignment targets, imports."""
    try:
        tree = pysource.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
    return out


def as_released(source: str, nbg: dict) -> str:
    """A source code cell as nbgrader's ClearSolutions releases it: each solution region becomes
    the stub, indented as its BEGIN line; a solution cell without a region becomes the stub."""
    if BEGIN_SOLUTION not in source:
        return CODE_STUB if nbg.get("solution") else source
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN_SOLUTION in line:
            inside = True
            out.extend(line[:len(line) - len(line.lstrip())] + stub for stub in CODE_STUB.split("\n"))
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def load_assignment(name: str, *, source_dir: Path | str, released: bool = False,
                    own_copy: bool = False) -> Assignment:
    """Load assignment ``name`` from the instructor sources or (``released``) the student release.

    ``source_dir``: the folder holding ``<name>/<name>.ipynb`` and ``<name>/grading.toml``
    (a course's ``source``, or its ``release`` when ``released``); required. ``own_copy``: the
    released notebook is a student's own copy (``cnn-course check`` without the pristine
    release): its solution cells say nothing of the release's, so they count as the bare stub
    in ``Assignment.template``.
    """
    base = Path(source_dir)
    folder = base / name
    nb_path = folder / f"{name}.ipynb"
    if not nb_path.exists():
        cands = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        if len(cands) != 1:
            raise FileNotFoundError(f"assignment {name!r}: no notebook {nb_path} (expected <dir>/{name}/{name}.ipynb)")
        nb_path = cands[0]
    try:
        _, cells = read_notebook(nb_path)
    except InvalidSubmission as exc:
        raise ValueError(f"assignment notebook {nb_path} is unreadable: {exc}") from None
    cfg = load_config(folder / "grading.toml")
    overrides = cfg["limits"].get("tests", {}) or {}
    tests, texts = [], []
    hidden = 0
    setup = ""
    seen = set()
    graded: set[str] = set()
    manual: list[ManualCell] = []
    hidden_points = 0.0
    prompt = ""                  # first line of the last question cell (markdown the release shows)
    for cell in cells:
        if is_manual(cell.nbgrader) and cell.grade_id:
            if cell.grade_id in seen:
                raise ValueError(f"{nb_path}: duplicate grade_id {cell.grade_id!r}")
            seen.add(cell.grade_id)
            own = _prompt_line(cell.source) if cell.nbgrader.get("task") and not cell.nbgrader.get("solution") else ""
            manual.append(ManualCell(cell.grade_id, float(cell.nbgrader.get("points", 0) or 0), cell.cell_type,
                                     own or prompt, len(manual) + 1))
            continue
        if cell.cell_type == "markdown" and not cell.nbgrader.get("solution"):
            prompt = _prompt_line(cell.source) or prompt
        if cell.cell_type != "code":
            continue
        gid = cell.grade_id
        if gid == "setup" and not setup:
            setup = cell.source
        if is_solution(cell.nbgrader):
            graded |= defined_names(cell.source)
        if not cell.is_test or not gid:
            continue
        if gid in seen:
            raise ValueError(f"{nb_path}: duplicate grade_id {gid!r}")
        seen.add(gid)
        is_hidden = has_hidden(cell.source)
        points = float(cell.nbgrader.get("points", 0) or 0)
        if released and not cell.source.strip():
            hidden += 1
            hidden_points += points
            continue
        texts.append(public_part(cell.source))
        cpu = float(overrides.get(gid, cfg["limits"]["cpu_per_test"]))
        tests.append(TestSpec(gid, points, Visibility.HIDDEN if is_hidden else Visibility.PUBLIC, cell.source, cpu, cell.index))
    hidden_points += points_of(t for t in tests if t.visibility == Visibility.HIDDEN)
    for m in manual:
        m.of = len(manual)
    with pysource.AST_LOCK:     # released_statements parses the cells
        template = released_statements(
            (CODE_STUB if own_copy and cell.nbgrader.get("solution") else
             cell.source if released else as_released(cell.source, cell.nbgrader))
            for cell in cells if cell.cell_type == "code" and not cell.is_test)
    if released:
        hidden += sum(1 for t in tests if t.visibility == Visibility.HIDDEN)
        tests = [t for t in tests if t.visibility == Visibility.PUBLIC]
    digest = hashlib.sha256(json.dumps({
        "tests": [[t.grade_id, t.points, t.source] for t in tests],
        "manual": [[m.grade_id, m.points] for m in manual],
        "config": cfg}, sort_keys=True, default=str).encode())
    return Assignment(name=name, notebook_name=nb_path.name, tests=tests, config=cfg, setup_source=setup,
                      test_sources_for_matching=[t for t in texts if t.strip()], hidden_count=hidden,
                      released=released, path=nb_path, graded_names=frozenset(graded),
                      version=digest.hexdigest()[:16], manual=manual, hidden_points=hidden_points,
                      template=template)
