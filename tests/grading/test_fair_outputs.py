"""Fair grades (tests/corpus/fair_corpus_outputs.py): lateness only from evidence the instructor's
side produced, an autograded notebook formgrader can show safely, output folders that never
collide, and student ids that cannot drive the terminal or a spreadsheet. A fake engine grades."""
from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from autograder import batch, cli, intake, lateness
from autograder import results as R
from autograder.results import PUBLIC, SubmissionResult
from autograder.results import TestResult as TR
from autograder.text import safe_cell, visible

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))
import fair_corpus_outputs as F  # noqa: E402


def _assignment():
    tests = [SimpleNamespace(grade_id="t_public", points=1.0, visibility=PUBLIC, source="assert True"),
             SimpleNamespace(grade_id="t_more", points=2.0, visibility=PUBLIC, source="assert True")]
    return SimpleNamespace(name=F.NAME, notebook_name=F.NB, tests=tests, config={})


def fake_grade(assignment, path, student_id="student", **kw):
    """GOOD: 3 points, HALF: 1, anything else 0."""
    data = Path(path).read_bytes()
    text = data.decode("utf-8", "replace")
    good, half = "GOOD" in text, "HALF" in text
    tests = [TR("t_public", 1.0 if good or half else 0.0, 1.0, "passed" if good or half else "failed", "", PUBLIC),
             TR("t_more", 2.0 if good else 0.0, 2.0, "passed" if good else "failed", "", PUBLIC)]
    return SubmissionResult(student_id=student_id, assignment=assignment.name, status="graded",
                            score=sum(t.points for t in tests), max_score=3.0, tests=tests,
                            sha256=hashlib.sha256(data).hexdigest(), grader_version="test", notebook=Path(path).name)


def _grade(subs, out, **kw):
    kw.setdefault("due", F.DUE)
    kw.setdefault("late_policy", "zero")
    return batch.grade_folder(_assignment(), subs, out, workers=1, progress=False, grade_fn=fake_grade, **kw)


def _rows(path: Path) -> dict:
    return {r["student_id"]: r for r in csv.DictReader(path.open(encoding="utf-8", newline=""))}


# ---------------------------------------------------------------- lateness


@pytest.mark.parametrize("case", F.LATENESS_CASES, ids=lambda c: c.name)
def test_lateness_comes_only_from_the_instructors_evidence(case, tmp_path):
    subs, kw = case.build(tmp_path)
    results, paths = _grade(subs, tmp_path / "out", **kw)
    (r,) = results
    assert (r.late, r.submitted_at_source, r.score) == (case.late, case.source, case.score), (r.submitted_at, r.message)
    assert (F.NO_TIME_NOTE in r.message) == case.no_time_note, r.message
    if case.late_by_s is not None:
        assert r.late_by_s == pytest.approx(case.late_by_s)
    if case.source == "none":
        assert r.submitted_at == ""
    stored = json.loads((batch.student_dir(tmp_path / "out", "alice") / "results.json").read_text())
    assert stored["submitted_at_source"] == case.source
    row = _rows(paths["grades"])["alice"]
    assert row["submitted_at_source"] == case.source and row["submitted_at"] == r.submitted_at
    page = paths["report"].read_text(encoding="utf-8")
    assert f"{case.source}</td>" in page                  # the report's student table names the source
    feedback = (batch.student_dir(tmp_path / "out", "alice") / "feedback.html").read_text(encoding="utf-8")
    assert case.source in feedback


def test_without_a_due_date_the_source_is_still_recorded_and_nothing_is_noted(tmp_path):
    subs, _ = F.forged_stamp_plain(tmp_path)
    (r,), _ = _grade(subs, tmp_path / "out", due=None)
    assert r.submitted_at_source == "none" and not r.late and F.NO_TIME_NOTE not in r.message


