"""`cnn-course gradescope`: the autograder zip's contents, and its run_autograder run against a
simulated /autograder tree (GRADESCOPE_ROOT) with the real engine and sandbox."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import cli
from autograder.engine import isolation_available
from autograder.release import write_notebook
from autograder.samples import TOY_NAME, correct_notebook, write_toy_source

# A submission that answers correctly only while it cannot see the grader's files: if the
# reference library or the source notebook were readable from the sandbox, add() would be wrong.
PROBE = '''
import os
import numpy as np

def add(a, b):
    import sys
    seen = [p for p in {paths!r} if os.path.exists(p)]
    seen += [d for d in sys.path if d and os.path.exists(os.path.join(d, "solutions", "__init__.py"))]
    if seen:
        return np.asarray(a) - np.asarray(b)
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError("shapes differ")
    return a + b
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradescope")
    write_toy_source(tmp / "solutions")
    zpath = tmp / "autograder.zip"
    assert cli.main(["gradescope", TOY_NAME, "--source-dir", str(tmp / "solutions"), "--out", str(zpath)]) == 0
    return tmp, zpath


def test_zip_contents(built):
    _, zpath = built
    with zipfile.ZipFile(zpath) as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
    assert names[:2] == ["setup.sh", "run_autograder"]
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    for needed in ("cnn-course/pyproject.toml", "cnn-course/requirements.lock", "cnn-course/autograder/engine.py",
                   "cnn-course/autograder/gradescope.py", "cnn-course/solutions/__init__.py",
                   f"cnn-course/solutions/{TOY_NAME}/{TOY_NAME}.ipynb", f"cnn-course/solutions/{TOY_NAME}/grading.toml"):
        assert needed in names, f"{needed} missing from the zip"
    # Only this assignment's instructor notebook; no byte code.
    assert not [n for n in names if n.endswith(".ipynb") and TOY_NAME not in n]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert f"--assignment {TOY_NAME}" in run and 'GRADESCOPE_ROOT:-/autograder' in run
    assert "pip install -q --no-deps -e" in setup
    for script in (run, setup):
        assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    # Same sources, same bytes.
    again = zpath.with_name("again.zip")
    assert cli.main(["gradescope", TOY_NAME, "--source-dir", str(zpath.parent / "solutions"), "--out", str(again)]) == 0
    assert again.read_bytes() == zpath.read_bytes()


def _simulated_root(tmp: Path, zpath: Path, notebook) -> Path:
    """Gradescope's layout: the zip in <root>/source, run_autograder at <root>, the upload in
    <root>/submission."""
    root = tmp / "autograder"
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    write_notebook(notebook, root / "submission" / "my_work.ipynb")
    return root


def _run(root: Path, *extra: str) -> dict:
    env = dict(os.environ, GRADESCOPE_ROOT=str(root), CNN_COURSE_PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(root / "run_autograder"), *extra], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_a_submission(built):
    tmp, zpath = built
    source = nbformat.read(str(tmp / "solutions" / TOY_NAME / f"{TOY_NAME}.ipynb"), as_version=4)
    nb = correct_notebook(source)
    secret = tmp / "autograder" / "source" / "cnn-course"
    probe_paths = [str(secret / "solutions"), str(secret / "solutions" / TOY_NAME / f"{TOY_NAME}.ipynb"),
                   str(tmp / "solutions")]
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "add":
            cell.source = PROBE.format(paths=probe_paths)
    root = _simulated_root(tmp, zpath, nb)
    extra = () if isolation_available() else ("--insecure",)
    data = _run(root, *extra)
    tests = {t["name"]: t for t in data["tests"]}
    assert set(tests) == {"test_add_public", "test_add_hidden", "test_scale_public", "test_scale_hidden"}
    assert tests["test_add_hidden"]["visibility"] == "after_published"
    assert tests["test_add_public"]["visibility"] == "visible"
    assert data["stdout_visibility"] == "hidden" and "graded my_work.ipynb" in data["output"]
    if not extra:
        # Full marks prove the probe saw neither the bundled solutions nor the instructor sources.
        assert data["score"] == 6.0, json.dumps(data, indent=1)
        assert all(t["status"] == "passed" for t in data["tests"])
    # Hidden test code never reaches the results.
    assert "secret_factor_hidden" not in json.dumps(data)


def test_run_autograder_without_a_notebook(built):
    tmp, zpath = built
    root = _simulated_root(tmp, zpath, nbformat.v4.new_notebook())
    (root / "submission" / "my_work.ipynb").unlink()
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    data = _run(root, "--insecure")  # nothing is executed: there is no notebook
    assert data["score"] == 0.0 and f"upload {TOY_NAME}.ipynb" in data["output"]
    assert data["extra_data"]["status"] == "invalid"
