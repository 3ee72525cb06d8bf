"""Only the command line finds the course (issue 22, item 2).

``cli.main`` calls ``Course.locate`` once and passes the course (or its folders) down: release,
assignment loading, the gradebook's nbgrader config, the Gradescope zip and the sandbox's hidden
folders take them as required arguments. No module below the CLI computes a course path from
``__file__``; what remains of ``__file__`` is about where the code is (a package-location
constant, named as such) or runs inside a student's notebook, where there is no command line.
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "autograder"

# (file, the constant or function holding it): why this __file__ is not a course path guessed.
ALLOWED_FILE_USES = {
    ("course.py", "PACKAGE_ROOT"): "the package's location: Course.locate's last fallback (only cli.py calls it)",
    ("isolation/backends.py", "PACKAGE_DIR"): "the code bound read-only into every sandbox",
    ("worker.py", "_HELPERS_DIR"): "the tools package's code, which tracebacks point into",
    ("tools/data.py", "_repo_root"): "the offline data cache of the student-side tools (run in notebooks, no CLI)",
}


def _modules(pkg: Path = PKG):
    for path in sorted(pkg.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path.relative_to(pkg).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _owners(tree: ast.Module):
    """``(node, name of the module-level constant or function it sits in)`` for every node."""
    for top in tree.body:
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owner = top.name
        elif isinstance(top, (ast.Assign, ast.AnnAssign)):
            targets = top.targets if isinstance(top, ast.Assign) else [top.target]
            owner = ",".join(t.id for t in targets if isinstance(t, ast.Name)) or "<module>"
        else:
            owner = "<module>"
        for node in ast.walk(top):
            yield node, owner


def file_uses(pkg: Path = PKG) -> list[tuple[str, str, int]]:
    """``(module, owner, line)`` of each ``__file__`` read in the package."""
    return [(mod, owner, node.lineno) for mod, tree in _modules(pkg) for node, owner in _owners(tree)
            if isinstance(node, ast.Name) and node.id == "__file__"]


def locate_calls(pkg: Path = PKG) -> list[tuple[str, int]]:
    """``(module, line)`` of each ``<something>.locate(...)`` call in the package."""
    return [(mod, node.lineno) for mod, tree in _modules(pkg) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "locate"]


def test_no_module_below_the_cli_guesses_a_course_path_from_its_own_file():
    uses = file_uses()
    unexpected = [u for u in uses if (u[0], u[1]) not in ALLOWED_FILE_USES]
    assert not unexpected, (f"{unexpected}: a course path computed from __file__; take the folder from the "
                            "caller (the CLI's Course) instead")
    # The package-location constants are named as such.
    assert {o for m, o, _ in uses if m != "tools/data.py" and m != "worker.py"} <= {"PACKAGE_ROOT", "PACKAGE_DIR"}


def test_only_the_cli_locates_the_course():
    calls = locate_calls()
    assert [m for m, _ in calls] == ["cli.py"], calls


def test_library_functions_require_the_folders():
    from autograder import assignment, gradebook, gradescope, release

    def required(fn, *names):
        params = inspect.signature(fn).parameters
        return {n for n in names if params[n].default is inspect.Parameter.empty}

    assert required(assignment.load_assignment, "source_dir") == {"source_dir"}
    assert required(release.find_assignments, "source_dir") == {"source_dir"}
    for fn in (release.release_one, release.release):
        assert required(fn, "source_dir", "release_dir", "db_url") == {"source_dir", "release_dir", "db_url"}
    assert required(gradescope.build_autograder_zip, "source_dir", "repo") == {"source_dir", "repo"}
    assert required(gradebook.nbgrader_config, "config_file") == {"config_file"}


@pytest.mark.parametrize("module, name", [
    ("autograder.assignment", "REPO"), ("autograder.release", "ROOT"), ("autograder.release", "SOURCE_DIR"),
    ("autograder.release", "RELEASE_DIR"), ("autograder.release", "default_db_url"),
    ("autograder.release", "ensure_tools_on_path"), ("autograder.release", "_nbgrader_config"),
    ("autograder.gradescope", "REPO"), ("autograder.gradebook", "default_db_url"),
    ("autograder.gradebook", "ensure_tools_on_path"), ("autograder.isolation.backends", "REPO"),
    ("autograder.isolation.backends", "PKG_DIR"), ("autograder.isolation.backends", "course_checkout"),
])
def test_the_path_copies_and_compatibility_aliases_are_gone(module, name):
    import importlib

    assert not hasattr(importlib.import_module(module), name)


def test_grade_hides_the_course_it_was_given(tmp_path, monkeypatch):
    """The sandbox hides the course's folders because the CLI passes them down (``hide``),
    whichever folder the course is in; no module guesses the checkout."""
    from autograder import batch, cli
    from autograder.samples import TOY_NAME, write_toy_source

    course = tmp_path / "course"
    (course / "sub").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.source_directory = 'src'\n")
    write_toy_source(course / "src")
    other_sources = tmp_path / "elsewhere"
    write_toy_source(other_sources)
    seen = []

    def fake_grade_folder(assignment, submissions, out_dir, options=None, **kw):
        seen.append(kw)
        out = Path(out_dir)
        return [], {"grades": out / "grades.csv", "report": out / "report.html", "histogram": out / "h.png"}

    monkeypatch.setattr(batch, "grade_folder", fake_grade_folder)
    monkeypatch.chdir(course / "sub")
    assert cli.main(["grade", TOY_NAME, str(tmp_path), "--insecure", "--no-gradebook", "--quiet",
                     "--out", str(tmp_path / "out")]) == 0
    assert cli.main(["--course", str(course), "grade", TOY_NAME, str(tmp_path), "--insecure", "--no-gradebook",
                     "--quiet", "--source-dir", str(other_sources), "--out", str(tmp_path / "out")]) == 0
    root, src = str(course.resolve()), str((course / "src").resolve())
    assert seen[0]["hide"] == sorted({root, src})
    assert seen[1]["hide"] == sorted({root, src, str(other_sources.resolve())})
