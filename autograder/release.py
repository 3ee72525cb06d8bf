"""Build the student release of an assignment with nbgrader, then prove nothing secret leaked.

``release(["ps1_convolution"], source_dir=course.source, release_dir=course.release,
db_url=..., config_file=course.config_file)`` turns ``solutions/ps1_convolution/ps1_convolution.ipynb``
(the instructor source: solutions between ``### BEGIN SOLUTION`` / ``### END SOLUTION``,
hidden tests between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``) into
``exercises/ps1_convolution/`` with nbgrader's ``generate_assignment`` (which also records
the assignment and its grade cells in the gradebook), and then:

* normalises the released notebooks (no outputs, no execution counts, no editor metadata,
  fixed JSON layout) so the same source always gives byte-identical files;
* copies only what students may see: notebooks, ``grading.toml`` and images (never ``*.py``
  test modules, ``__pycache__`` or anything else lying beside the source);
* checks that no line of a solution region and no line of a hidden-test region survived,
  that every hidden test cell is empty and that every solution cell holds the stub;
  a problem raises :class:`ReleaseError` and the previous release is left untouched.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import cells
from autograder import gradebook as nbgb
from autograder.cells import BEGIN_HIDDEN, BEGIN_SOLUTION, CODE_STUB, END_HIDDEN, END_SOLUTION, TEXT_STUB

# What may be copied into a release besides the notebooks.
EXTRA_FILES = ("grading.toml",)
EXTRA_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")

# Lines too generic to count as a leak when they appear in a release
# (they are also ignored when they appear in a public part of the source).
_GENERIC = re.compile(r"^[\s()\[\]{}:,.#]*$|^(else|try|finally|pass|return|continue|break)\s*:?$")

# Cell metadata kept in a release; everything else (execution times, collapsed,
# scrolled, editor tags) is dropped so releases do not depend on who saved the source.
_KEEP_CELL_METADATA = ("nbgrader", "deletable", "editable", "tags")
_KEEP_NB_METADATA = ("kernelspec", "language_info")

log = logging.getLogger("cnn_course.release")


class ReleaseError(RuntimeError):
    """The release could not be built, or it would leak solutions or hidden tests."""


@dataclass
class Secret:
    """A line that must not appear in a release."""

    line: str
    cell: int        # index of the source cell
    grade_id: str
    kind: str        # "solution" or "hidden test"


# ---------------------------------------------------------------- finding assignments


def find_assignments(source_dir: Path | str) -> list[str]:
    """Names of the assignments in ``source_dir``: folders ``<ps>/`` holding ``<ps>.ipynb``."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        return []
    return sorted(p.name for p in source_dir.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


def _release_files(src: Path) -> tuple[list[Path], list[Path]]:
    """(files to release, files left out) of the assignment folder ``src`` (top level only)."""
    keep, skipped = [], []
    for p in sorted(src.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_file() and (p.suffix == ".ipynb" or p.name in EXTRA_FILES or p.suffix.lower() in EXTRA_SUFFIXES):
            keep.append(p)
        else:
            skipped.append(p)
    return keep, skipped


# ---------------------------------------------------------------- nbgrader


# nbgrader's configuration and gradebook live in one adapter module (autograder.gradebook).
def _generate(name: str, staging: Path, db_url: str, config_file: Path | None) -> Path:
    """Run nbgrader's generate_assignment on ``staging/source/<name>``; return the output folder."""
    nbgb.use_in_process_alembic_head()
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = nbgb.nbgrader_config(staging, "source", "release", db_url, config_file=config_file)
    coursedir = CourseDirectory(config=cfg)
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    result = api.generate_assignment(name, force=True, create=True)
    out = staging / "release" / name
    if not result.get("success") and "there are submissions associated" in (result.get("log") or ""):
        # The gradebook already holds graded submissions and the tests changed: nbgrader
        # refuses to touch its cells. Release without it; the grade cells are brought up to
        # date here and at the next `cnn-course grade` (see autograder.gradebook).
        from nbgrader.converters.generate_assignment import GenerateAssignment
        from nbgrader.preprocessors import SaveCells

        cfg.GenerateAssignment.no_database = True
        cfg.GenerateAssignment.preprocessors = [p for p in GenerateAssignment.class_traits()["preprocessors"].default()
                                                if p is not SaveCells]
        coursedir = CourseDirectory(config=cfg)
        api = NbGraderAPI(coursedir=coursedir, config=cfg)
        result = api.generate_assignment(name, force=True, create=True)
        if result.get("success") and out.is_dir():
            nb = nbformat.read(str(staging / "source" / name / f"{name}.ipynb"), as_version=4)
            metas = [cells.nbgrader_of(c) for c in nb.cells]
            graded = [(m["grade_id"], float(m.get("points", 0) or 0)) for m in metas if m.get("grade") and m.get("grade_id")]
            for note in nbgb.sync_grade_cells(db_url, name, name, graded):
                log.warning("release %s: %s", name, note)
    if result.get("success") and out.is_dir():
        # Whatever ran before (a `grade` on a fresh gradebook, a release without SaveCells),
        # the gradebook now holds every source, solution and grade cell of the notebook, as
        # `nbgrader autograde`, `generate_feedback` and formgrader expect.
        nb = nbformat.read(str(staging / "source" / name / f"{name}.ipynb"), as_version=4)
        nbgb.record_cells(db_url, name, name, nb)
    if not result.get("success") or not out.is_dir():
        detail = (result.get("error") or "") + "\n" + (result.get("log") or "")
        raise ReleaseError(f"nbgrader generate_assignment failed for {name!r}:\n{detail.strip()}")
    return out


# ---------------------------------------------------------------- normalising


def normalize_notebook(nb) -> None:
    """Strip outputs and volatile metadata in place so releases are byte-for-byte reproducible."""
    nb.metadata = nbformat.from_dict({k: nb.metadata[k] for k in _KEEP_NB_METADATA if k in nb.metadata})
    for i, cell in enumerate(nb.cells):
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in _KEEP_CELL_METADATA if k in cell.metadata})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.pop("attachments", None) if cell.cell_type != "markdown" else None
        if nb.nbformat_minor >= 5 and not cell.get("id"):
            grade_id = cells.nbgrader_of(cell).get("grade_id")
            cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", grade_id or f"cell-{i}")[:64]