def test_the_gradebook_holds_only_evidenced_times(tmp_path):
    """nbgrader's own late plugins read the gradebook's submission timestamp: a forged stamp
    leaves it empty, nbgrader's own stamp is recorded."""
    from autograder import gradebook as nbgb

    db = f"sqlite:///{tmp_path}/gradebook.db"
    forged, _ = F.forged_stamp_plain(tmp_path / "a")
    _grade(forged, tmp_path / "out-a", db_url=db)
    honest, _ = F.nbgrader_submitted_late(tmp_path / "b")
    with nbgb.open_gradebook(db) as gb:
        assert gb.find_submission(F.NAME, "alice").timestamp is None
    _grade(honest, tmp_path / "out-b", db_url=db)
    with nbgb.open_gradebook(db) as gb:
        assert str(gb.find_submission(F.NAME, "alice").timestamp) == "2026-03-01 02:30:00"


def test_submitted_at_file_and_its_bad_lines(tmp_path):
    subs = tmp_path / "subs"
    for sid in F.SUBMITTED_AT_EXPECT:
        (subs / sid).mkdir(parents=True)
        (subs / sid / F.NB).write_text(F.nb_text())
    times = tmp_path / "times.csv"
    times.write_text(F.SUBMITTED_AT_TEXT)
    results, paths = _grade(subs, tmp_path / "out", submitted_at=times)
    got = {r.student_id: (r.late, r.submitted_at_source) for r in results}
    assert got == F.SUBMITTED_AT_EXPECT
    by = {r.student_id: r for r in results}
    assert by["carol"].late_by_s == 1.0 and by["carol"].score == 0.0 and by["bob"].submitted_at == "2026-03-01T00:00:00"
    notes = "\n".join(paths["time_notes"])
    for line in F.SUBMITTED_AT_BAD_LINES:
        assert f"line {line}:" in notes, notes
    assert "9" * 300 not in notes                        # the long cell is not echoed whole
    assert "line 7: alice" in notes                      # a second time for a student: reported, first kept
    report = paths["report"].read_text(encoding="utf-8")
    assert "--submitted-at" in report and "line 5:" in report


