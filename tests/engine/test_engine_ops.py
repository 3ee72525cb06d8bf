"""The requests the grader sends (remote.py) and those the worker answers (worker.py) are the
same set: no operation is answered that the grader never sends (dead code in the sandbox is
attack surface), and none is sent that the worker does not know. Read from the sources with
``ast``: a request is a dict literal with an ``"op"`` key; the worker tests ``op == "..."``."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "autograder"
EXPECTED = {"load", "call", "run", "getattr", "setattr", "len", "iter", "getitem", "contains", "repr", "str",
            "threads", "release"}


def sent_ops(*files) -> set:
    ops = set()
    for f in files:
        for node in ast.walk(ast.parse((PKG / f).read_text())):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "op" and isinstance(v, ast.Constant):
                        ops.add(v.value)
    return ops


def answered_ops() -> set:
    ops = set()
    for node in ast.walk(ast.parse((PKG / "worker.py").read_text())):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "op"
                and isinstance(node.ops[0], ast.Eq) and isinstance(node.comparators[0], ast.Constant)):
            ops.add(node.comparators[0].value)
    return ops


def test_worker_answers_exactly_what_the_grader_sends():
    sent = sent_ops("remote.py", "engine.py", "sandbox.py")
    answered = answered_ops()
    assert sent == EXPECTED, f"the grader's requests changed: {sorted(sent ^ EXPECTED)}; update EXPECTED"
    assert answered == sent, (f"worker answers requests the grader never sends: {sorted(answered - sent)}; "
                              f"grader sends requests the worker does not know: {sorted(sent - answered)}")