def write_notebook(nb, path: Path) -> None:
    """Write ``nb`` as nbformat 4 JSON (sorted keys, indent 1, trailing newline)."""
    text = nbformat.writes(nb, version=4)
    if not text.endswith("\n"):
        text += "\n"
    Path(path).write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- leak check


def _norm(line: str) -> str:
    return " ".join(line.split())


def secret_lines(source_nb) -> list[Secret]:
    """Every line of the source notebook that a release must not contain.

    Solution regions (and whole solution cells without delimiters) and hidden-test regions;
    lines that are blank, generic (``else:``, ``return``, brackets) or that also occur in a
    public part of the notebook are not secret.
    """
    public: set[str] = set()
    candidates: list[Secret] = []
    for i, cell in enumerate(source_nb.cells):
        meta = cells.nbgrader_of(cell)
        src = cell.source
        gid = meta.get("grade_id", f"cell {i}")
        has_sol = BEGIN_SOLUTION in src
        has_hidden = BEGIN_HIDDEN in src
        if meta.get("solution") and not has_sol and cell.cell_type == "code":
            candidates += [Secret(line, i, gid, "solution") for line in src.split("\n")]
            continue
        if meta.get("solution") and not has_sol and cell.cell_type == "markdown":
            candidates += [Secret(line, i, gid, "solution") for line in src.split("\n")]
            continue
        candidates += [Secret(line, i, gid, "solution") for line in cells.regions(src, BEGIN_SOLUTION, END_SOLUTION)]
        candidates += [Secret(line, i, gid, "hidden test") for line in cells.regions(src, BEGIN_HIDDEN, END_HIDDEN)]
        if has_sol or has_hidden:
            public.update(_norm(line) for line in cells.outside(src))
        else:
            public.update(_norm(line) for line in src.split("\n"))
    public |= {_norm(line) for line in CODE_STUB.split("\n")} | {TEXT_STUB}
    seen, out = set(), []
    for s in candidates:
        key = _norm(s.line)
        if not key or _GENERIC.match(key) or key in public or key in seen:
            continue
        seen.add(key)
        out.append(Secret(key, s.cell, s.grade_id, s.kind))
    return out