def test_submitted_at_file_usage_errors(tmp_path):
    with pytest.raises(intake.BatchError, match="cannot be read"):
        lateness.read_submitted_at(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,when\nalice,2026-01-01\n")
    with pytest.raises(intake.BatchError, match="student_id"):
        lateness.read_submitted_at(bad)
    bad.write_bytes(b"student_id,submitted_at\n" + b"a,2026-01-01\n" * (lateness.MAX_TIMES_BYTES // 13 + 1))
    with pytest.raises(intake.BatchError, match="larger than"):
        lateness.read_submitted_at(bad)
    bad.write_bytes(b"student_id,submitted_at\n\xff\xfe,x\n")
    with pytest.raises(intake.BatchError, match="UTF-8"):
        lateness.read_submitted_at(bad)
    with pytest.raises(intake.BatchError, match="--zip-tz"):
        lateness.parse_zone("Mars/Olympus")
    assert lateness.parse_zone("+05:30").utcoffset(None).total_seconds() == 19800


def test_cli_passes_submitted_at_and_zip_tz(tmp_path, monkeypatch):
    seen = {}

    def fake_folder(assignment, submissions, out_dir, **kw):
        seen.update(kw)
        return [], {"time_notes": ["line 3: \x1b[31mred"]}

    monkeypatch.setattr(batch, "grade_folder", fake_folder)
    args = cli.build_parser().parse_args(["grade", F.NAME, str(tmp_path), "--submitted-at", "t.csv",
                                          "--zip-tz", "Europe/Paris", "--quiet"])
    cli.run_grade(_assignment(), tmp_path, tmp_path / "out", args, None)
    assert seen["submitted_at"] == "t.csv" and seen["zip_tz"] == "Europe/Paris"


# ---------------------------------------------------------------- formgrader's autograded notebook


class _Tags(HTMLParser):
    """Every live tag and attribute of an HTML page (what a browser would act on)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "base", "form"):
            self.bad.append(f"<{tag}>")
        for name, value in attrs:
            v = "".join((value or "").split()).lower()
            if name.startswith("on"):
                self.bad.append(f"{tag} {name}={value}")
            if name in ("href", "src", "action", "formaction", "xlink:href") \
                    and v.startswith(("javascript:", "vbscript:", "data:text")):
                self.bad.append(f"{tag} {name}={value}")


def _live(html_text: str) -> list[str]:
    p = _Tags()
    p.feed(html_text)
    return p.bad


def _hostile_submission(tmp_path):
    from autograder.samples import correct_notebook, write_toy_source

    source = write_toy_source(tmp_path / "source", F.NAME)
    nb = F.hostile_notebook(correct_notebook(nbformat.read(str(source), as_version=4)))
    sub = tmp_path / "subs" / "alice" / F.NB
    sub.parent.mkdir(parents=True)
    nbformat.write(nb, str(sub))
    assignment = SimpleNamespace(name=F.NAME, notebook_name=F.NB, path=source, released=False, tests=[])
    return assignment, source, sub


def test_autograded_notebook_holds_nothing_that_runs_in_formgrader(tmp_path):
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    assignment, source, sub = _hostile_submission(tmp_path)
    before = _live(HTMLExporter().from_notebook_node(nbformat.read(str(sub), as_version=4))[0])
    assert len(before) > 10                                # the corpus is live HTML as handed in
    out = batch.write_autograded(assignment, sub, tmp_path / "autograded", "alice")
    nb = nbformat.read(str(out), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert "widgets" not in cell.metadata and set(cell.metadata) <= {"nbgrader", "tags"}
        for bundle in cell.get("attachments", {}).values():      # pasted images stay, as images only
            assert set(bundle) == {"image/png"}
        if cell.cell_type == "markdown":
            page = MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=cell.get("attachments", {})))
            assert _live(page.render(cell.source)) == [], cell.source
            assert "\\href" not in cell.source
        if cell.cell_type == "raw":
            assert "<" not in cell.source
    assert "widgets" not in nb.metadata
    # nbgrader's formgrade and feedback templates render markdown WITHOUT nbconvert's sanitizer:
    # the plain exporter stands for them; with sanitize_html (the course config) too.
    # (The page's own scripts, MathJax and require.js, are those of the instructor's notebook.)
    src = nbformat.read(str(source), as_version=4)
    for exporter in (HTMLExporter(), HTMLExporter(sanitize_html=True)):
        page = exporter.from_notebook_node(nb)[0]
        extra = Counter(_live(page)) - Counter(_live(exporter.from_notebook_node(src)[0]))
        assert not extra, extra
        assert not re.search(r"<script[^>]*>[^<]*alert\(", page)
    text = json.dumps(nb)
    assert "My answer" in text and "fine" in text          # the written answers are still there to grade
    sketch = next(c for c in nb.cells if "My sketch" in c.source)
    assert sketch.source == "My sketch: ![sketch](attachment:sketch.png)" and list(sketch.attachments) == ["sketch.png"]
    hidden = [c.source for c in src.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert hidden and all(h in [c.source for c in nb.cells] for h in hidden)   # the instructor's tests


def test_plain_answers_are_kept_as_written():
    from autograder.gradebook import inert_markdown

    plain = ("# Answer\n\nDropout *scales* by $1/(1-p)$, see [the paper](https://jmlr.org/x.html).\n\n"
             "| p | scale |\n|:--|--:|\n| 0.5 | 2 |\n\n```python\nif x < y: pass\n```\n")
    assert inert_markdown(plain) == plain
    assert inert_markdown("`x<y`").replace("\u200b", "") == "`x<y`"      # reads the same, no tag


def test_course_config_sanitizes_nbconverts_html():
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert cfg.HTMLExporter.sanitize_html is True


def test_our_feedback_escapes_the_submission(tmp_path):
    from autograder.report import feedback_html

    r = fake_grade(_assignment(), _write(tmp_path / "x.ipynb", F.nb_text()), "<img src=x onerror=alert(1)>")
    r.notebook = "<script>alert(2)</script>.ipynb"
    r.message = "<svg onload=alert(3)>"
    r.tests[0].message = "<iframe src=javascript:alert(4)>"
    r.late, r.submitted_at, r.submitted_at_source, r.late_by_s = True, "<b onclick=x>", "<i onmouseover=y>", 60.0
    assert _live(feedback_html(r, _assignment())) == []


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------- folder names


def test_folder_names_are_collision_free():
    for a, b in F.COLLIDING_IDS:
        assert R.safe_dirname(a) != R.safe_dirname(b), (a, b)
    ids = [i for pair in F.COLLIDING_IDS for i in pair] + ["alice", "Bob", "a b@c", "=1", "~", "~x", "-", "é",
                                                           "x\ud800", "", "\x1b[31m", F.ESC_ID, "a\\b", "a\nb"]
    ids += [R.safe_dirname(i) for i in list(ids)]            # ids that look like encoded ones
    ids += [R.safe_dirname(i) for i in list(ids)]
    ids = list(dict.fromkeys(ids))
    names = [R.safe_dirname(i) for i in ids]
    assert len(set(names)) == len(ids)
    for sid, name in zip(ids, names):
        assert name not in ("", ".", "..") and "/" not in name and "\\" not in name and not name.startswith(".")
        assert all(0x20 <= ord(ch) != 0x7F for ch in name) and len(name.encode("utf-8")) <= 200
        if name == sid:
            assert not sid.startswith("~")                 # the escaped forms' prefix is reserved


def test_classmates_whose_ids_collided_keep_their_own_results(tmp_path):
    subs = tmp_path / "subs"
    for sid, marker in ((".alice", "GOOD"), (F.old_hashed_name(".alice"), "HALF")):
        _write(subs / sid / F.NB, F.nb_text(marker))
    results, paths = _grade(subs, tmp_path / "out", due=None)
    rows = _rows(paths["grades"])
    assert rows[".alice"]["score"] == "3" and rows[F.old_hashed_name(".alice")]["score"] == "1"
    for r in results:
        stored = json.loads((batch.student_dir(tmp_path / "out", r.student_id) / "results.json").read_text())
        assert stored["student_id"] == r.student_id


def test_a_folder_holding_another_students_results_stops_the_batch(tmp_path):
    """Outputs of an older version (`.alice` in student-<hash>/) and a classmate whose id is that
    name: the batch refuses before grading, naming both."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    old = F.old_hashed_name(".alice")
    _write(subs / old / F.NB, F.nb_text("HALF"))
    _write(out / "students" / old / "results.json", json.dumps({"student_id": ".alice", "assignment": F.NAME}))
    with pytest.raises(intake.BatchError) as err:
        _grade(subs, out, due=None)
    assert repr(".alice") in str(err.value) and repr(old) in str(err.value)


def test_two_ids_mapped_to_one_folder_stop_the_batch(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    for sid in ("ann", "bea"):
        _write(subs / sid / F.NB, F.nb_text())
    monkeypatch.setattr(intake, "safe_dirname", lambda sid: "same")
    with pytest.raises(intake.BatchError, match="'ann' and 'bea'"):
        _grade(subs, tmp_path / "out", due=None)


# ---------------------------------------------------------------- terminal and CSV


def test_escape_sequences_and_formulas_are_shown_as_text(tmp_path, capsys):
    subs = tmp_path / "subs"
    _write(subs / F.ESC_ID / F.NB, F.nb_text())
    (subs / "no\x1b]0;pwned\x07nb").mkdir(parents=True)           # invalid: its message names the folder
    for sid in F.FORMULA_IDS:
        _write(subs / sid / F.NB, F.nb_text())
    results, paths = _grade(subs, tmp_path / "out", due=None)
    data = paths["grades"].read_bytes()
    assert not any(b < 0x20 and b not in (0x0A,) or b == 0x7F for b in data), data
    assert b"\\x1b[2J\\x1b[31mmallory\\x07" in data
    for row in csv.reader(data.decode().splitlines()[1:]):
        assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r")), row
    cli.print_table(results)
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[2J\\x1b[31mmallory\\x07" in shown and "no\\x1b]0;pwned\\x07nb" in shown
    assert visible("a\u202eb\x9bc") == "a\\u202eb\\x9bc" and safe_cell("\x1b=1") == "\\x1b=1"
