"""Bounds on what a sandbox sends back and on the grader's own memory (issue 18).

* A 4.5-million-element list as an answer cost the grader 28 s of its own CPU at load in the
  old code (decoded whole, then deep-copied for every test): now the load answer is capped
  (JSON counted), decoding stops at a budget of objects, and a big value is copied only for
  the tests that name it. The student is told why.
* An answer too large to check, or a MemoryError in the grader while checking one
  submission, fails that test of that submission only, with a message that says so.
* The encoder never looks torch up in ``sys.modules`` (another thread may be importing it).

The grading runs happen in fresh processes (tests/corpus/fair_corpus_core.py): their CPU
time is the grader's alone, and the grader's memory bound does not stay on pytest's process.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from autograder import protocol as P
from autograder.assignment import load_assignment
from autograder.engine import isolation_available
from autograder.remote import RemoteObject, Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import fair_corpus_core as F  # noqa: E402

needs_isolation = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")


# ---------------------------------------------------------------- protocol, no sandbox

def test_encode_never_touches_a_half_imported_torch(monkeypatch):
    """Another grading thread importing torch leaves a module without ``Tensor`` in
    sys.modules for a while; encoding a test's arguments must not read it."""
    half = types.ModuleType("torch")          # what sys.modules holds mid-import
    monkeypatch.setitem(sys.modules, "torch", half)
    bufs: list = []
    node = P.encode((1, [2.5, "x"], {"k": np.arange(3)}), bufs)
    assert P.decode(node, bufs)[1] == [2.5, "x"]


def test_torch_tensors_decode_with_the_torch_imported_before_grading():
    torch = P.load_torch()
    if torch is None:
        pytest.skip("torch is not installed")
    bufs: list = []
    node = P.encode(torch.arange(4.0), bufs)
    assert node["$t"] == "torch"
    out = P.decode(node, [bytearray(b) for b in bufs])
    assert isinstance(out, torch.Tensor) and out.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_decode_budget_stops_a_huge_list_early(python_calls):
    def work(n):
        err, calls = python_calls(lambda: P.decode({"$t": "list", "v": [0] * n}, [], budget=P.Budget(items=100_000)))
        assert isinstance(err, P.TooLarge) and "more than 100,000 items" in str(err), err
        return calls
    assert work(4_500_000) == work(200_000), "decoding must stop at the budget, not walk the whole list"
    with pytest.raises(P.TooLarge, match="MB of arrays"):
        P.decode({"$t": "nd", "dtype": "<f8", "shape": [1000], "b": 0}, [bytearray(8000)],
                 budget=P.Budget(nbytes=4000))


def test_a_big_value_is_copied_only_for_the_tests_that_name_it():
    s = Session.__new__(Session)
    s.names = {n: {"kind": "value"} for n in ("big", "small", "frozen")}
    s.values = {"big": list(range(5000)), "small": [1, 2], "frozen": (1, "a", (2.0,))}
    s.value_cost = {"big": (5001, 0, False), "small": (3, 0, False), "frozen": (5, 0, True)}
    ns = s.proxies("assert small == [1, 2]")
    assert isinstance(ns["big"], RemoteObject)          # not copied for a test that does not use it
    assert ns["small"] == [1, 2] and ns["small"] is not s.values["small"]
    assert ns["frozen"] is s.values["frozen"]           # immutable: shared, no copy
    ns = s.proxies("assert len(big) == 5000")
    assert ns["big"] == s.values["big"] and ns["big"] is not s.values["big"]
    ns["big"].append(1)                                 # a test changing it changes no other test
    assert len(s.proxies("big")["big"]) == 5000


# ---------------------------------------------------------------- whole submissions

@needs_isolation
def test_a_huge_list_answer_costs_the_grader_little_and_is_explained(tmp_path):
    a = load_assignment("ps1_convolution", source_dir=F.ROOT / "solutions")
    folder = F.write_class(tmp_path / "subs", a, {
        "big_list": F.BIG_LIST,                                           # 9 MB of JSON
        "huger_list": F.BIG_LIST.replace("4_500_000", "20_000_000")})     # 40 MB: over load_mb
    run = F.grade_in_fresh_process(a.name, folder, 2, prepare_first=True)
    # the old code: about 28 s of the grader's own CPU for big_list; here about 1 s for both
    assert run["cpu_s"] < 10, run["cpu_s"]
    max_score = float(sum(t.points for t in a.tests))
    points = {t.grade_id: float(t.points) for t in a.tests}
    r = run["results"]["big_list"]
    failed = {t[0]: t for t in r["tests"] if t[1] != "passed"}
    assert set(failed) == {"test_answer_unseen_pixels"}, failed     # its other answers are still values
    assert r["score"] == max_score - points["test_answer_unseen_pixels"]
    assert "answer_unseen_pixels should be an int" in failed["test_answer_unseen_pixels"][3], failed
    assert "`answer_unseen_pixels` is too large to be sent to the grader as a value (" in r["message"], r["message"]
    r = run["results"]["huger_list"]
    assert [t[1] for t in r["tests"] if t[0] == "test_answer_unseen_pixels"] == ["failed"], r


@needs_isolation
def test_memory_trouble_costs_one_test_of_one_submission(tmp_path):
    F.write_memory_source(tmp_path / "src")
    a = load_assignment(F.MEM_NAME, source_dir=tmp_path / "src")
    folder = F.write_class(tmp_path / "subs", a, {
        "a_hog": F.MEM_HOG,                # 12 GB in the grader: over its 2 GB bound
        "b_absurd": F.MEM_ABSURD,          # petabytes: numpy refuses at once
        "c_list": "def double(x):\n    return [0] * 1_500_000\n",   # over answer_items
        "honest1": None, "honest2": None})
    run = F.grade_in_fresh_process(a.name, folder, 4, source_dir=tmp_path / "src", limits={"grader_memory_mb": 2048})
    res = run["results"]
    for sid in ("honest1", "honest2"):
        assert res[sid]["score"] == 3.0, res[sid]
    assert res["honest1"] == res["honest2"]
    for sid in ("a_hog", "b_absurd"):
        tests = {t[0]: t for t in res[sid]["tests"]}
        assert res[sid]["score"] == 2.0, res[sid]
        name, status, points, message = tests["test_block_size"]
        assert status == "error", tests
        assert message.startswith("checking your values needed more memory than the grader allows (2,048 MB)"), message
    tests = {t[0]: t for t in res["c_list"]["tests"]}
    assert res["c_list"]["score"] == 1.0
    assert "returned a value too large for the grader to check (more than 1,000,000 items" in tests["test_double"][3]