def check_release(source_nb, released_nb, *, name: str = "notebook") -> list[str]:
    """Problems that make ``released_nb`` unsafe to give to students (empty list: safe).

    Both arguments are nbformat notebooks (or paths to them).
    """
    if not hasattr(source_nb, "cells"):
        source_nb = nbformat.read(str(source_nb), as_version=4)
    if not hasattr(released_nb, "cells"):
        released_nb = nbformat.read(str(released_nb), as_version=4)
    problems: list[str] = []
    where: dict[str, list[str]] = {}
    for j, cell in enumerate(released_nb.cells):
        gid = cells.nbgrader_of(cell).get("grade_id") or f"cell {j}"
        for line in cell.source.split("\n"):
            where.setdefault(_norm(line), []).append(f"cell {j} ({gid})")
        for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
            if marker in cell.source:
                problems.append(f"{name}: cell {j} ({gid}) still contains the marker {marker!r}.")
    for s in secret_lines(source_nb):
        if s.line in where:
            problems.append(
                f"{name}: a {s.kind} line of source cell {s.cell} ({s.grade_id}) survived in "
                f"{', '.join(where[s.line])}: {s.line!r}"
            )
    # Cell-level rules, matched by grade_id.
    src_by_id = {cells.nbgrader_of(c).get("grade_id"): c for c in source_nb.cells if cells.nbgrader_of(c).get("grade_id")}
    for j, cell in enumerate(released_nb.cells):
        meta = cells.nbgrader_of(cell)
        gid = meta.get("grade_id")
        src = src_by_id.get(gid)
        if src is None:
            continue
        if BEGIN_HIDDEN in src.source:
            visible = cells.outside(src.source)
            if any(line.strip() for line in visible):
                problems.append(
                    f"{name}: test cell {gid!r} mixes public code with a hidden region; a test cell "
                    f"must be either public or hidden (put all of it between the markers)."
                )
            elif cell.source.strip():
                problems.append(f"{name}: hidden test cell {gid!r} is not empty in the release.")
        if meta.get("solution") and cell.cell_type == "code":
            stub_first = CODE_STUB.split("\n")[0]
            if stub_first not in cell.source:
                problems.append(f"{name}: solution cell {gid!r} has no '{stub_first}' stub in the release.")
    return problems


# ---------------------------------------------------------------- every point can be earned


_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


def _parse(code: str):
    import ast

    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _names_read(tree, probes: dict, _depth: int = 0) -> set[str]:
    """Names the code ``tree`` reads without binding them itself; the code of a probe it names
    (``run_probe("train", ...)``: any string equal to a probe's name) and code it passes as a
    string (``run_student("result = f(x)")``) count as read too."""
    import ast

    if tree is None or _depth > 3:
        return set()
    loads, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 20_000:
            if node.value in probes:
                loads |= _names_read(_parse(probes[node.value]), probes, _depth + 1)
            elif "\n" in node.value or "=" in node.value:
                loads |= _names_read(_parse(node.value), probes, _depth + 1)
    return loads - bound


