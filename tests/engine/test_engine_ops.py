"""The requests the grader sends (remote.py) and those the worker answers (worker.py) are the
same set, ``protocol.Op``: no operation is answered that the grader never sends (dead code in the
sandbox is attack surface), and none is sent that the worker does not know. Read from the sources
with ``ast``: a request is a dict literal with an ``"op"`` key; the worker tests ``op == ...``.
remote.py and worker.py name each operation as an ``Op`` member, never as a bare string."""
import ast
import json
from pathlib import Path

from autograder import protocol as P

PKG = Path(__file__).resolve().parents[2] / "autograder"
EXPECTED = {"load", "call", "run", "getattr", "setattr", "len", "iter", "getitem", "contains", "repr", "str",
            "threads", "release"}


def _op_value(node):
    """``"call"`` for the constant ``"call"`` or the expression ``P.Op.CALL``; None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "Op":
        return P.Op[node.attr].value
    return None


def _bare(node) -> bool:
    return isinstance(node, ast.Constant)


def sent_ops(*files, bare=None) -> set:
    ops = set()
    for f in files:
        for node in ast.walk(ast.parse((PKG / f).read_text())):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "op" and _op_value(v) is not None:
                        ops.add(_op_value(v))
                        if bare is not None and _bare(v):
                            bare.append((f, v.value))
    return ops


def answered_ops(bare=None) -> set:
    ops = set()
    for node in ast.walk(ast.parse((PKG / "worker.py").read_text())):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "op"
                and isinstance(node.ops[0], ast.Eq) and _op_value(node.comparators[0]) is not None):
            ops.add(_op_value(node.comparators[0]))
            if bare is not None and _bare(node.comparators[0]):
                bare.append(("worker.py", node.comparators[0].value))
    return ops


def test_worker_answers_exactly_what_the_grader_sends():
    sent = sent_ops("remote.py", "engine.py", "sandbox.py")
    answered = answered_ops()
    assert sent == EXPECTED == {op.value for op in P.Op}, (
        f"the grader's requests changed: {sorted(sent ^ EXPECTED)}; update EXPECTED and protocol.Op")
    assert answered == sent, (f"worker answers requests the grader never sends: {sorted(answered - sent)}; "
                              f"grader sends requests the worker does not know: {sorted(sent - answered)}")


def test_operations_are_op_members_and_plain_strings_on_the_wire():
    bare: list = []
    sent_ops("remote.py", bare=bare)
    answered_ops(bare=bare)
    assert not bare, f"operations spelled as bare strings (use protocol.Op): {bare}"
    assert json.dumps({"op": P.Op.CALL}) == '{"op": "call"}' and P.Op("call") is P.Op.CALL
