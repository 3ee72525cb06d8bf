"""A class's grades are a pure function of each submission (issue 18): identical copies of a
correct notebook get identical results whatever the number of grading threads and whatever
their classmates send, including a classmate whose answers come back tagged as torch tensors.

In the old code the protocol looked torch up in ``sys.modules`` (half-initialised while
another grading thread imported it) and imported it lazily on a grading thread; test cells
that import torch (ps2's ``test_summarize_vs_torch``) opened the same window. Each run
below grades in a fresh process (tests/corpus/fair_corpus_core.py), where nothing has
imported torch yet. About 40 s of CPU in all.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autograder import batch, intake
from autograder.assignment import load_assignment
from autograder.engine import isolation_available

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import fair_corpus_core as F  # noqa: E402

pytestmark = [pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)"),
              pytest.mark.xdist_group("fair_determinism")]


def _check_identical(runs: dict, copies: list[str], max_score: float) -> None:
    first = runs[min(runs)]["results"]
    for workers, run in sorted(runs.items()):
        res = run["results"]
        for sid in copies:
            assert res[sid] == res[copies[0]], (
                f"--workers {workers}: {sid} got {res[sid]['score']} but {copies[0]} got {res[copies[0]]['score']} "
                f"for the same notebook: {[t for t in res[sid]['tests'] if t[1] != 'passed'][:3]}")
            assert res[sid]["score"] == max_score, [t for t in res[sid]["tests"] if t[1] != "passed"][:3]
        assert res == first, f"--workers {workers} graded differently from --workers {min(runs)}"


def test_ps1_copies_beside_a_torch_tagging_classmate(tmp_path):
    a = load_assignment("ps1_convolution", source_dir=F.ROOT / "solutions")
    copies = [f"s{i}" for i in range(4)]
    folder = F.write_class(tmp_path / "subs", a, {**{s: None for s in copies}, "a_torch_tags": F.TORCH_TAG})
    runs = {w: F.grade_in_fresh_process(a.name, folder, w) for w in (1, 2, 4)}
    _check_identical(runs, copies, float(sum(t.points for t in a.tests)))
    # the tagging notebook itself is graded the same way at every thread count
    assert len({repr(r["results"]["a_torch_tags"]) for r in runs.values()}) == 1


def test_ps2_copies_whose_tests_import_torch(tmp_path):
    a = load_assignment("ps2_shapes", source_dir=F.ROOT / "solutions")
    copies = [f"s{i}" for i in range(3)]
    folder = F.write_class(tmp_path / "subs", a, {s: None for s in copies})
    runs = {w: F.grade_in_fresh_process(a.name, folder, w) for w in (1, 3)}
    _check_identical(runs, copies, float(sum(t.points for t in a.tests)))


def test_global_random_generators_are_private_to_each_test(tmp_path):
    """Reference inputs drawn from numpy's and Python's global generators after a call of the
    student's code are the test's own, whatever the other threads' tests drew meanwhile."""
    F.write_source(tmp_path / "src", F.RNG_NAME, F.rng_source_notebook)
    a = load_assignment(F.RNG_NAME, source_dir=tmp_path / "src")
    copies = [f"s{i}" for i in range(6)]
    folder = F.write_class(tmp_path / "subs", a, {s: None for s in copies})
    res = batch.grade_all(a, intake.find_submissions(folder, a.name, f"{a.name}.ipynb"), workers=4, progress=False)
    digests = {r.student_id: F._digest(r) for r in res}
    for sid in copies:
        assert digests[sid]["score"] == F.RNG_TESTS, [t for t in digests[sid]["tests"] if t[1] != "passed"][:3]
        assert digests[sid] == digests[copies[0]]
