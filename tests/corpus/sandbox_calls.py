"""Talking to a Sandbox directly in tests: load source into it, call one of its functions.

Both go through the same protocol messages as the engine (protocol.py) and fail the test
with the sandbox's answer when it is not ``ok``."""
from autograder import protocol as P


def call(sb, name, *args, cpu_limit: float = 10, wall_limit: float = 30):
    """``name(*args)`` in the sandbox ``sb``; its value decoded (plain data)."""
    bufs: list = []
    node = P.encode(tuple(args), bufs)
    head, rbufs = sb.request({"op": "call", "target": {"global": name}, "args": node}, bufs,
                             cpu_limit=cpu_limit, wall_limit=wall_limit)
    assert head["ok"], head
    return P.decode(head["value"], rbufs)


def load(sb, src: str, *, cpu_limit: float = 10, wall_limit: float = 30) -> dict:
    """Run ``src`` as one statement group in ``sb`` (as the engine loads a notebook)."""
    head, _ = sb.request({"op": "load", "stmts": [{"cell": 0, "lineno": 1, "src": src}], "cells": {"0": src}},
                         cpu_limit=cpu_limit, wall_limit=wall_limit)
    assert head["ok"] and not head["errors"], head
    return head
