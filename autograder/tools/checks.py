"""Assertions for the exercises' test cells.

The same test cell runs in two places: in the student's notebook (where the
student's functions are ordinary Python objects) and in the grader (where they
are proxies to a sandboxed process and results arrive as plain numpy data).
These helpers work the same in both and write messages that teach: the shape
or value that was expected, the first index that differs, and a hint.

Every helper raises ``AssertionError`` with a readable message on failure.

**Hidden tests never reveal their answers.** When the grader runs a *hidden* test, the
helpers it binds (:func:`test_helpers` with ``hidden=True``) still say what is wrong (the
shape you returned, which axis is off, the first index that differs and your value there,
a matched common mistake, a hint) but never the expected shape, value or array. The same
holds for a helper the hidden test imports itself: a test cell whose globals carry
``__checks_hidden__ = True`` (the grader sets it) is hidden for every helper it calls.

**Non-finite values fail.** ``assert_close`` fails where the result holds NaN or inf
(unless ``equal_nan=True``): NaN must not "match" a NaN computed from the student's own
weights. :func:`assert_finite` and :func:`expect_array` check a value before the test uses it.
"""
from __future__ import annotations

import contextvars
import functools
import numbers
import sys
import types

import numpy as np

__all__ = [
    "assert_close",
    "assert_equal",
    "assert_shape",
    "assert_raises",
    "assert_not_modified",
    "assert_finite",
    "expect_array",
    "run_student",
    "run_probe",
]

class CheckFailed(AssertionError):
    """What every helper raises: an ``AssertionError`` whose Jupyter traceback ends at the line
    of the notebook that called the helper, followed by the message. IPython asks an exception
    for ``_render_traceback_()`` before formatting it; the frames of this module (how the check
    is made) are left out, so the student reads their own line, then what is wrong. Anywhere
    else (the grader, pytest, plain Python) it is an ordinary ``AssertionError``."""

    def _render_traceback_(self):
        from IPython import get_ipython

        shell = get_ipython()
        formatter = shell.InteractiveTB
        full = self.__traceback__
        try:
            return formatter.structured_traceback(AssertionError, self, _caller_part(full))
        except Exception:  # noqa: BLE001 - never worse than IPython's own traceback
            return formatter.structured_traceback(type(self), self, full)


