"""What the student's code prints while graded: the worker keeps the first ``output_kb`` KB
(grading.toml [limits]) and counts the rest; the load answer carries it to the grader, which
caps it again (``Session.load_output``)."""
from types import SimpleNamespace

import pytest

from autograder import protocol as P
from autograder.remote import Session
from autograder.limits import DEFAULT_LIMITS
from autograder.sandbox import Sandbox
from autograder.worker import LimitedText


def test_limited_text_keeps_a_prefix_and_counts_the_rest():
    out = LimitedText(1024)
    assert out.write("a" * 1000) == 1000
    assert out.write("b" * 100) == 100, "write must report every character as written, kept or not"
    assert out.write("c") == 1, "once full, later short writes are dropped too (the kept text is a prefix)"
    got = out.take()
    assert got == {"text": "a" * 1000 + "b" * 24, "dropped": 76 + 1}, (len(got["text"]), got["dropped"])
    assert out.written == 1101
    assert out.take() == {"text": "", "dropped": 0}, "take() must empty the store"
    out.write("again")
    assert out.take()["text"] == "again", "after take() a fresh budget starts"


def test_limited_text_cuts_between_utf8_characters():
    out = LimitedText(1001)
    out.write("é" * 600)            # 1200 bytes; byte 1001 is in the middle of a character
    got = out.take()
    assert got["text"] == "é" * 500 and got["dropped"] == 200, (len(got["text"]), got["dropped"])
    out.write("\ud800x")            # a lone surrogate cannot be encoded: replaced, not raised
    assert out.take()["text"] == "?x"


def test_limited_text_with_no_budget_keeps_nothing():
    out = LimitedText(0)
    out.write("hello")
    assert out.take() == {"text": "", "dropped": 5}


LOUD = "import sys\nprint('x' * 3000)\nsys.stderr.write('E' * 10)\ndef f():\n    print('y' * 10)\n    return 1\n"


def test_load_answer_carries_at_most_output_kb():
    """A worker (insecure mode: no root needed) started with output_kb = 1: stdout and stderr
    share the 1024 bytes; the load answer reports them and what was dropped."""
    with Sandbox({**DEFAULT_LIMITS, "output_kb": 1}, insecure=True) as sb:
        sb.start()
        head, _ = sb.request({"op": "load", "stmts": [{"cell": 0, "lineno": 1, "src": LOUD}], "cells": {"0": LOUD},
                              "graded": ["f"]}, cpu_limit=20, wall_limit=60)
        assert head["ok"] and not head["errors"], head
        assert head["output"] == {"text": "x" * 1024, "dropped": 3001 - 1024 + 10}, (
            len(head["output"]["text"]), head["output"]["dropped"])
        bufs: list = []
        node = P.encode((), bufs)
        head, _ = sb.request({"op": "call", "target": {"global": "f"}, "args": node}, bufs, cpu_limit=10,
                             wall_limit=30)
        assert head["ok"] and head["value"] == 1, "a function that prints must still work"


@pytest.mark.parametrize("output_kb, text, dropped", [
    (1, "x" * 1024, 3001 + 10 - 1024),
    (256, "x" * 3000 + "\n" + "E" * 10, 0),
])
def test_session_keeps_the_load_output(output_kb, text, dropped):
    assignment = SimpleNamespace(forbidden={}, sandbox_data=[], graded_names={"f"}, tests=[], probes={})
    code = SimpleNamespace(stmts=[{"cell": 0, "lineno": 1, "src": LOUD}], cells={0: LOUD})
    session = Session(assignment, code, {}, {**DEFAULT_LIMITS, "output_kb": output_kb}, insecure=True, seed=0)
    try:
        session.start()
        assert session.loaded and set(session.names) == {"f"}
        assert session.load_output == text, (len(session.load_output), session.load_output[-20:])
        assert session.load_output_dropped == dropped
    finally:
        session.close()
