"""`cnn-course release`: exercises/ is exactly what the release produces, and nothing secret leaks."""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import release as rel
from autograder.samples import TOY_NAME, write_toy_source

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = rel.find_assignments(ROOT / "solutions")

pytestmark = pytest.mark.xdist_group(name="release")


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_release_is_up_to_date(name, tmp_path):
    out = rel.release_one(name, source_dir=ROOT / "solutions", release_dir=tmp_path / "exercises",
                          db_url=f"sqlite:///{tmp_path}/gb.db")
    committed = ROOT / "exercises" / name
    stale = f"exercises/{name} is stale or missing: run `make release` (or `cnn-course release {name}`) and commit exercises/."
    assert committed.is_dir(), stale
    assert _tree(out) == _tree(committed), stale + f" Files differ: {_tree(out)} vs {_tree(committed)}"
    for rel_path in _tree(out):
        same = filecmp.cmp(out / rel_path, committed / rel_path, shallow=False)
        assert same, stale + f" {rel_path} differs from a fresh release."


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_release_has_no_secrets(name):
    src = ROOT / "solutions" / name / f"{name}.ipynb"
    released = ROOT / "exercises" / name / f"{name}.ipynb"
    if not released.is_file():
        pytest.fail(f"{released} is missing: run `make release`.")
    assert rel.check_release(src, released, name=name) == []
    # The student notebook is committed without outputs.
    nb = nbformat.read(str(released), as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


def test_every_released_folder_has_a_source():
    released = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()) if (ROOT / "exercises").is_dir() else []
    orphans = [n for n in released if n not in ASSIGNMENTS]
    assert orphans == [], f"exercises/ holds {orphans} without a source in solutions/: delete them or add the source."


@pytest.fixture()
def toy(tmp_path):
    src_dir = tmp_path / "solutions"
    nb_path = write_toy_source(src_dir)
    return src_dir, nb_path, tmp_path


def test_toy_release_is_deterministic_and_clean(toy):
    src_dir, nb_path, tmp = toy
    # Files that must not reach students, lying beside the source.
    (nb_path.parent / "hidden_tests.py").write_text("SECRET = 42\n")
    (nb_path.parent / "__pycache__").mkdir()
    (nb_path.parent / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (nb_path.parent / "kernel.png").write_bytes(b"\x89PNG fake")
    a = rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "a", db_url=f"sqlite:///{tmp}/a.db")
    b = rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "b", db_url=f"sqlite:///{tmp}/b.db")
    assert _tree(a) == ["grading.toml", "kernel.png", f"{TOY_NAME}.ipynb"]
    assert (a / f"{TOY_NAME}.ipynb").read_bytes() == (b / f"{TOY_NAME}.ipynb").read_bytes()
    nb = nbformat.read(str(a / f"{TOY_NAME}.ipynb"), as_version=4)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    assert by_id["test_add_hidden"].source.strip() == ""
    assert by_id["test_scale_hidden"].source.strip() == ""
    assert "raise NotImplementedError()" in by_id["add"].source
    text = (a / f"{TOY_NAME}.ipynb").read_text()
    for secret in ("return a + b", "secret_factor_hidden", "rng_hidden", "a and b must have the same shape"):
        assert secret not in text
    # Public tests survive unchanged.
    assert "assert_equal(add(2, 3)" in by_id["test_add_public"].source


def test_release_records_grade_cells_in_gradebook(toy):
    from nbgrader.api import Gradebook

    src_dir, _, tmp = toy
    url = f"sqlite:///{tmp}/gb.db"
    rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=url)
    with Gradebook(url, "cnn-course") as gb:
        a = gb.find_assignment(TOY_NAME)
        cells = sorted(c.name for c in a.notebooks[0].grade_cells)
        assert cells == ["test_add_hidden", "test_add_public", "test_scale_hidden", "test_scale_public"]
        assert a.max_score == 6


