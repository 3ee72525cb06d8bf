"""A cheap emulation of `make install-student`: the student wheel has no reference library,
the released notebooks' setup cells still import, and `cnn-course check` works.

The student venv is created ``--without-pip`` and borrows numpy/torch/... from the main
``.venv`` through a ``.pth`` line (path lines in a ``.pth`` file are added to ``sys.path``
but the ``.pth`` files found there are not processed, so the editable install of the full
project, which would bring ``solutions`` back, stays invisible).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import release as rel
from autograder.samples import TOY_NAME, correct_notebook, write_toy_source

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="student_install")]


def _run(cmd, cwd, env, timeout=300):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def student(tmp_path_factory, shared_dir):
    tmp = shared_dir("student_install", _build_student)
    venv = tmp / "venv"
    senv = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CNN_COURSE_STUDENT")}
    senv["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    work = tmp_path_factory.mktemp("student_home")
    return {"py": venv / "bin" / "python", "bin": venv / "bin", "env": senv, "work": work, "tmp": tmp}


def _build_student(tmp: Path) -> None:
    # Build the wheel from a clean copy of what setup.py packages (no stale build/ inside).
    src = tmp / "src"
    src.mkdir()
    for f in ("setup.py", "pyproject.toml", "README.md"):
        if (ROOT / f).exists():
            shutil.copy2(ROOT / f, src / f)
    if not (src / "README.md").exists():
        (src / "README.md").write_text("cnn-course\n")
    shutil.copytree(ROOT / "autograder", src / "autograder", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "solutions", src / "solutions", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.ipynb"))
    env = dict(os.environ, CNN_COURSE_STUDENT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", ".", "-w", tmp / "dist"],
                src, env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheel = next((tmp / "dist").glob("cnn_course-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("solutions/")], "the student wheel contains the reference library"
    assert "autograder/cli.py" in names and "autograder/tools/checks.py" in names

    venv = tmp / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    proc = _run([base_python, "-m", "venv", "--without-pip", venv], tmp, env)
    assert proc.returncode == 0, proc.stderr
    py = venv / "bin" / "python"
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env).stdout.strip()
    (Path(site) / "_main_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheel], tmp, env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def _assignments():
    """(name, source notebook, released folder) for each released assignment, else the toy one."""
    out = []
    for name in rel.find_assignments(ROOT / "solutions"):
        if (ROOT / "exercises" / name / f"{name}.ipynb").is_file():
            out.append((name, ROOT / "solutions" / name / f"{name}.ipynb", ROOT / "exercises" / name))
    return out


@pytest.fixture(scope="module")
def released(student):
    items = _assignments()
    if not items:  # nothing released yet: the toy assignment stands in
        src = write_toy_source(student["work"] / "toy_src")
        folder = rel.release_one(TOY_NAME, source_dir=src.parent.parent, release_dir=student["work"] / "toy_rel",
                                 db_url=f"sqlite:///{student['work']}/toy.db")
        items = [(TOY_NAME, src, folder)]
    return items


def test_reference_library_is_absent(student):
    proc = _run([student["py"], "-c", "import solutions"], student["work"], student["env"])
    assert proc.returncode != 0 and "No module named 'solutions'" in proc.stderr
    proc = _run([student["py"], "-c", "import autograder.cli, numpy; print(autograder.cli.__file__)"],
                student["work"], student["env"])
    assert proc.returncode == 0, proc.stderr
    assert str(student["tmp"]) in proc.stdout  # the wheel's copy, not the repo's


def test_setup_cells_import(student, released):
    for name, _, folder in released:
        nb = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
        setup = [c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"]
        assert setup, f"{name}: no setup cell (grade_id 'setup')"
        proc = _run([student["py"], "-c", setup[0]], student["work"], student["env"])
        assert proc.returncode == 0, f"{name}: setup cell fails in a student install:\n{proc.stderr[-2000:]}"


def test_check_blank_and_solved(student, released):
    # --insecure: this emulated venv borrows numpy & co. from the repo's .venv, and the sandbox
    # hides the repo by design; a real student venv holds its packages under its own prefix.
    # (On a student's laptop without root, `check` falls back to this mode by itself.)
    # One light assignment is enough here (ps3/ps4's public tests train networks).
    light = [item for item in released if item[0] in ("ps1_convolution", TOY_NAME)] or released[:1]
    for name, source, folder in light:
        course = student["work"] / f"course_{name}"
        shutil.copytree(folder, course / "exercises" / name)
        blank = course / "exercises" / name / f"{name}.ipynb"
        proc = _run([student["bin"] / "cnn-course", "check", blank, "--insecure"], student["work"], student["env"])
        out = proc.stdout
        assert proc.returncode == 1, out + proc.stderr[-2000:]
        assert "Public tests: 0 / " in out, out
        hidden = [c for c in nbformat.read(str(blank), as_version=4).cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade") and not c.source.strip()]
        points = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in hidden)
        from autograder.results import fmt_num
        assert f"{len(hidden)} hidden tests worth {fmt_num(points)} points run when you submit" in out, out

        solved = course / "my_work" / f"{name}.ipynb"
        solved.parent.mkdir()
        rel.write_notebook(correct_notebook(nbformat.read(str(source), as_version=4)), solved)
        proc = _run([student["bin"] / "cnn-course", "check", solved, "--insecure"], student["work"], student["env"])
        out = proc.stdout
        assert proc.returncode == 0, out + proc.stderr[-2000:]
        line = next(l for l in out.splitlines() if l.startswith("Public tests:"))
        got, total = line.split(":")[1].split("points")[0].split("/")
        assert float(got) == float(total) > 0, out
        assert f"exercises/{name}/{name}.ipynb" in out  # the tests came from the pristine release
