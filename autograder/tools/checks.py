"""Assertions for the exercises' test cells.

The same test cell runs in two places: in the student's notebook (where the
student's functions are ordinary Python objects) and in the grader (where they
are proxies to a sandboxed process and results arrive as plain numpy data).
These helpers work the same in both and write messages that teach: the shape
or value that was expected, the first index that differs, and a hint.

Every helper raises ``AssertionError`` with a readable message on failure.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "assert_close",
    "assert_equal",
    "assert_shape",
    "assert_raises",
    "assert_not_modified",
    "run_student",
    "run_probe",
]


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_index(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _fmt_value(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return repr(v.item() if isinstance(v, np.generic) else v)


def _as_numeric_array(value, name: str) -> np.ndarray:
    if value is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise AssertionError(f"{name} could not be read as an array ({exc}).") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AssertionError(
            f"{name} should be a numeric numpy array, got {type(value).__name__} with dtype {arr.dtype}."
        )
    return arr


def _match_mistake(actual: np.ndarray, mistakes, rtol: float, atol: float) -> str | None:
    for description, wrong in (mistakes or {}).items():
        wrong = np.asarray(wrong)
        if wrong.shape == actual.shape and np.allclose(actual, wrong, rtol=rtol, atol=atol, equal_nan=True):
            return description
    return None


def _shape_message(actual_shape, expected_shape, name: str, axes=None) -> str:
    msg = f"{name} has shape {_fmt_shape(actual_shape)}, expected {_fmt_shape(expected_shape)}"
    if len(actual_shape) != len(expected_shape):
        return msg + f": it has {len(actual_shape)} axes instead of {len(expected_shape)}."
    diffs = [i for i, (a, e) in enumerate(zip(actual_shape, expected_shape)) if a != e]
    parts = []
    for i in diffs:
        label = f"axis {i}" + (f" ({axes[i]})" if axes and i < len(axes) else "")
        parts.append(f"{label} is {actual_shape[i]}, expected {expected_shape[i]}")
    msg += ": " + "; ".join(parts) + "."
    if any(abs(actual_shape[i] - expected_shape[i]) == 1 for i in diffs):
        msg += " Off by one: check the +1 and the floor in the output-size formula, and the padding."
    return msg


def assert_shape(actual, shape, *, name: str = "result", axes=None, hint: str | None = None) -> None:
    """Assert ``actual.shape == shape``; ``axes`` names the axes in the message (e.g. ("N", "F", "H'", "W'"))."""
    got = tuple(np.shape(actual)) if not hasattr(actual, "shape") else tuple(actual.shape)
    want = tuple(int(s) for s in shape)
    if got != want:
        msg = _shape_message(got, want, name, axes)
        raise AssertionError(msg + (f" Hint: {hint}" if hint else ""))


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
) -> None:
    """Assert two arrays have the same shape and agree within ``rtol`` / ``atol``.

    ``mistakes`` maps a description of a common mistake to the array that mistake
    produces (e.g. ``{"the kernel is flipped (true convolution)": wrong}``); when
    ``actual`` equals one of them the message names the mistake.
    """
    act = _as_numeric_array(actual, name)
    exp = np.asarray(expected)
    if act.shape != exp.shape:
        msg = _shape_message(act.shape, exp.shape, name, axes)
        mistake = _match_mistake(act, mistakes, rtol, atol)
        if mistake:
            msg += f" It looks like {mistake}."
        raise AssertionError(msg + (f" Hint: {hint}" if hint else ""))
    close = np.isclose(act, exp, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    bad = np.argwhere(~close)
    first = tuple(bad[0])
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(act.astype(np.float64) - exp.astype(np.float64))
    max_err = float(np.nanmax(err)) if np.isfinite(err).any() else float("nan")
    msg = (
        f"{name} differs from the expected values at index {_fmt_index(first)}: "
        f"got {_fmt_value(act[first])}, expected {_fmt_value(exp[first])}. "
        f"{len(bad)} of {exp.size} values differ; max abs error {max_err:.3g} "
        f"(rtol={rtol:g}, atol={atol:g})."
    )
    mistake = _match_mistake(act, mistakes, rtol, atol)
    if mistake:
        msg += f" It looks like {mistake}."
    raise AssertionError(msg + (f" Hint: {hint}" if hint else ""))


def assert_equal(actual, expected, *, name: str = "result", hint: str | None = None,
                 mistakes: dict | None = None) -> None:
    """Exact equality for ints, tuples, strings, dicts and small arrays.

    Where ``expected`` is an ``int``, ``actual`` must be an integer too (``5.0`` is
    not accepted for a size).
    """
    def fail(msg):
        for description, wrong in (mistakes or {}).items():
            try:
                if actual == wrong:
                    msg += f" It looks like {description}."
                    break
            except Exception:
                pass
        raise AssertionError(msg + (f" Hint: {hint}" if hint else ""))

    if isinstance(expected, np.ndarray):
        assert_close(actual, expected, rtol=0, atol=0, name=name, mistakes=mistakes, hint=hint)
        return
    if isinstance(expected, numbers.Integral) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, numbers.Integral):
            fail(f"{name} should be an int equal to {expected}, got {actual!r} ({type(actual).__name__}).")
        if int(actual) != int(expected):
            fail(f"{name} is {int(actual)}, expected {int(expected)}.")
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            fail(f"{name} should be a {type(expected).__name__} like {expected!r}, got {actual!r}.")
        if len(actual) != len(expected):
            fail(f"{name} has {len(actual)} entries, expected {len(expected)}: got {actual!r}, expected {expected!r}.")
        for i, (a, e) in enumerate(zip(actual, expected)):
            try:
                assert_equal(a, e, name=f"{name}[{i}]")
            except AssertionError as exc:
                fail(f"{exc} (whole value: got {actual!r}, expected {expected!r})")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            fail(f"{name} should be a dict, got {type(actual).__name__}.")
        missing = [k for k in expected if k not in actual]
        if missing:
            fail(f"{name} is missing the key(s) {missing}.")
        for k in expected:
            assert_equal(actual[k], expected[k], name=f"{name}[{k!r}]")
        return
    if actual != expected:
        fail(f"{name} is {actual!r}, expected {expected!r}.")


def assert_not_modified(after, before, *, name: str = "the input") -> None:
    """Assert an input array still equals its copy taken before the call."""
    after = np.asarray(after)
    before = np.asarray(before)
    if after.shape != before.shape or not np.array_equal(after, before, equal_nan=True):
        raise AssertionError(
            f"The function modified {name} in place. Work on a copy (np.pad returns a new "
            f"array) and leave the caller's arrays unchanged."
        )


def assert_raises(expected_exc, func, *args, because: str = "", match=None, **kwargs) -> None:
    """Assert ``func(*args, **kwargs)`` raises ``expected_exc`` (a type or a tuple of types).

    ``match``: a word, or a list of words, the error message must contain (case-insensitive).
    """
    call = f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        result = func(*args, **kwargs)
    except expected_exc as exc:
        if match:
            words = [match] if isinstance(match, str) else list(match)
            text = str(exc).lower()
            missing = [w for w in words if w.lower() not in text]
            if missing:
                raise AssertionError(
                    f"{call} raised {type(exc).__name__} as expected, but its message {str(exc)!r} "
                    f"should mention {', '.join(repr(w) for w in missing)}."
                ) from None
        return
    except Exception as exc:
        names = expected_exc.__name__ if isinstance(expected_exc, type) else " or ".join(e.__name__ for e in expected_exc)
        raise AssertionError(
            f"{call} raised {type(exc).__name__}: {exc}; expected {names}"
            + (f" because {because}" if because else "") + "."
        ) from None
    names = expected_exc.__name__ if isinstance(expected_exc, type) else " or ".join(e.__name__ for e in expected_exc)
    shown = repr(result)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise AssertionError(
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
    import __main__

    namespace = dict(vars(__main__))
    namespace.update(inputs)
    exec(compile(code, "<run_student>", "exec"), namespace)
    if "result" not in namespace:
        raise AssertionError("the checked code did not set `result`")
    return namespace["result"]


def run_probe(name: str, **inputs):
    """Run the probe ``name`` of the assignment (``[probes]`` in its ``grading.toml``).

    A probe is public code that hidden tests run in the student's namespace (training a
    model, returning its weights); its ``result`` comes back as plain data. In a notebook
    this reads ``grading.toml`` from the current folder (the notebook's) and runs the probe
    like :func:`run_student`; in the grader the same call runs inside the sandbox.
    """
    import tomllib
    from pathlib import Path

    path = Path("grading.toml")
    if not path.is_file():
        raise FileNotFoundError("run_probe needs the assignment's grading.toml in the notebook's folder")
    probes = tomllib.loads(path.read_text(encoding="utf-8")).get("probes", {})
    if name not in probes:
        raise KeyError(f"no probe {name!r} in {path.resolve()} (it has: {', '.join(sorted(probes)) or 'none'})")
    return run_student(probes[name], **inputs)
