"""ps4_transfer: the reference scores full marks, known-wrong implementations lose points.

Every grading imports TensorFlow in a fresh sandbox (about 10-20 s), so the mutants are
grouped: each mutated submission breaks one function in each of several ways at once,
and every function's tests must then fail while the other functions' tests still pass.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from autograder.assignment import load_assignment
from autograder.engine import grade_notebook, isolation_available

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "ps4_transfer" / "ps4_transfer.ipynb"
RELEASED = ROOT / "exercises" / "ps4_transfer" / "ps4_transfer.ipynb"

needs_sandbox = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")

# (cell id, text to replace, replacement): one known mistake per function and submission.
SUBMISSIONS = {
    "rgb_kept_base_trainable_wrong_end_no_softmax": {
        "prepare_images": ("return np.asarray(preprocess_input(x), dtype=np.float32)",
                           "return (x - np.array([103.939, 116.779, 123.68])).astype(np.float32)"),
        "build_transfer_model": ("    base.trainable = False\n", ""),
        "unfreeze_top": ("layer.trainable = i >= first", "layer.trainable = i < n_layers"),
        "reuse_model": ('model.add(layers.Dense(num_classes, activation="softmax", dtype="float32"))',
                        'model.add(layers.Dense(num_classes, dtype="float32"))'),
    },
    "scaled_no_softmax_lr_unchanged_nothing_frozen": {
        "prepare_images": ("return np.asarray(preprocess_input(x), dtype=np.float32)",
                           "return np.asarray(preprocess_input(x / 255.0), dtype=np.float32)"),
        "build_transfer_model": ('outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)',
                                 'outputs = layers.Dense(num_classes, dtype="float32")(x)'),
        "unfreeze_top": ("optimizer=keras.optimizers.Adam(learning_rate=learning_rate)",
                         "optimizer=keras.optimizers.Adam()"),
        "reuse_model": ("    for layer in model.layers[:n_frozen]:\n        layer.trainable = False\n", ""),
    },
}
# tests each mutated function must fail (in both submissions)
MUST_FAIL = {
    "prepare_images": {"test_prepare_images_public", "test_prepare_images_hidden"},
    "build_transfer_model": {"test_build_transfer_model_hidden"},
    "unfreeze_top": {"test_unfreeze_top_public", "test_unfreeze_top_hidden"},
    "reuse_model": {"test_reuse_model_hidden"},
}
EXTRA_FAIL = {  # more tests that catch the mistake of one submission
    "rgb_kept_base_trainable_wrong_end_no_softmax": {"test_build_transfer_model_public",
                                                      "test_build_transfer_model_fit"},
    "scaled_no_softmax_lr_unchanged_nothing_frozen": {"test_reuse_model_public"},
}
MESSAGES = {
    "rgb_kept_base_trainable_wrong_end_no_softmax": {
        "test_prepare_images_public": "RGB order",
        "test_build_transfer_model_public": "the base is not frozen",
        "test_unfreeze_top_public": "bottom layers were unfrozen",
    },
    "scaled_no_softmax_lr_unchanged_nothing_frozen": {
        "test_prepare_images_public": "scaled to [0, 1]",
        "test_unfreeze_top_public": "learning rate",
        "test_build_transfer_model_hidden": "softmax",
    },
}


# Predict-before-run answers (1 point each) and the one test of input checks. What the
# transfer vs. scratch run shows depends on the student's seeds and mode: a written answer
# graded by hand (1 point), never a hidden test against the instructor's run.
REASONING = {"test_answer_trainable_after_freeze_hidden", "test_answer_vgg_features_hidden",
             "test_answer_same_stride2_hidden", "test_answer_trainable_after_unfreeze_hidden",
             "test_answer_reuse_trainable_weights_hidden"}
HAND_GRADED = {"answer_transfer_vs_scratch": 1.0}
HYGIENE = {"test_input_checks_hidden"}


@pytest.fixture(scope="module")
def assignment():
    return load_assignment("ps4_transfer", source_dir=ROOT / "solutions")


def test_point_shares(assignment):
    """>= 20% of the points on graded reasoning, <= 10% on error messages and input checks;
    hidden tests send no code of their own to the sandbox."""
    points = {t.grade_id: t.points for t in assignment.tests}
    assert {m.grade_id: m.points for m in assignment.manual} == HAND_GRADED
    total = sum(points.values()) + assignment.manual_max
    assert (sum(points[g] for g in REASONING) + assignment.manual_max) / total >= 0.2
    assert sum(points[g] for g in HYGIENE) / total <= 0.1
    for t in assignment.tests:
        if t.visibility == "hidden":
            assert "run_student" not in t.source, t.grade_id
        if t.grade_id not in HYGIENE:
            assert "assert_raises" not in t.source and "input_errors" not in t.source, t.grade_id
    assert set(assignment.probes) == {"transfer_model", "transfer_fit", "mixed_precision_output", "unfreeze",
                                      "reuse", "input_errors"}


def mutate(tmp_path: Path, edits: dict) -> Path:
    nb = copy.deepcopy(nbformat.read(str(SOURCE), as_version=4))
    for cell_id, (old, new) in edits.items():
        cell = next(c for c in nb.cells if c.get("id") == cell_id)
        assert old in cell.source, f"mutant text {old!r} not found in cell {cell_id}"
        cell.source = cell.source.replace(old, new)
    path = tmp_path / "ps4_transfer.ipynb"
    nbformat.write(nb, str(path))
    return path


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps4_reference")
def test_reference_scores_full_marks(assignment):
    assert assignment.max_score == 26 and assignment.manual_max == 1     # 25 autograded + 1 by hand
    hidden = {t.grade_id for t in assignment.tests if t.visibility == "hidden"}
    assert hidden == {"test_prepare_images_hidden", "test_build_transfer_model_hidden",
                      "test_build_transfer_model_fit", "test_build_transfer_model_mixed_precision",
                      "test_unfreeze_top_hidden", "test_reuse_model_hidden", "test_input_checks_hidden"} | REASONING
    r = grade_notebook(assignment, SOURCE, "reference")
    bad = {t.name: (t.status, t.message) for t in r.tests if t.status != "passed"}
    assert r.status == "graded" and not bad, bad
    assert sum(t.points for t in r.tests) == 25
    assert "NameError" not in r.message, r.message


@needs_sandbox
@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(f"ps4_mut_{i}"))
                                  for i, n in enumerate(SUBMISSIONS)])
def test_mutants_lose_points(name, assignment, tmp_path):
    r = grade_notebook(assignment, mutate(tmp_path, SUBMISSIONS[name]), name)
    status = {t.name: t for t in r.tests}
    must_fail = set().union(*MUST_FAIL.values()) | EXTRA_FAIL[name]
    for gid in must_fail:
        assert status[gid].status in ("failed", "error"), (name, gid, status[gid].status)
        assert status[gid].points == 0 and status[gid].message, (name, gid)
    for gid, words in MESSAGES[name].items():
        assert words in status[gid].message, (gid, words, status[gid].message)
    # the mixed-precision test checks only the output dtype: it still passes
    assert status["test_build_transfer_model_mixed_precision"].status == "passed"
    assert r.score <= r.max_score - sum(status[g].max_points for g in must_fail)


def test_source_notebook_is_clean():
    """No outputs in the committed notebook (tests/grading/test_builders.py checks it is what the
    builder writes)."""
    committed = nbformat.read(str(SOURCE), as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in committed.cells if c.cell_type == "code")
    setup = next(c for c in committed.cells if c.get("id") == "setup").source
    assert "solutions" not in setup and "import keras" in setup and "autograder.tools" in setup
    assert "tf." not in "\n".join(c.source for c in committed.cells if c.cell_type == "code")


def test_hidden_code_not_released():
    if not RELEASED.is_file():
        pytest.fail("exercises/ps4_transfer is missing: the release is committed; run `cnn-course release ps4_transfer` and commit it")
    text = RELEASED.read_text()
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN", "top8 = sum(_convs[-6:])", "numpy_forward", "cross_entropy(",
                   "base.trainable = False\n", "first = len(base.layers) - n_layers",
                   "answer_trainable_after_freeze = 4", 'answer_transfer_vs_scratch = "A"'):
        assert secret not in text, secret
    nb = nbformat.read(str(RELEASED), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for gid in ("test_unfreeze_top_hidden", "test_reuse_model_hidden", "test_build_transfer_model_fit",
                "test_input_checks_hidden"):
        assert cells[gid].source.strip() == "", gid
    assert "raise NotImplementedError" in cells["reuse_model"].source


# Models whose fit reports a loss that falls at every epoch but never trains. The old hidden
# tests believed model.fit's history: this scored 21 of 21. Now the grader computes the
# losses from the weights, and the two tests that fit (3 of 26 points) are lost.
FAKE_FIT = '''
class _FakeHistory:
    def __init__(self, epochs):
        self.history = {"loss": [1.0 / (e + 1) for e in range(epochs)],
                        "accuracy": [0.5 + 0.5 * e / max(epochs, 1) for e in range(epochs)]}


def _fake_fit(*args, epochs=1, **kwargs):
    """Reports a falling loss; trains nothing."""
    return _FakeHistory(epochs)


'''
PATCH = '    object.__setattr__(model, "fit", _fake_fit)\n    return model\n'


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps4_mut_0")
def test_invented_fit_reports_earn_nothing(assignment, tmp_path):
    nb = copy.deepcopy(nbformat.read(str(SOURCE), as_version=4))
    for cell in nb.cells:
        if cell.get("id") in ("build_transfer_model", "reuse_model"):
            head, sep, tail = cell.source.rpartition("    return model\n")
            assert sep, cell.get("id")
            cell.source = (FAKE_FIT if cell.get("id") == "build_transfer_model" else "") + head + PATCH + tail
    path = tmp_path / "ps4_transfer.ipynb"
    nbformat.write(nb, str(path))
    r = grade_notebook(assignment, path, "fake-fit")
    status = {t.name: t for t in r.tests}
    lost = {"test_build_transfer_model_fit", "test_reuse_model_hidden"}
    for gid in lost:
        assert status[gid].status == "failed" and "the grader computed" in status[gid].message, \
            (gid, status[gid].status, status[gid].message)
    assert {g for g, t in status.items() if t.status != "passed"} == lost
    assert r.score == r.max_score - sum(status[g].max_points for g in lost)
