"""Parsing and compiling Python source in the grader, safely from several threads.

CPython 3.11 keeps the AST constructor's recursion-depth bookkeeping per interpreter, not
per thread: two grading threads that call ``ast.parse`` or ``compile`` at the same moment can
fail with ``SystemError: AST constructor recursion depth mismatch`` (seen in ``make demo``
with two workers). Every parse and compile on the grader's side goes through this lock; the
work is milliseconds per submission, so the lock costs nothing measurable.
"""
from __future__ import annotations

import ast
import threading

AST_LOCK = threading.RLock()


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    with AST_LOCK:
        return ast.parse(source, filename, mode)


def compile_code(source, filename: str, mode: str = "exec"):
    with AST_LOCK:
        return compile(source, filename, mode)
