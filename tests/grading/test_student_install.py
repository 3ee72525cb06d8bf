"""What a student gets: a non-editable install without the reference library, in its own
virtual environment, and `cnn-course check` grading a correct notebook of every released
assignment with full public points, in the sandbox, as root and as an unprivileged user
(issue 19: an installed package was hidden from its own sandbox, so every check scored 0).

The student venv holds its own packages (nothing borrowed from the repository's .venv: the
sandbox shows only the student's Python installation, which is what failed). Installing
them with pip takes minutes, so the venv is built once under ``build/student-venv`` and
kept while requirements.lock, the interpreter and .venv's packages stay the same: its
site-packages are hard-linked copies of .venv's third-party packages (never the editable
cnn-course, hence no ``solutions``). The cnn-course wheel itself (built with
``CNN_COURSE_STUDENT=1``, as ``make student-wheel`` does) is rebuilt and reinstalled every
session. ``make install-student`` does the same with pip from the package index.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
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
AS_NOBODY = ROOT / "tests" / "tools" / "as_nobody.sh"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="student_install")]
# What a student must never see from `check`: Python tracebacks and warnings, sandbox internals.
NOISE = re.compile(r"Traceback|\w+Warning: |sandbox template|BOOTFAIL|could not be started|worker exited")


def _run(cmd, cwd, env, timeout=600):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _venv_key() -> str:
    main_site = Path(sysconfig.get_paths()["purelib"])
    h = hashlib.sha256(b"layout 2: with __pycache__")
    h.update((ROOT / "requirements.lock").read_bytes())
    h.update(sys.version.encode())
    h.update("\n".join(sorted(p.name for p in main_site.glob("*.dist-info"))).encode())
    return h.hexdigest()[:12]


def _student_venv() -> Path:
    """build/student-venv/<key>: a venv with .venv's third-party packages (copies), no cnn-course."""
    base = ROOT / "build" / "student-venv"
    base.mkdir(parents=True, exist_ok=True)
    venv = base / _venv_key()
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".done").exists():
            return venv
        for old in base.iterdir():
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        proc = _run([base_python, "-m", "venv", "--without-pip", venv], base, os.environ)
        assert proc.returncode == 0, proc.stderr
        site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         base, os.environ).stdout.strip())
        main_site = Path(sysconfig.get_paths()["purelib"])
        skip = re.compile(r"^(__editable__|cnn_course|a1_coverage\.pth|_main_venv\.pth|__pycache__)")
        for entry in sorted(main_site.iterdir()):
            if skip.match(entry.name):
                continue
            dst = site / entry.name
            if entry.is_dir():     # with its compiled bytecode, as pip leaves it (the sandbox writes none)
                shutil.copytree(entry, dst, copy_function=_link_or_copy, symlinks=True)
            else:
                _link_or_copy(entry, dst)
        (venv / ".done").write_text("ok")
    return venv


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _build_wheel(tmp: Path) -> None:
    # Build the wheel from a clean copy of what setup.py packages (no stale build/ inside).
    src = tmp / "src"
    src.mkdir()
    for f in ("setup.py", "pyproject.toml", "README.md"):
        if (ROOT / f).exists():
            shutil.copy2(ROOT / f, src / f)
    shutil.copytree(ROOT / "autograder", src / "autograder", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "solutions", src / "solutions", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.ipynb"))
    env = dict(os.environ, CNN_COURSE_STUDENT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", ".", "-w", tmp / "dist"],
                src, env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheel = next((tmp / "dist").glob("cnn_course-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("solutions/")], "the student wheel contains the reference library"
    assert "autograder/cli.py" in names and "autograder/tools/checks.py" in names and "autograder/bootstrap.py" in names


@pytest.fixture(scope="module")
def student(tmp_path_factory, shared_dir):
    tmp = shared_dir("student_wheel", _build_wheel)
    venv = _student_venv()
    wheel = next((tmp / "dist").glob("cnn_course-*.whl"))
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps",
                     "--no-index", "--force-reinstall", wheel], tmp, dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    senv = {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CNN_COURSE_STUDENT", "TF_CPP_MIN_LOG_LEVEL")}
    senv["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    work = tmp_path_factory.mktemp("student_home")
    return {"py": venv / "bin" / "python", "bin": venv / "bin", "env": senv, "work": work, "venv": venv}


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


@pytest.fixture(scope="module")
def course(student, released):
    """A student's folder anywhere: the released exercises and a correct notebook of each."""
    top = student["work"] / "my course"
    for name, source, folder in released:
        shutil.copytree(folder, top / "exercises" / name)
        solved = top / "my_work" / f"{name}.ipynb"
        solved.parent.mkdir(exist_ok=True)
        rel.write_notebook(correct_notebook(nbformat.read(str(source), as_version=4)), solved)
    return top


def test_reference_library_is_absent(student):
    proc = _run([student["py"], "-c", "import solutions"], student["work"], student["env"])
    assert proc.returncode != 0 and "No module named 'solutions'" in proc.stderr
    proc = _run([student["py"], "-c", "import autograder.cli, numpy, sys; print(autograder.cli.__file__, numpy.__file__)"],
                student["work"], student["env"])
    assert proc.returncode == 0, proc.stderr
    # the wheel's copy and the venv's own numpy, not the repository's
    assert proc.stdout.split() and all(p.startswith(str(student["venv"])) for p in proc.stdout.split()), proc.stdout


def test_setup_cells_import(student, released):
    for name, _, folder in released:
        nb = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
        setup = [c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"]
        assert setup, f"{name}: no setup cell (grade_id 'setup')"
        proc = _run([student["py"], "-c", setup[0]], student["work"], student["env"])
        assert proc.returncode == 0, f"{name}: setup cell fails in a student install:\n{proc.stderr[-2000:]}"


def _public_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Public tests:"))


def _check_solved(cmd_prefix, student, course, released, env) -> dict:
    """`cnn-course check` of each correct notebook: full public points, nothing internal printed."""
    lines = {}
    for name, _, _ in released:
        proc = _run([*cmd_prefix, student["bin"] / "cnn-course", "check", course / "my_work" / f"{name}.ipynb"],
                    course, env)
        out = proc.stdout
        assert proc.returncode == 0, f"{name}:\n{out}\n{proc.stderr[-3000:]}"
        got, total = _public_line(out).split(":")[1].split("points")[0].split("/")
        assert float(got) == float(total) > 0, out
        assert f"exercises/{name}/{name}.ipynb" in out  # the tests came from the pristine release
        assert not NOISE.search(out + proc.stderr), f"{name} printed internals:\n{out}\n{proc.stderr[-3000:]}"
        lines[name] = _public_line(out)
    return lines


LIGHT = ("ps1_convolution", "ps2_shapes", "ps5_backprop", TOY_NAME)     # no torch or TensorFlow in their sandboxes


def test_check_blank_notebook(student, released, course):
    light = [item for item in released if item[0] in ("ps1_convolution", TOY_NAME)] or released[:1]
    for name, _, _ in light:
        blank = course / "exercises" / name / f"{name}.ipynb"
        proc = _run([student["bin"] / "cnn-course", "check", blank], course, student["env"])
        out = proc.stdout
        assert proc.returncode == 1, out + proc.stderr[-2000:]
        assert "Public tests: 0 / " in out, out
        hidden = [c for c in nbformat.read(str(blank), as_version=4).cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade") and not c.source.strip()]
        points = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in hidden)
        from autograder.text import fmt_num
        assert f"{len(hidden)} hidden tests worth {fmt_num(points)} points run when you submit" in out, out


@pytest.fixture(scope="module")
def as_root(student, course, released):
    return _check_solved([], student, course, released, student["env"])


def test_check_gives_full_public_points_to_correct_notebooks(as_root, released):
    assert set(as_root) == {name for name, _, _ in released}


def test_check_as_an_unprivileged_user_gives_the_same_points(student, course, released, as_root, request):
    """The same checks as nobody (uid 65534): the sandbox is then an unprivileged user namespace."""
    if os.geteuid() != 0:
        env = student["env"]
        prefix = []
    else:
        if not shutil.which("setpriv") or not shutil.which("unshare"):
            pytest.skip("needs setpriv and unshare (util-linux) to switch to an unprivileged user")
        # nobody's own copies: the course folder and the offline data (a student's ~/.cache/cnn-course),
        # outside pytest's temporary folders (pytest keeps those 0700)
        import tempfile

        mine = Path(tempfile.mkdtemp(prefix="as-nobody-", dir=ROOT / "build"))
        request.addfinalizer(lambda: shutil.rmtree(mine, ignore_errors=True))
        os.chmod(mine, 0o755)
        shutil.copytree(course, mine / "course")
        data = Path(student["env"].get("CNN_COURSE_DATA") or ROOT / ".data")
        (mine / "data").mkdir()
        for f in data.glob("*.npz"):
            shutil.copy2(f, mine / "data" / f.name)
        (mine / "home").mkdir()
        subprocess.run(["chown", "-R", "65534:65534", str(mine)], check=True)
        env = {k: v for k, v in student["env"].items() if not k.startswith(("KERAS_", "MPL", "JUPYTER", "XDG", "TORCH"))}
        env.update(HOME=str(mine / "home"), CNN_COURSE_DATA=str(mine / "data"), TMPDIR=str(mine / "home"))
        prefix = [AS_NOBODY]
        course = mine / "course"
    probe = _run([*prefix, student["py"], "-c", "import os; from autograder.isolation.probe import probe; "
                  "print(os.geteuid(), probe()['backend'], probe()['why'])"], course, env)
    uid, backend = probe.stdout.split()[:2] if probe.stdout.split() else ("?", "?")
    if backend != "userns":
        pytest.skip(f"no sandbox for an unprivileged user here: {probe.stdout.strip() or probe.stderr[-500:]}")
    assert uid != "0"
    # The numpy-only exercises as nobody (each torch/TensorFlow one costs about a minute of CPU
    # there, and the root run above already checks every exercise from the same install);
    # CNN_COURSE_FULL_STUDENT_CHECK=1 checks every exercise as nobody too.
    if os.environ.get("CNN_COURSE_FULL_STUDENT_CHECK", "").strip() not in ("1", "true", "yes"):
        released = [item for item in released if item[0] in LIGHT] or released[:1]
    as_user = _check_solved(prefix, student, course, released, env)
    assert as_user == {name: as_root[name] for name in as_user}