def graded_names_read(source_nb, probes: dict | None = None) -> dict[str, list[str]]:
    """{student name: the test cells that read it} for the names the solution cells define
    (the graded names: functions, answer variables, classes) that a test cell, hidden or
    public, reads, directly or through the probes it runs (``probes``: ``grading.toml``'s).
    Builtins, the setup cell's names and modules a solution cell imports are not counted."""
    from autograder.assignment import defined_names

    if not hasattr(source_nb, "cells"):
        source_nb = nbformat.read(str(source_nb), as_version=4)
    import ast
    import builtins

    probes = {k: v for k, v in (probes or {}).items() if isinstance(v, str)}
    graded: set[str] = set()
    own: set[str] = set(dir(builtins))     # the grader's own names: builtins, the setup cell's, modules
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        if cells.is_solution(cells.nbgrader_of(cell)):
            graded |= defined_names(cell.source)
            tree = _parse(cell.source)
            own |= {(a.asname or a.name).split(".")[0] for node in (tree.body if tree else [])
                    if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
        elif cells.nbgrader_of(cell).get("grade_id") == "setup":
            own |= defined_names(cell.source)
    graded -= own
    readers: dict[str, list[str]] = {}
    for i, cell in enumerate(source_nb.cells):
        meta = cells.nbgrader_of(cell)
        if cell.cell_type != "code" or not cells.is_test(meta):
            continue
        gid = meta.get("grade_id") or f"cell {i}"
        for name in sorted(_names_read(_parse(cell.source), probes) & graded):
            readers.setdefault(name, []).append(gid)
    return readers


def shown_text(released_nb) -> str:
    """What a release shows a student of the names to write: its markdown (instructions) and
    its solution cells (stub lines such as ``answer_x = None``, signatures), never test cells."""
    parts = []
    for cell in released_nb.cells:
        meta = cells.nbgrader_of(cell)
        if cell.cell_type == "markdown":
            parts.append(cell.source.replace("\\_", "_"))     # answer\_x in markdown reads answer_x
        elif cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            parts.append(cell.source)
    return "\n".join(parts)


def check_names(source_nb, released_nb, *, probes: dict | None = None, name: str = "notebook") -> list[str]:
    """Problems that leave points out of a student's reach (empty list: none): a graded name a
    test reads that the release never writes outside its test cells (in the instructions, a
    stub line, a signature), so a student working from the release cannot know to define it."""
    if not hasattr(source_nb, "cells"):
        source_nb = nbformat.read(str(source_nb), as_version=4)
    if not hasattr(released_nb, "cells"):
        released_nb = nbformat.read(str(released_nb), as_version=4)
    shown = shown_text(released_nb)
    missing = {n: gids for n, gids in graded_names_read(source_nb, probes).items()
               if not re.search(_WORD.format(re.escape(n)), shown)}
    return [f"{name}: the test(s) {', '.join(gids)} read {n!r}, which the release never names outside its test "
            f"cells: write it where students see it (a stub line such as `{n} = None` before "
            f"### BEGIN SOLUTION, the function's signature, or the instructions)."
            for n, gids in sorted(missing.items())]


# ---------------------------------------------------------------- release


def _probes(folder: Path) -> dict:
    """``[probes]`` of the assignment's grading.toml (empty when it has none or cannot be read:
    loading the assignment reports a bad file)."""
    import tomllib

    try:
        probes = tomllib.loads((Path(folder) / "grading.toml").read_text(encoding="utf-8")).get("probes", {})
    except (OSError, ValueError):
        return {}
    return probes if isinstance(probes, dict) else {}


def _check_setup_cell(name: str, source_dir: Path) -> None:
    """Refuse an assignment whose setup cell does not run in the grader (its test cells would
    then lack the setup's names, and every student would be graded as if their code lacked them)."""
    from autograder.assignment import load_assignment
    from autograder.grader_process import SetupError, run_setup_cell

    try:
        run_setup_cell(load_assignment(name, source_dir=source_dir).setup_source)
    except SetupError as exc:
        raise ReleaseError(f"refusing to release {name}: {exc}") from None


def release_one(
    name: str,
    *,
    source_dir: Path | str,
    release_dir: Path | str,
    db_url: str,
    config_file: Path | str | None = None,
) -> Path:
    """Release one assignment into ``release_dir/<name>/`` (replacing it); return that folder.

    ``source_dir``, ``release_dir``, ``db_url`` (the gradebook nbgrader records the assignment
    in): the course's (:class:`autograder.course.Course`), all required; ``config_file``: the
    course's ``nbgrader_config.py`` to read first (None: nbgrader's defaults and ours)."""
    source_dir, release_dir = Path(source_dir), Path(release_dir)
    src = source_dir / name
    if not (src / f"{name}.ipynb").is_file():
        raise ReleaseError(
            f"assignment {name!r}: expected the source notebook {src / (name + '.ipynb')}; "
            f"found assignments: {', '.join(find_assignments(source_dir)) or 'none'}."
        )
    _check_setup_cell(name, source_dir)
    keep, skipped = _release_files(src)
    for p in skipped:
        log.info("release %s: not copied (not a notebook, grading.toml or image): %s", name, p.name)
    release_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"cnn-course-release-{name}-") as tmp:
        staging = Path(tmp)
        (staging / "source" / name).mkdir(parents=True)
        for p in keep:
            shutil.copy2(p, staging / "source" / name / p.name)
        out = _generate(name, staging, db_url, Path(config_file) if config_file is not None else None)
        problems: list[str] = []
        unreachable: list[str] = []
        probes = _probes(src)
        final = staging / "final"
        final.mkdir()
        for p in keep:
            produced = out / p.name
            if not produced.is_file():
                problems.append(f"{name}: nbgrader did not produce {p.name}.")
                continue
            if p.suffix == ".ipynb":
                nb = nbformat.read(str(produced), as_version=4)
                normalize_notebook(nb)
                source_nb = nbformat.read(str(p), as_version=4)
                problems += check_release(source_nb, nb, name=f"{name}/{p.name}")
                unreachable += check_names(source_nb, nb, probes=probes, name=f"{name}/{p.name}")
                write_notebook(nb, final / p.name)
            else:
                shutil.copyfile(produced, final / p.name)
        if problems or unreachable:
            raise ReleaseError("\n".join(
                [f"refusing to release {name}: it would show students what they must not see.\n  "
                 + "\n  ".join(problems)] * bool(problems)
                + [f"refusing to release {name}: students could not earn every point, the tests read names "
                   f"the release never shows.\n  " + "\n  ".join(unreachable)] * bool(unreachable)))
        dest = release_dir / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(final, dest)
        for p in dest.iterdir():
            os.chmod(p, 0o644)
    return dest


def release(
    assignments: list[str] | None = None,
    *,
    source_dir: Path | str,
    release_dir: Path | str,
    db_url: str,
    config_file: Path | str | None = None,
) -> list[Path]:
    """Release ``assignments`` (default: every assignment in ``source_dir``); return their folders."""
    names = list(assignments) if assignments else find_assignments(source_dir)
    if not names:
        raise ReleaseError(f"no assignment found in {source_dir} (expected <ps>/<ps>.ipynb).")
    return [release_one(n, source_dir=source_dir, release_dir=release_dir, db_url=db_url, config_file=config_file)
            for n in names]
