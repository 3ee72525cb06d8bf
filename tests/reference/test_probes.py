"""autograder/tools/probes.py: what call_each reports for each kind of call."""
import numpy as np

from autograder.tools.probes import MESSAGE_CHARS, call_each


def test_call_each_reports_values_errors_and_non_plain_results():
    src = ("def f(n, k=1):\n"
           "    if n == 3:\n"
           "        raise ValueError('three' * 200)\n"
           "    if n == 4:\n"
           "        return object()\n"
           "    if n == 5:\n"
           "        return np.arange(1000)\n"
           "    return (n * k, np.int64(n))\n")
    ns = {"np": np}
    exec(compile(src, "<cell 7>", "exec"), ns)
    import linecache
    linecache.cache["<cell 7>"] = (len(src), None, src.splitlines(True), "<cell 7>")
    out = call_each(ns["f"], [[1], [2], [3], [4], [5]], [{}, {"k": 3}, {}, {}, {}])
    assert out["values"][:2] == [(1, np.int64(1)), (6, np.int64(2))] and out["values"][2:] == [None] * 3
    (i3, kind3, typ3, msg3, where3), (i4, kind4, typ4, repr4), (i5, kind5, typ5, _) = out["failed"]
    assert (i3, kind3, typ3) == (2, "raised", "ValueError") and len(msg3) == MESSAGE_CHARS
    assert where3 == "line 3, in f: raise ValueError('three' * 200)"
    assert (i4, kind4, typ4) == (3, "other", "object") and "0x" not in repr4   # no memory address
    assert (i5, kind5, typ5) == (4, "other", "ndarray")                         # too large to be plain


def test_call_each_uses_the_real_builtins_whatever_the_notebook_defines():
    ns = {}
    exec("isinstance = len = type = lambda *a: 'shadowed'\ndef g(x):\n    return [x, x]\n", ns)
    assert call_each(ns["g"], [[1], ["a"]]) == {"values": [[1, 1], ["a", "a"]], "failed": []}


def test_call_each_bounds_what_a_call_sends_back():
    big = "x" * 5_000_000
    out = call_each(lambda n: big if n else "ok", [[0], [1]])
    assert out["values"] == ["ok", None]
    (i, kind, typ, shown), = out["failed"]
    assert (i, kind, typ) == (1, "other", "str") and len(shown) <= 100