def test_checker_detects_planted_solution_and_hidden_lines(toy):
    src_dir, nb_path, tmp = toy
    out = rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=f"sqlite:///{tmp}/gb.db")
    released = nbformat.read(str(out / f"{TOY_NAME}.ipynb"), as_version=4)
    assert rel.check_release(nb_path, released) == []

    planted = nbformat.read(str(out / f"{TOY_NAME}.ipynb"), as_version=4)
    planted.cells[0].source += "\n    return a + b"  # a solution line, in a markdown cell
    problems = rel.check_release(nb_path, planted)
    assert any("solution line" in p and "return a + b" in p for p in problems), problems

    planted = nbformat.read(str(out / f"{TOY_NAME}.ipynb"), as_version=4)
    hidden = next(c for c in planted.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_scale_hidden")
    hidden.source = "secret_factor_hidden = -3.5"
    problems = rel.check_release(nb_path, planted)
    assert any("hidden test line" in p for p in problems), problems
    assert any("hidden test cell 'test_scale_hidden' is not empty" in p for p in problems), problems

    planted = nbformat.read(str(out / f"{TOY_NAME}.ipynb"), as_version=4)
    sol = next(c for c in planted.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "scale")
    sol.source = "def scale(x, k):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION"
    problems = rel.check_release(nb_path, planted)
    assert any("marker" in p for p in problems) and any("stub" in p for p in problems), problems


def test_release_refuses_when_nbgrader_leaves_secrets(toy, monkeypatch):
    src_dir, nb_path, tmp = toy
    dest = tmp / "rel"
    rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=dest, db_url=f"sqlite:///{tmp}/gb.db")
    before = (dest / TOY_NAME / f"{TOY_NAME}.ipynb").read_bytes()

    def leaky_generate(name, staging, db_url, config_file):  # nbgrader "forgot" to clear anything
        out = staging / "release" / name
        shutil.copytree(staging / "source" / name, out)
        return out

    monkeypatch.setattr(rel, "_generate", leaky_generate)
    with pytest.raises(rel.ReleaseError, match="refusing to release"):
        rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=dest, db_url=f"sqlite:///{tmp}/gb.db")
    assert (dest / TOY_NAME / f"{TOY_NAME}.ipynb").read_bytes() == before  # old release untouched


def test_mixed_public_and_hidden_test_cell_is_rejected(toy):
    src_dir, nb_path, tmp = toy
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_scale_hidden")
    cell.source = "assert scale(1, 2) == 2\n" + cell.source
    rel.write_notebook(nb, nb_path)
    with pytest.raises(rel.ReleaseError, match="either public or hidden"):
        rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=f"sqlite:///{tmp}/gb.db")


def test_release_refuses_a_setup_cell_that_fails_in_the_grader(toy):
    """A failing setup cell would grade every student as if their code lacked its names."""
    src_dir, nb_path, tmp = toy
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    cell.source += "\nfrom autograder.tools import no_such_helper\n"
    rel.write_notebook(nb, nb_path)
    with pytest.raises(rel.ReleaseError, match=r"refusing to release .*setup cell.*ImportError.*no_such_helper"):
        rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=f"sqlite:///{tmp}/gb.db")
    assert not (tmp / "rel" / TOY_NAME).exists()


def test_unknown_assignment_names_what_exists(toy):
    src_dir, _, tmp = toy
    with pytest.raises(rel.ReleaseError, match=TOY_NAME):
        rel.release_one("ps9_nope", source_dir=src_dir, release_dir=tmp / "rel", db_url=f"sqlite:///{tmp}/gb.db")


