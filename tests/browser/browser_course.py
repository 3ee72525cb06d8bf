"""A tiny course for the browser tests: the toy assignment with one written answer, released,
two students' submissions, graded by ``cnn-course grade`` into the course's own gradebook (so
report.html, each feedback.html and nbgrader's autograded notebooks for formgrader exist)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.authoring import nbgrader_meta
from autograder.samples import TOY_NAME, correct_notebook, partly_wrong_notebook, toy_source_notebook, write_notebook

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QUESTION = "Why does the kernel slide over every position of the image?"
MODEL_ANSWER = "Weight sharing: the same feature is looked for everywhere (instructor's answer)."
STUDENT_ANSWERS = {"ada": "The same detector is useful at every place of the image.",
                   "bob": "Because it is faster.",
                   # a hostile answer: nothing of it may run in any page that shows it
                   "eve": 'Hi <img src="x" onerror="window.__pwned = 1"> <script>window.__pwned = 2</script>'}
# eve's scale() raises an error whose message is HTML: the pages must show it as text
EVE_SCALE = '''def scale(x, factor):
    raise ValueError('<img src="y" onerror="window.__pwned = 3">')
'''


def source_notebook() -> nbformat.NotebookNode:
    nb = toy_source_notebook()
    question = nbformat.v4.new_markdown_cell(f"**Question.** {QUESTION}")
    question.id = "md-question"
    answer = nbformat.v4.new_markdown_cell(f"### BEGIN SOLUTION\n{MODEL_ANSWER}\n### END SOLUTION")
    answer.id = "written_why_slide"
    answer.metadata["nbgrader"] = nbgrader_meta("written_why_slide", grade=True, solution=True, points=2)
    nb.cells += [question, answer]
    return nb


def _with_answer(nb, text: str):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "written_why_slide":
            cell.source = text
    return nb


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([str(BIN / "cnn-course"), "--course", str(cwd), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"cnn-course {' '.join(args)}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


def build(course: Path) -> None:
    """Fill the empty folder ``course``."""
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    folder = course / "solutions" / TOY_NAME
    folder.mkdir(parents=True)
    source = source_notebook()
    write_notebook(source, folder / f"{TOY_NAME}.ipynb")
    from autograder.samples import TOY_GRADING_TOML

    (folder / "grading.toml").write_text(TOY_GRADING_TOML, encoding="utf-8")
    _run(["release", TOY_NAME], course)
    subs = course / "subs"
    eve = correct_notebook(source)
    for cell in eve.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "scale":
            cell.source = EVE_SCALE
    for student, nb in (("ada", correct_notebook(source)), ("bob", partly_wrong_notebook(source)[0]), ("eve", eve)):
        (subs / student).mkdir(parents=True)
        write_notebook(_with_answer(nb, STUDENT_ANSWERS[student]), subs / student / f"{TOY_NAME}.ipynb")
    _run(["grade", TOY_NAME, str(subs), "--out", str(course / "out"), "--workers", "1", "--cpu-per-test", "5"],
         course)
