"""Issue 18: the fairness corpus of what the sandbox hands out and sends back
(tests/corpus/fair_corpus_sandbox.py), graded by the engine.

* ps1: a conv2d built on Keras' Conv2D, taken from a course helper, scores what a blank conv2d
  scores and is reported as forbidden (named: by the static analysis; through a star import:
  by the sandbox's runtime guard).
* ps4: a build_transfer_model that forges the probe's description of the model (a
  BatchNormalization with broadcasting weights) fails the test with a clear message, and the
  grader's own memory stays small.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.assignment import load_assignment
from autograder.engine import grade_notebook, isolation_available

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))
import fair_corpus_sandbox as F  # noqa: E402

needs_sandbox = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")
CONV2D_TESTS = {"test_conv2d_seed", "test_conv2d_hidden_grid", "test_conv2d_stride_padding", "test_conv2d_same",
                "test_conv2d_bias", "test_conv2d_unchanged_errors"}


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps1_fair")
def test_ps1_conv2d_from_a_course_helper_scores_like_a_blank_conv2d(tmp_path):
    a = load_assignment("ps1_convolution", source_dir=ROOT / "solutions")
    blank = grade_notebook(a, F.build_ps1(tmp_path / "blank", F.PS1_BLANK), "blank")
    by_blank = {t.name: t for t in blank.tests}
    assert CONV2D_TESTS <= set(by_blank) and all(by_blank[n].points == 0 for n in CONV2D_TESTS)
    for label, source in (("named", F.PS1_KERAS_HELPER), ("star", F.PS1_KERAS_HELPER_STAR)):
        r = grade_notebook(a, F.build_ps1(tmp_path / label, source), label)
        tests = {t.name: t for t in r.tests}
        assert r.status == "graded", (label, r.status, r.message)
        assert r.score == blank.score, (label, r.score, blank.score,
                                        {n: (t.status, t.message[:200]) for n, t in tests.items() if t.points})
        assert {n: t.points for n, t in tests.items()} == {n: t.points for n, t in by_blank.items()}, label
        forbidden = {n for n, t in tests.items() if t.status == "forbidden"}
        assert forbidden and forbidden <= {n for n, t in by_blank.items() if t.status != "passed"}, (label, forbidden)
        if label == "named":       # the static analysis names the helper before anything runs
            assert CONV2D_TESTS <= forbidden, forbidden
            assert "conv2d uses autograder.tools.keras_utils (a course helper that uses keras)" in r.message, r.message
        else:                      # the runtime guard refuses the helper's import of Keras, saying why
            msg = " ".join(tests[n].message for n in forbidden)
            assert "importing keras is not allowed" in msg and "small_vgg16" in msg, msg


# The grader's side, in a subprocess of its own so that its peak memory is this grading's: TensorFlow
# is imported (and a model built) first, then the peak resident size is read before and after.
GRADE_PS4 = r'''
import json, resource, sys
import keras, numpy as np
_inp = keras.Input((8, 8, 3))
keras.Model(_inp, keras.layers.Conv2D(4, 3)(_inp))(np.zeros((1, 8, 8, 3), np.float32))
from autograder.assignment import load_assignment
from autograder.engine import grade_notebook
a = load_assignment("ps4_transfer", source_dir="solutions")      # run in the checkout (cwd=ROOT)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = grade_notebook(a, sys.argv[1], "forged")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (after - before) / 1024, "score": r.score, "status": r.status,
                  "tests": {t.name: [t.status, t.message] for t in r.tests}}))
'''
GROWTH_MB = 600      # a grading grows the grader by well under this; the old numpy_forward: > 1,100 MB


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps4_fair")
def test_ps4_forged_probe_description_fails_clearly_and_the_grader_stays_small(tmp_path):
    path = F.build_ps4_describe_attack(tmp_path)
    proc = subprocess.run([sys.executable, "-c", GRADE_PS4, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    tests = out["tests"]
    assert out["status"] == "graded", out
    # the forged BatchNormalization is refused before the grader computes anything with it
    for name in ("test_build_transfer_model_hidden", "test_build_transfer_model_fit"):
        status, message = tests[name]
        assert status == "failed", (name, status, message)
        assert "the base the grader built" in message and "BatchNormalization" in message, (name, message)
    print(f"peak memory growth of the grader: {out['growth_mb']:.0f} MB")
    assert out["growth_mb"] < GROWTH_MB, out["growth_mb"]
    # the rest of the notebook is the reference: it keeps its points
    assert {n for n, (s, _) in tests.items() if s != "passed"} == {"test_build_transfer_model_hidden",
                                                                  "test_build_transfer_model_fit"}, tests


# Run inside a sandbox: every module and every module attribute that still comes from a forbidden module.
SCAN = r'''
def scan(forbidden):
    import sys, types
    def bad(name):
        return isinstance(name, str) and any(name == m or name.startswith(m + ".") for m in forbidden)
    found = sorted(n for n in sys.modules if bad(n))
    for mod_name, mod in list(sys.modules.items()):
        for attr, value in list(getattr(mod, "__dict__", {}).items()):
            if isinstance(value, types.ModuleType):
                origin = value.__dict__.get("__name__")
                live = not type(value).__name__.startswith("_Forbidden")
            elif isinstance(value, (type, types.FunctionType)):
                origin, live = getattr(value, "__module__", None), True
            else:
                continue
            if live and bad(origin):
                found.append(f"{mod_name}.{attr}")
    return found[:20]
'''


def _sandbox_config(case):
    if case == "scipy behind sklearn":       # a template whose preload imports a forbidden module
        return ["scipy"], ["sklearn.datasets"]
    a = load_assignment(case, source_dir=ROOT / "solutions")
    return list(a.forbidden["modules"]), a.sandbox_preload


@needs_sandbox
@pytest.mark.parametrize("case", ["ps1_convolution", "ps2_shapes", "ps5_backprop", "ps6_modern_cnn", "scipy behind sklearn"])
def test_nothing_forbidden_is_reachable_in_the_sandbox(case):
    """Whatever the sandbox's template preloaded: no forbidden module in sys.modules, none (nor
    a class or function of one) as an attribute of an allowed module. (sklearn keeps SciPy's
    modules and functions as attributes: the guard replaces them by placeholders that refuse.)"""
    import sandbox_calls
    from autograder.sandbox import Sandbox
    modules, preload = _sandbox_config(case)
    assert modules, case
    with Sandbox({"cpu_per_test": 20, "startup_cpu": 30, "memory_mb": 4096, "processes": 32, "output_kb": 16},
                 {"modules": modules, "names": []}, preload=preload) as sb:
        sb.start()
        sandbox_calls.load(sb, SCAN, cpu_limit=30, wall_limit=120)
        assert sandbox_calls.call(sb, "scan", modules, cpu_limit=30, wall_limit=120) == []