def test_rerelease_after_grading_with_changed_tests(toy):
    """nbgrader refuses to change grade cells once submissions exist; release still works and
    brings the gradebook's cells up to date (a removed test counts 0 points)."""
    from types import SimpleNamespace

    from nbgrader.api import Gradebook

    from autograder.gradebook import record_results
    from autograder.results import SubmissionResult
    from autograder.results import TestResult as TR

    src_dir, nb_path, tmp = toy
    url = f"sqlite:///{tmp}/gb.db"
    rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=url)
    tests = [SimpleNamespace(grade_id=g, points=p) for g, p in
             [("test_add_public", 1), ("test_add_hidden", 2), ("test_scale_public", 1), ("test_scale_hidden", 2)]]
    res = SubmissionResult("ann", TOY_NAME, "graded", 6.0, 6.0,
                           tests=[TR(t.grade_id, t.points, t.points, "passed") for t in tests])
    record_results(SimpleNamespace(name=TOY_NAME, notebook_name=f"{TOY_NAME}.ipynb", tests=tests), [res], url)
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_scale_hidden"]
    new = nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nassert scale(2, 3) == 6\n### END HIDDEN TESTS")
    new.metadata["nbgrader"] = {"schema_version": 3, "grade_id": "test_scale_more", "grade": True, "solution": False,
                                "locked": True, "points": 3}
    new["id"] = "test_scale_more"
    nb.cells.append(new)
    rel.write_notebook(nb, nb_path)
    out = rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=url)
    assert "test_scale_more" in (out / f"{TOY_NAME}.ipynb").read_text()
    with Gradebook(url, "cnn-course") as gb:
        cells = {c.name: c.max_score for c in gb.find_notebook(TOY_NAME, TOY_NAME).grade_cells}
        assert cells["test_scale_more"] == 3 and cells["test_scale_hidden"] == 0
        assert gb.find_assignment(TOY_NAME).max_score == 7
        assert gb.find_submission(TOY_NAME, "ann").score == 4.0


@pytest.mark.parametrize("marker", ["### BEGIN HIDDEN TESTS", "# BEGIN HIDDEN TESTS", "#BEGIN HIDDEN TESTS (slow)",
                                    "    ## BEGIN HIDDEN TESTS ##"])
def test_every_region_nbgrader_clears_is_hidden_to_the_grader(toy, marker):
    """One rule (autograder/cells.py) for release, grader and redaction: whatever spelling of the
    delimiter nbgrader's ClearHiddenTests accepts, the grader treats that test as hidden (never
    quoted in feedback, never run in the self-check, no run_student)."""
    from autograder.assignment import load_assignment
    from autograder.report import REDACTED, redact_hidden
    from autograder.results import SubmissionResult, TestResult

    src_dir, nb_path, tmp = toy
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_scale_hidden")
    body = [ln for ln in cell.source.split("\n") if "HIDDEN TESTS" not in ln]
    cell.source = "\n".join([marker, *body, marker.replace("BEGIN", "END")])
    rel.write_notebook(nb, nb_path)
    out = rel.release_one(TOY_NAME, source_dir=src_dir, release_dir=tmp / "rel", db_url=f"sqlite:///{tmp}/gb.db")
    released = nbformat.read(str(out / f"{TOY_NAME}.ipynb"), as_version=4)
    cleared = {c.metadata["nbgrader"]["grade_id"] for c in released.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.source.strip()}
    assert "test_scale_hidden" in cleared
    assignment = load_assignment(TOY_NAME, source_dir=src_dir)
    hidden = {t.grade_id for t in assignment.tests if t.visibility == "hidden"}
    assert cleared == hidden
    secret = next(ln.strip() for ln in body if len(ln.strip()) >= 8 and not ln.strip().startswith("#"))
    r = SubmissionResult("s", TOY_NAME, "graded", 0, 6, tests=[TestResult("test_scale_hidden", 0, 2, "error",
                                                                             f"failed at {secret}", "hidden")])
    assert redact_hidden(r, assignment) == 1 and REDACTED in r.tests[0].message
    released_view = load_assignment(TOY_NAME, source_dir=tmp / "rel", released=True)
    assert "test_scale_hidden" not in {t.grade_id for t in released_view.tests}