def _caller_part(tb):
    """The frames of traceback ``tb`` up to (not including) the first one that runs this module's
    code (a new chain: ``tb`` itself is left as it is); ``tb`` when every frame is this module's."""
    kept = []
    while tb is not None and tb.tb_frame.f_globals is not globals():
        kept.append(tb)
        tb = tb.tb_next
    if not kept:
        return tb
    chain = None
    for t in reversed(kept):
        chain = types.TracebackType(chain, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return chain


# False while a hidden test's helper runs (see test_helpers); per thread / context.
_REVEAL = contextvars.ContextVar("cnn_course_checks_reveal", default=True)
HIDDEN_MARK = "__checks_hidden__"      # a test cell's global: True in a hidden test
_MAX_FRAMES = 64


def _reveal() -> bool:
    """May a failure message show expected values? Not in a hidden test: not while a hidden
    variant runs, and not when any calling frame's globals mark a hidden test."""
    if not _REVEAL.get():
        return False
    try:
        frame = sys._getframe(1)
    except ValueError:  # pragma: no cover
        return True
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        if frame.f_globals.get(HIDDEN_MARK) is True:
            return False
        frame = frame.f_back
    return True


def _hidden_variant(fn):
    """``fn`` run with expected values kept out of its messages."""
    @functools.wraps(fn)
    def hidden(*args, **kwargs):
        __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
        token = _REVEAL.set(False)
        try:
            return fn(*args, **kwargs)
        finally:
            _REVEAL.reset(token)
    return hidden


def test_helpers(*, hidden: bool) -> dict:
    """The helpers of ``__all__`` for a test cell's namespace, by name. ``hidden=True``: the
    variants for a hidden test (messages without expected values) and the hidden mark."""
    ns = {name: globals()[name] for name in __all__}
    if hidden:
        for name in __all__:
            if name.startswith(("assert_", "expect_")):
                ns[name] = _hidden_variant(ns[name])
    ns[HIDDEN_MARK] = bool(hidden)
    return ns


test_helpers.__test__ = False  # not a pytest test


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("?" if s is None else str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_index(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _fmt_value(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return repr(v.item() if isinstance(v, np.generic) else v)


def _short_repr(v, limit: int = 1000) -> str:
    try:
        text = repr(v)
    except Exception:  # noqa: BLE001 - a hostile __repr__
        text = f"<{type(v).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _with_hint(msg: str, hint) -> str:
    return msg + (f" Hint: {hint}" if hint else "")


def _as_numeric_array(value, name: str) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{name} is None: did the function forget to `return` its result?")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise CheckFailed(f"{name} could not be read as an array ({exc}).") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise CheckFailed(
            f"{name} should be a numeric numpy array, got {type(value).__name__} with dtype {arr.dtype}."
        )
    return arr


def _nonfinite(arr: np.ndarray) -> np.ndarray | None:
    """Where ``arr`` holds NaN or +-inf (None for integer and boolean arrays, which cannot)."""
    if arr.dtype.kind not in "fc":
        return None
    bad = ~np.isfinite(arr)
    return bad if bad.any() else None


def _nonfinite_message(arr: np.ndarray, bad: np.ndarray, name: str, expected_finite: bool | None = True) -> str:
    idx = tuple(np.argwhere(bad)[0])
    v = arr[idx]
    what = "NaN" if np.isnan(v) else ("inf" if np.real(v) > 0 else "-inf")
    where = f" at index {_fmt_index(idx)}" if arr.ndim else ""
    msg = f"{name} contains {what}{where} ({int(bad.sum())} of {arr.size} values are not finite)"
    if expected_finite is None:
        msg += "; it should hold finite numbers only."
    elif expected_finite:
        msg += "; expected finite values."
    else:
        msg += ("; the values it is compared with are not finite either: they come from your own results "
                "(e.g. trained weights), so something earlier went wrong.")
    return msg + (" Look for a division by zero, the log of 0, an overflow, or a learning rate so large that "
                  "training diverges.")


def _match_mistake(actual: np.ndarray, mistakes, rtol: float, atol: float) -> str | None:
    for description, wrong in (mistakes or {}).items():
        try:
            wrong = np.asarray(wrong)
            if wrong.shape == actual.shape and np.allclose(actual, wrong, rtol=rtol, atol=atol, equal_nan=True):
                return description
        except (TypeError, ValueError):
            continue
    return None


def _shape_message(actual_shape, expected_shape, name: str, axes=None, reveal: bool = True) -> str:
    """What is wrong with a shape. With ``reveal=False`` (a hidden test) it says which axes are
    wrong and what the result has, never the expected sizes or number of axes."""
    if reveal:
        msg = f"{name} has shape {_fmt_shape(actual_shape)}, expected {_fmt_shape(expected_shape)}"
    else:
        msg = f"{name} has shape {_fmt_shape(actual_shape)}, which is not the expected shape"
    if len(actual_shape) != len(expected_shape):
        if reveal:
            return msg + f": it has {len(actual_shape)} axes instead of {len(expected_shape)}."
        return msg + f": it has {len(actual_shape)} axes, which is not the right number of axes."
    diffs = [i for i, (a, e) in enumerate(zip(actual_shape, expected_shape)) if e is not None and a != e]
    parts = []
    for i in diffs:
        label = f"axis {i}" + (f" ({axes[i]})" if axes and i < len(axes) else "")
        if reveal:
            parts.append(f"{label} is {actual_shape[i]}, expected {expected_shape[i]}")
        else:
            parts.append(f"{label} is {actual_shape[i]}, which is not right")
    msg += ": " + "; ".join(parts) + "."
    if any(abs(actual_shape[i] - expected_shape[i]) == 1 for i in diffs):
        msg += (" Off by one: check the +1 and the floor in the output-size formula, and the padding." if reveal
                else " Check the +1 and the floor in the output-size formula, and the padding.")
    return msg


def _shape_of(actual) -> tuple:
    if hasattr(actual, "shape") and isinstance(getattr(actual, "shape"), tuple):
        return tuple(actual.shape)
    return tuple(np.shape(actual))


def assert_shape(actual, shape, *, name: str = "result", axes=None, hint: str | None = None) -> None:
    """Assert ``actual.shape == shape``; ``axes`` names the axes in the message (e.g. ("N", "F", "H'", "W'"))."""
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    got = _shape_of(actual)
    want = tuple(int(s) for s in shape)
    if got != want:
        raise CheckFailed(_with_hint(_shape_message(got, want, name, axes, _reveal()), hint))


def assert_finite(value, *, name: str = "result", hint: str | None = None) -> None:
    """Assert ``value`` (a number or a numeric array) holds no NaN and no +-inf."""
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    arr = _as_numeric_array(value, name)
    bad = _nonfinite(arr)
    if bad is not None:
        raise CheckFailed(_with_hint(_nonfinite_message(arr, bad, name, None), hint))


_KIND_WORDS = {"f": "floating-point", "i": "signed integer", "u": "unsigned integer", "b": "boolean",
               "c": "complex"}


def expect_array(value, *, shape=None, dtype_kind: str | None = None, max_size: int | None = None,
                 finite: bool = True, name: str = "result", axes=None, hint: str | None = None) -> np.ndarray:
    """Check a value (from the student's code) before a test computes with it; return it as an array.

    ``shape``: the exact shape, ``None`` for an axis of any size (``(None, 10)``);
    ``dtype_kind``: the allowed numpy dtype kinds, e.g. ``"f"`` (float) or ``"iu"`` (integers);
    ``max_size``: the most values it may hold; ``finite``: no NaN or inf. Raises an
    ``AssertionError`` that says what is wrong (in a hidden test, without the expected shape).
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    if value is None:
        raise CheckFailed(_with_hint(f"{name} is None: did the function forget to `return` its result?", hint))
    if isinstance(value, (str, bytes, dict, set)) or callable(value):
        raise CheckFailed(_with_hint(f"{name} should be a numeric array, got a {type(value).__name__}.", hint))
    if max_size is not None:
        size = int(np.prod(_shape_of(value), dtype=np.int64)) if hasattr(value, "shape") else None
        if size is not None and size > int(max_size):
            raise CheckFailed(_with_hint(f"{name} has {size} values; at most {int(max_size)} are allowed.", hint))
    arr = _as_numeric_array(value, name)
    if max_size is not None and arr.size > int(max_size):
        raise CheckFailed(_with_hint(f"{name} has {arr.size} values; at most {int(max_size)} are allowed.", hint))
    if shape is not None:
        want = tuple(None if s is None else int(s) for s in shape)
        if arr.ndim != len(want) or any(w is not None and a != w for a, w in zip(arr.shape, want)):
            raise CheckFailed(_with_hint(_shape_message(arr.shape, want, name, axes, _reveal()), hint))
    if dtype_kind is not None and arr.dtype.kind not in dtype_kind:
        words = " or ".join(_KIND_WORDS.get(k, k) for k in dtype_kind)
        raise CheckFailed(_with_hint(f"{name} has dtype {arr.dtype}; expected a {words} array.", hint))
    if finite:
        bad = _nonfinite(arr)
        if bad is not None:
            raise CheckFailed(_with_hint(_nonfinite_message(arr, bad, name, None), hint))
    return arr


def assert_close(
    actual,
    expected,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    name: str = "result",
    axes=None,
    mistakes: dict | None = None,
    hint: str | None = None,
    equal_nan: bool = False,
) -> None:
    """Assert two arrays have the same shape and agree within ``rtol`` / ``atol``.

    ``mistakes`` maps a description of a common mistake to the array that mistake
    produces (e.g. ``{"the kernel is flipped (true convolution)": wrong}``); when
    ``actual`` equals one of them the message names the mistake.

    NaN or inf in ``actual`` fails (even where ``expected`` is not finite too: values computed
    from the student's own results); ``equal_nan=True`` accepts NaN where ``expected`` has NaN
    and an infinity where ``expected`` has the same one.
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    act = _as_numeric_array(actual, name)
    exp = np.asarray(expected)
    if act.shape != exp.shape:
        msg = _shape_message(act.shape, exp.shape, name, axes, _reveal())
        mistake = _match_mistake(act, mistakes, rtol, atol)
        if mistake:
            msg += f" It looks like {mistake}."
        raise CheckFailed(_with_hint(msg, hint))
    if not equal_nan:
        bad = _nonfinite(act)
        if bad is not None:
            idx = tuple(np.argwhere(bad)[0])
            try:
                exp_finite = bool(np.isfinite(exp[idx]))
            except TypeError:
                exp_finite = True
            raise CheckFailed(_with_hint(_nonfinite_message(act, bad, name, exp_finite), hint))
    close = np.isclose(act, exp, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if close.all():
        return
    bad = np.argwhere(~close)
    first = tuple(bad[0])
    at = f" at index {_fmt_index(first)}" if act.ndim else ""
    if _reveal():
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(act.astype(np.float64) - exp.astype(np.float64))
        max_err = float(np.nanmax(err)) if np.isfinite(err).any() else float("nan")
        msg = (
            f"{name} differs from the expected values{at}: "
            f"got {_fmt_value(act[first])}, expected {_fmt_value(exp[first])}. "
            f"{len(bad)} of {exp.size} values differ; max abs error {max_err:.3g} "
            f"(rtol={rtol:g}, atol={atol:g})."
        )
    else:
        msg = (
            f"{name} differs from the expected values{at}: got {_fmt_value(act[first])}, which is not right. "
            f"{len(bad)} of {exp.size} values differ (rtol={rtol:g}, atol={atol:g})."
        )
    mistake = _match_mistake(act, mistakes, rtol, atol)
    if mistake:
        msg += f" It looks like {mistake}."
    raise CheckFailed(_with_hint(msg, hint))


def assert_equal(actual, expected, *, name: str = "result", hint: str | None = None,
                 mistakes: dict | None = None) -> None:
    """Exact equality for ints, tuples, strings, dicts and small arrays.

    Where ``expected`` is an ``int``, ``actual`` must be an integer too (``5.0`` is
    not accepted for a size).
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    def fail(msg):
        __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
        for description, wrong in (mistakes or {}).items():
            try:
                if actual == wrong:
                    msg += f" It looks like {description}."
                    break
            except Exception:
                pass
        raise CheckFailed(_with_hint(msg, hint))

    if isinstance(expected, np.ndarray):
        assert_close(actual, expected, rtol=0, atol=0, name=name, mistakes=mistakes, hint=hint)
        return
    if isinstance(expected, numbers.Integral) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, numbers.Integral):
            fail(f"{name} should be an int equal to {expected}, got {_short_repr(actual)} ({type(actual).__name__})."
                 if _reveal() else f"{name} should be an int, got {_short_repr(actual)} ({type(actual).__name__}).")
        if int(actual) != int(expected):
            fail(f"{name} is {int(actual)}, expected {int(expected)}." if _reveal()
                 else f"{name} is {int(actual)}, which is not right.")
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            fail(f"{name} should be a {type(expected).__name__} like {_short_repr(expected)}, got {_short_repr(actual)}."
                 if _reveal() else f"{name} should be a {type(expected).__name__}, got {_short_repr(actual)}.")
        if len(actual) != len(expected):
            fail(f"{name} has {len(actual)} entries, expected {len(expected)}: got {_short_repr(actual)}, "
                 f"expected {_short_repr(expected)}." if _reveal()
                 else f"{name} has {len(actual)} entries, which is not the right number: got {_short_repr(actual)}.")
        for i, (a, e) in enumerate(zip(actual, expected)):
            try:
                assert_equal(a, e, name=f"{name}[{i}]")
            except AssertionError as exc:
                first = str(exc)      # raised below, outside the handler: one failure, not a chain of two
            else:
                continue
            fail(f"{first} (whole value: got {_short_repr(actual)}, expected {_short_repr(expected)})" if _reveal()
                 else f"{first} (whole value: got {_short_repr(actual)})")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            fail(f"{name} should be a dict, got {type(actual).__name__}.")
        missing = [k for k in expected if k not in actual]
        if missing:
            fail(f"{name} is missing the key(s) {missing}." if _reveal()
                 else f"{name} is missing {len(missing)} of the {len(expected)} keys it should have.")
        for k in expected:
            assert_equal(actual[k], expected[k], name=f"{name}[{k!r}]")
        return
    if actual != expected:
        fail(f"{name} is {_short_repr(actual)}, expected {_short_repr(expected)}." if _reveal()
             else f"{name} is {_short_repr(actual)}, which is not right.")


def assert_not_modified(after, before, *, name: str = "the input") -> None:
    """Assert an input array still equals its copy taken before the call."""
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    after = np.asarray(after)
    before = np.asarray(before)
    if after.shape != before.shape or not np.array_equal(after, before, equal_nan=True):
        raise CheckFailed(
            f"The function modified {name} in place. Work on a copy (np.pad returns a new "
            f"array) and leave the caller's arrays unchanged."
        )


def assert_raises(expected_exc, func, *args, because: str = "", match=None, **kwargs) -> None:
    """Assert ``func(*args, **kwargs)`` raises ``expected_exc`` (a type or a tuple of types).

    ``match``: a word, or a list of words, the error message must contain (case-insensitive).
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    call = f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        result = func(*args, **kwargs)
    except expected_exc as exc:
        if match:
            words = [match] if isinstance(match, str) else list(match)
            text = str(exc).lower()
            missing = [w for w in words if w.lower() not in text]
            if missing:
                raise CheckFailed(
                    f"{call} raised {type(exc).__name__} as expected, but its message {str(exc)!r} "
                    f"should mention {', '.join(repr(w) for w in missing)}."
                ) from None
        return
    except Exception as exc:
        names = expected_exc.__name__ if isinstance(expected_exc, type) else " or ".join(e.__name__ for e in expected_exc)
        raise CheckFailed(
            f"{call} raised {type(exc).__name__}: {exc}; expected {names}"
            + (f" because {because}" if because else "") + "."
        ) from None
    names = expected_exc.__name__ if isinstance(expected_exc, type) else " or ".join(e.__name__ for e in expected_exc)
    shown = repr(result)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise CheckFailed(
        f"{call} should raise {names}" + (f" because {because}" if because else "")
        + f", but it returned {shown}."
    )


def run_student(code: str, **inputs):
    """Run ``code`` in the notebook's namespace with ``inputs`` bound; return its ``result``.

    Test cells use this for checks that need live objects (a model, an optimizer):
    the code runs where the student's code lives and only ``result`` (plain data:
    numbers, strings, lists, dicts, numpy arrays) comes back. In the grader the
    same call runs inside the sandbox.
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    import __main__

    namespace = dict(vars(__main__))
    namespace.update(inputs)
    exec(compile(code, "<run_student>", "exec"), namespace)
    if "result" not in namespace:
        raise CheckFailed("the checked code did not set `result`")
    return namespace["result"]


def run_probe(name: str, **inputs):
    """Run the probe ``name`` of the assignment (``[probes]`` in its ``grading.toml``).

    A probe is public code that hidden tests run in the student's namespace (training a
    model, returning its weights); its ``result`` comes back as plain data. In a notebook
    this reads ``grading.toml`` from the current folder (the notebook's) and runs the probe
    like :func:`run_student`; in the grader the same call runs inside the sandbox.
    """
    __tracebackhide__ = True  # IPython and pytest show the caller's line, not this frame
    import tomllib
    from pathlib import Path

    path = Path("grading.toml")
    if not path.is_file():
        raise FileNotFoundError("run_probe needs the assignment's grading.toml in the notebook's folder")
    probes = tomllib.loads(path.read_text(encoding="utf-8")).get("probes", {})
    if name not in probes:
        raise KeyError(f"no probe {name!r} in {path.resolve()} (it has: {', '.join(sorted(probes)) or 'none'})")
    return run_student(probes[name], **inputs)
