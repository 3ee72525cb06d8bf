"""Every point can be earned from the release: each student name a test reads is written there.

A test cell (public or hidden) reads the student's *graded names*: the functions and answer
variables the solution cells define. A student sees only the release, so each of those names
must be written in it outside the test cells: a stub line (``answer_x = None`` above
``### BEGIN SOLUTION``), a function's signature, or the instructions. ps5 once lost 13 of 56
points this way (its hidden "predict" tests read ``answer_*`` names the release never showed);
``cnn-course release`` now refuses such a release, naming the missing names and their tests.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import nbformat
import pytest

from autograder import release as rel
from autograder.authoring import NotebookSource

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = rel.find_assignments(ROOT / "solutions")

pytestmark = pytest.mark.xdist_group(name="release")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_release_names_every_name_its_tests_read(name):
    src = ROOT / "solutions" / name / f"{name}.ipynb"
    released = ROOT / "exercises" / name / f"{name}.ipynb"
    if not released.is_file():
        pytest.fail(f"{released} is missing: run `cnn-course release {name}`.")
    probes = rel._probes(ROOT / "solutions" / name)
    read = rel.graded_names_read(nbformat.read(str(src), as_version=4), probes)
    assert read, f"{name}: no test reads a student name? (the check would prove nothing)"
    assert rel.check_names(src, released, probes=probes, name=name) == []


# ---------------------------------------------------------------- the check itself, on a small assignment

GRADING = '''
[probes]
trained = """
result = {"w": fit(data), "lr": learning_rate}
"""
'''


def _source(*, predict_stub: bool = True, fit_in_markdown: bool = True) -> nbformat.NotebookNode:
    nb = NotebookSource()
    nb.md("md-intro", "# Tiny\n\nWrite `fit` below." if fit_in_markdown else "# Tiny")
    nb.setup("setup", "import numpy as np\nfrom autograder.tools import assert_equal, run_probe, run_student")
    nb.solution("fit", '''
        def fit(data):
            ### BEGIN SOLUTION
            return sum(data)
            ### END SOLUTION
    ''' if fit_in_markdown else '''
        ### BEGIN SOLUTION
        def fit(data):
            return sum(data)
        ### END SOLUTION
    ''')
    nb.solution("learning_rate", '''
        learning_rate = None
        ### BEGIN SOLUTION
        learning_rate = 0.1
        ### END SOLUTION
    ''')
    nb.md("md-predict", "Predict what your function returns for [1, 2], before you run it.")
    nb.solution("answer_fit", ("answer_fit = None\n" if predict_stub else "")
                + "### BEGIN SOLUTION\nanswer_fit = 3\n_scratch = 1\n### END SOLUTION")
    nb.test("test_fit_public", 1, 'assert_equal(run_student("result = fit([1, 1])"), 2)')
    nb.hidden("test_trained_hidden", 2, 'res = run_probe("trained", data=[1, 2])\nassert res["w"] == 3')
    nb.hidden("test_answer_fit", 1, "assert answer_fit == 3")
    return nb.build()


def _write(tmp_path: Path, nb) -> Path:
    folder = tmp_path / "solutions" / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / "tiny.ipynb"))
    (folder / "grading.toml").write_text(GRADING)
    return tmp_path / "solutions"


def _release(tmp_path: Path, nb):
    src = _write(tmp_path, nb)
    return rel.release_one("tiny", source_dir=src, release_dir=tmp_path / "exercises",
                           db_url=f"sqlite:///{tmp_path}/gb.db")


def test_names_read_through_probes_strings_and_cells():
    read = rel.graded_names_read(_source(), tomllib.loads(GRADING)["probes"])
    assert read == {"fit": ["test_fit_public", "test_trained_hidden"],
                    "learning_rate": ["test_trained_hidden"],      # only through the probe
                    "answer_fit": ["test_answer_fit"]}             # _scratch: no test reads it


def test_release_fails_loudly_naming_an_answer_only_hidden_tests_read(tmp_path):
    with pytest.raises(rel.ReleaseError) as info:
        _release(tmp_path, _source(predict_stub=False))
    text = str(info.value)
    assert "students could not earn every point" in text
    assert "test_answer_fit read 'answer_fit'" in text
    assert "`answer_fit = None`" in text
    assert "fit'" not in text.replace("answer_fit'", "")      # fit is in its signature: not reported
    assert not (tmp_path / "exercises" / "tiny").exists()       # nothing released


def test_release_with_the_stub_line_passes_and_shows_the_name(tmp_path):
    out = _release(tmp_path, _source())
    nb = nbformat.read(str(out / "tiny.ipynb"), as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_fit")
    assert answer.source.startswith("answer_fit = None\n")


def test_a_function_named_only_in_its_solution_region_is_reported(tmp_path):
    src = _write(tmp_path, _source(fit_in_markdown=False))
    released = _source(fit_in_markdown=False)
    for cell in released.cells:       # what nbgrader leaves of the whole-function solution region
        cell.source = cell.source.split("### BEGIN SOLUTION")[0] + rel.CODE_STUB if "BEGIN SOLUTION" in cell.source \
            else cell.source
        if "BEGIN HIDDEN" in cell.source:
            cell.source = ""
    probes = rel._probes(src / "tiny")
    problems = rel.check_names(src / "tiny" / "tiny.ipynb", released, probes=probes, name="tiny")
    assert len(problems) == 1 and "test_fit_public, test_trained_hidden read 'fit'" in problems[0], problems


def test_markdown_with_escaped_underscores_names_the_variable():
    src = _source(predict_stub=False)
    released = _source(predict_stub=False)
    released.cells = [c for c in released.cells if "BEGIN" not in c.source]
    assert rel.check_names(src, released, probes={}, name="tiny")[0].startswith("tiny: the test(s) test_answer_fit")
    released.cells.append(nbformat.v4.new_markdown_cell(r"Store it in answer\_fit."))
    assert rel.check_names(src, released, probes={}, name="tiny") == []


def test_modules_and_setup_names_are_not_student_names():
    nb = NotebookSource()
    nb.setup("setup", "import numpy as np\nfrom autograder.tools import assert_equal\nSIZE = 3")
    nb.solution("area", "### BEGIN SOLUTION\nimport math\ndef area(r):\n    return math.pi * r * r\n### END SOLUTION")
    nb.md("md-area", "Write `area(r)`.")
    nb.hidden("test_area", 1, "assert abs(area(SIZE) - math.pi * 9) < 1e-9 and len(np.zeros(SIZE)) == 3")
    source = nb.build()
    assert rel.graded_names_read(source) == {"area": ["test_area"]}     # not math, SIZE, np, len, abs
