"""`cnn-course` end to end with the real engine: release, grade (the demo's sample kinds),
check, usage errors, the gradebook and `nbgrader export`."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli
from autograder.samples import TOY_NAME, build_samples, write_toy_source

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.xdist_group(name="cli")


def _hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def toy(shared_dir):
    """A released toy assignment, its five sample submissions, graded once through the console script."""
    tmp = shared_dir("cli_toy", _build_toy)
    db = f"sqlite:///{tmp}/gradebook.db"
    src_nb = tmp / "solutions" / TOY_NAME / f"{TOY_NAME}.ipynb"
    released = tmp / "exercises" / TOY_NAME / f"{TOY_NAME}.ipynb"
    subs = tmp / "subs"
    proc = json.loads((tmp / "proc.json").read_text())
    before = json.loads((tmp / "before.json").read_text())
    return {"tmp": tmp, "src": src_nb, "released": released, "subs": subs, "out": tmp / "out", "db": db,
            "proc": subprocess.CompletedProcess(proc["args"], proc["returncode"], proc["stdout"], proc["stderr"]),
            "before": before}


def _build_toy(tmp: Path) -> None:
    src_nb = write_toy_source(tmp / "solutions")
    db = f"sqlite:///{tmp}/gradebook.db"
    assert cli.main(["release", TOY_NAME, "--source-dir", str(tmp / "solutions"),
                     "--release-dir", str(tmp / "exercises"), "--gradebook", db]) == 0
    released = tmp / "exercises" / TOY_NAME / f"{TOY_NAME}.ipynb"
    subs = tmp / "subs"
    build_samples(src_nb, released, subs)
    (subs / "nothing").mkdir()  # a student folder without a notebook
    before = _hashes(subs)
    out = tmp / "out"
    proc = subprocess.run(
        [str(BIN / "cnn-course"), "grade", TOY_NAME, str(subs), "--out", str(out), "--workers", "2",
         "--source-dir", str(tmp / "solutions"), "--gradebook", db, "--cpu-per-test", "5"],
        cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=300)
    (tmp / "proc.json").write_text(json.dumps({"args": proc.args, "returncode": proc.returncode,
                                               "stdout": proc.stdout, "stderr": proc.stderr}))
    (tmp / "before.json").write_text(json.dumps(before))


EXPECTED = {  # toy_add: 6 points; partly wrong = scale() replaced (its tests are worth 3)
    "blank": ("0", "graded"),
    "broken": ("0", "invalid"),
    "cheating": ("0", "graded"),
    "correct": ("6", "graded"),
    "nothing": ("0", "invalid"),
    "partly": ("3", "graded"),
}


def test_grade_outputs(toy):
    proc = toy["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = list(csv.DictReader((toy["out"] / "grades.csv").open()))
    assert [r["student_id"] for r in rows] == sorted(EXPECTED)
    assert {r["student_id"]: (r["score"], r["status"]) for r in rows} == EXPECTED
    assert all(r["max_score"] == "6" and r["assignment"] == TOY_NAME for r in rows)
    assert _hashes(toy["subs"]) == toy["before"], "grading modified a submission"
    res = json.loads((toy["out"] / "students" / "partly" / "results.json").read_text())
    assert res["isolation"] and res["seed"] == 0 and res["grader_version"] and len(res["sha256"]) == 64
    assert "numpy" in json.dumps(res["versions"])
    by = {t["name"]: t for t in res["tests"]}
    assert by["test_scale_public"]["status"] == "failed" and by["test_scale_hidden"]["visibility"] == "hidden"
    assert by["test_add_hidden"]["status"] == "passed"
    # Feedback: hidden tests' code never appears; the report links every student.
    fb = (toy["out"] / "students" / "partly" / "feedback.html").read_text()
    assert "secret_factor_hidden" not in fb and "rng_hidden" not in fb and "test_scale_hidden" in fb
    report = (toy["out"] / "report.html").read_text()
    assert "data:image/png;base64," in report and (toy["out"] / "score_histogram.png").stat().st_size > 1000
    assert "secret_factor_hidden" not in report
    for kind in ("grades.csv", "report.html", "feedback.html"):
        assert kind in proc.stdout


def test_cheating_sample_gains_nothing_and_leaves_nothing(toy):
    res = json.loads((toy["out"] / "students" / "cheating" / "results.json").read_text())
    statuses = {t["name"]: t["status"] for t in res["tests"]}
    assert res["score"] == 0
    assert statuses["test_add_public"] in ("crash", "error")  # add() calls os._exit
    assert not Path("/tmp/cnn-course-cheat.txt").exists()


def test_grading_twice_gives_identical_grades_csv(toy, tmp_path):
    assert cli.main(["grade", TOY_NAME, str(toy["subs"]), "--out", str(tmp_path / "again"), "--workers", "1",
                     "--source-dir", str(toy["tmp"] / "solutions"), "--no-gradebook", "--quiet"]) == 0
    assert (tmp_path / "again" / "grades.csv").read_bytes() == (toy["out"] / "grades.csv").read_bytes()


def test_nbgrader_export_lists_the_scores(toy, tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(tmp_path)!r}\n"
        f"c.CourseDirectory.db_url = {toy['db']!r}\nc.CourseDirectory.course_id = 'cnn-course'\n")
    env = _env(tmp_path)
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "jc"), JUPYTER_DATA_DIR=str(tmp_path / "jd"))
    proc = subprocess.run([str(BIN / "nbgrader"), "export", "--to", str(tmp_path / "e.csv")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader((tmp_path / "e.csv").open())}
    assert rows == {k: float(v[0]) for k, v in EXPECTED.items()}


def test_nbgrader_exports_grades_csv_at_the_root_which_git_ignores():
    """`nbgrader export` run from the repository writes grades.csv there: never committed by mistake
    (only the root one: grades.csv files under an --out folder are outputs the user chose)."""
    def ignored(path):
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode
    assert [ignored(p) for p in ("grades.csv", "out/grades.csv", "tests/grades.csv")] == [0, 1, 1], \
        "add /grades.csv (root-anchored) to .gitignore"


def test_check_released_and_solved(toy, tmp_path, capsys):
    # The blank release: public tests fail, hidden ones are counted, exit code 1.
    assert cli.main(["check", str(toy["released"])]) == 1
    out = capsys.readouterr().out
    assert "Public tests: 0 / 2 points (0 of 2 tests passed)." in out
    assert "2 hidden tests worth 4 points run when you submit." in out
    assert "secret_factor_hidden" not in out
    # A solved copy beside the release: tests come from the pristine release, full public points.
    solved = toy["tmp"] / "exercises" / TOY_NAME / "my copy.ipynb"
    solved.write_bytes((toy["subs"] / "correct" / f"{TOY_NAME}.ipynb").read_bytes())
    assert cli.main(["check", str(solved)]) == 0
    out = capsys.readouterr().out
    assert "Public tests: 2 / 2 points (2 of 2 tests passed)." in out
    assert f"exercises/{TOY_NAME}/{TOY_NAME}.ipynb" in out
    # Partly wrong: the failing test is shown with its message.
    part = toy["tmp"] / "exercises" / TOY_NAME / "partly.ipynb"
    part.write_bytes((toy["subs"] / "partly" / f"{TOY_NAME}.ipynb").read_bytes())
    assert cli.main(["check", str(part)]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "test_scale_public" in out and "expected" in out
    # Broken JSON: a clear message, exit 1.
    assert cli.main(["check", str(toy["subs"] / "broken" / f"{TOY_NAME}.ipynb"), "--assignment", TOY_NAME]) == 1
    assert "could not be read" in capsys.readouterr().out


def test_usage_errors_exit_2(toy, tmp_path, capsys):
    assert cli.main(["grade", "ps_nope", str(toy["subs"]), "--out", str(tmp_path / "o")]) == 2
    assert "unknown assignment 'ps_nope'" in capsys.readouterr().err
    assert cli.main(["grade", TOY_NAME, str(tmp_path / "missing"), "--source-dir", str(toy["tmp"] / "solutions"),
                     "--out", str(tmp_path / "o"), "--no-gradebook"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["grade", TOY_NAME, str(toy["subs"]), "--workers", "0"]) == 2
    assert cli.main(["check", str(tmp_path / "nope.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["release", "ps_nope"]) == 2
    assert cli.main([]) == 2


def test_check_on_a_folder_asks_for_the_notebook_file(tmp_path, capsys):
    (tmp_path / "ps1_convolution").mkdir()
    assert cli.main(["check", str(tmp_path / "ps1_convolution")]) == 2
    err = capsys.readouterr().err
    assert "is a folder: give the notebook file (.ipynb)" in err and "does not exist" not in err, err


def test_check_without_grading_toml_says_forbidden_apis_go_unchecked(toy, tmp_path, capsys):
    mine = tmp_path / "mine" / f"{TOY_NAME}.ipynb"        # the student's own copy, away from the release
    mine.parent.mkdir()
    mine.write_bytes((toy["subs"] / "correct" / f"{TOY_NAME}.ipynb").read_bytes())
    assert cli.main(["check", str(mine)]) == 0
    out = capsys.readouterr().out
    assert ("warning: grading.toml was not found next to the notebook, so forbidden-API checks are off: put the "
            "exercise's grading.toml in ") in out and f"mine/ beside {TOY_NAME}.ipynb" in out, out
    (mine.parent / "grading.toml").write_bytes((toy["released"].parent / "grading.toml").read_bytes())
    assert cli.main(["check", str(mine)]) == 0
    assert "grading.toml" not in capsys.readouterr().out
    # the pristine release beside it has its own grading.toml: no warning either
    assert cli.main(["check", str(toy["released"])]) == 1
    assert "grading.toml" not in capsys.readouterr().out


def test_check_names_only_top_level_statements_the_student_added(tmp_path, capsys):
    """ps1's blank release, checked as the student's own copy: its demo cells and `raise
    NotImplementedError()` stubs are not the student's (before: '13 top-level statement(s) ...
    were not run while grading'); a line the student adds to a solution cell is named."""
    name = "ps1_convolution"
    mine = tmp_path / "work" / "mine.ipynb"      # a name that finds no pristine release, wherever tmp_path is
    mine.parent.mkdir()
    mine.write_bytes((ROOT / "exercises" / name / f"{name}.ipynb").read_bytes())
    (mine.parent / "grading.toml").write_bytes((ROOT / "exercises" / name / "grading.toml").read_bytes())
    assert cli.main(["check", str(mine), "--assignment", name]) == 1
    out = capsys.readouterr().out
    assert "public tests from mine.ipynb itself" in out and "were not run" not in out, out
    nb = json.loads(mine.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "conv2d_single")
    cell["source"] = "".join(cell["source"]) + "\ny = conv2d_single(np.eye(3), np.eye(2))\n"
    mine.write_text(json.dumps(nb))
    assert cli.main(["check", str(mine), "--assignment", name]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert ("note: 1 top-level statement(s) you added or changed (plots, prints, training runs, loops) were not "
            "run while grading: `y = conv2d_single(np.eye(3), np.eye(2))` (the cell starting `def conv2d_single("
            in out), out


@pytest.mark.slow
def test_ps1_samples(tmp_path):
    """The demo's sample kinds on ps1: correct full marks, partly wrong loses points, the rest 0."""
    name = "ps1_convolution"
    build_samples(ROOT / "solutions" / name / f"{name}.ipynb", ROOT / "exercises" / name / f"{name}.ipynb",
                  tmp_path / "subs")
    assert cli.main(["grade", name, str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--workers", "2",
                     "--no-gradebook", "--quiet"]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    full = rows["correct"]["max_score"]
    assert rows["correct"]["score"] == full and float(full) > 0
    assert 0 < float(rows["partly"]["score"]) < float(full)
    assert rows["blank"]["score"] == "0" and rows["cheating"]["score"] == "0"
    assert rows["broken"]["status"] == "invalid"


def test_user_errors_are_one_line_with_exit_status_2(tmp_path, capsys):
    """A bad grading.toml, an unknown assignment, a course folder that is not one: one line
    naming the file, the key and the fix; exit 2; no traceback."""
    from autograder.samples import TOY_NAME, write_toy_source
    src = tmp_path / "solutions"
    nb = write_toy_source(src)
    (nb.parent / "grading.toml").write_text("[limits]\ncpu_per_test = -1\n")
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    code = cli.main(["grade", TOY_NAME, str(tmp_path / "subs"), "--source-dir", str(src), "--out", str(tmp_path / "o"),
                     "--no-gradebook"])
    err = capsys.readouterr().err
    assert code == 2 and "grading.toml" in err and "cpu_per_test" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    code = cli.main(["grade", "ps9_nope", str(tmp_path / "subs"), "--source-dir", str(src)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown assignment 'ps9_nope'" in err and TOY_NAME in err
    code = cli.main(["--course", str(tmp_path / "subs"), "release"])
    err = capsys.readouterr().err
    assert code == 2 and "not a course folder" in err and "nbgrader_config.py" in err
    write_toy_source(src)                       # a good grading.toml again
    code = cli.main(["grade", TOY_NAME, str(tmp_path / "subs"), "--source-dir", str(src), "--late-penalty", "soon",
                     "--no-gradebook", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "late" in err


def test_commands_act_on_the_course_folder_they_run_in(tmp_path, monkeypatch):
    from autograder.course import Course
    course = tmp_path / "course"
    (course / "sub" / "deeper").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.source_directory = 'src'\n"
                                               "c.CourseDirectory.release_directory = 'rel'\n")
    monkeypatch.chdir(course / "sub" / "deeper")
    found = Course.locate()
    assert found.root == course.resolve() and found.source == (course / "src").resolve()
    assert found.release == (course / "rel").resolve()
    assert found.db_url == "sqlite:///" + str(course.resolve() / "build" / "gradebook.db")
    assert Course.locate(course).root == course.resolve()
