"""ps5's capstone rewards training with the student's own gradients, nothing else (issue 18).

The gradient-free submissions of tests/corpus/fair_corpus_ps5.py (random filters and an
``np.linalg.solve`` read-out with every backward function blank; zeroed convolution
gradients; blank backward functions with SGD on the dense layer only) each earned the 6
points of the capstone at the start of issue 18; they must earn none now, in-process and
through the grading engine, while the reference keeps them. The pass mark sits between the
reference's accuracy and the frozen-convolution control's, measured here on the graded
split.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))
sys.path.insert(0, str(HERE / "corpus"))
from ps5.harness import H  # noqa: E402
import fair_corpus_ps5 as corpus  # noqa: E402

pytestmark = pytest.mark.xdist_group("ps5_fair_capstone")
CAPSTONE = "test_sgd_epoch_capstone"


def _only_capstone(nb):
    nb.cells = [c for c in nb.cells if not H.is_test(c) or H.nbgrader(c)["grade_id"] == CAPSTONE]
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(corpus.CASES_NOW))
def test_gradient_free_capstone_scores_zero_in_process(case):
    run = H.run_notebook(_only_capstone(corpus.notebook(corpus.CASES_NOW[case], H.ROOT)))
    result = run.results[CAPSTONE]
    assert not result.passed, f"{case} passes the capstone"
    assert "epoch 1 of 10 did not do what correct gradients do" in result.error, result.error


@pytest.mark.slow
def test_gradient_free_capstone_scores_zero_through_the_engine(tmp_path):
    results = corpus.grade_cases(corpus.CASES_NOW, H.ROOT, tmp_path, CAPSTONE)
    for case, (points, max_points, status, message) in results.items():
        assert max_points == 6 and points == 0 and status == "failed", (case, points, status, message)
        assert "epoch 1 of 10" in message, (case, message)
        assert "expected" not in message, (case, message)      # a hidden test: no reference values


@pytest.mark.slow
def test_pass_mark_needs_learned_convolutions():
    """Reference >= pass mark + 2 points; the same schedule with frozen random filters, and
    logistic regression (the same SGD) on the raw pixels, stay below it by 5 points or more."""
    import solutions.backprop as ref

    xtr, ytr, xte, yte = ref.load_digits_split(5011)
    mark = ref.DIGITS_PASS_ACCURACY
    learned = ref.digits_cnn_accuracy(ref.train_digits_cnn(xtr, ytr, seed=0), xte, yte)
    frozen = ref.digits_cnn_accuracy(ref.train_digits_cnn(xtr, ytr, seed=0, frozen_conv=True), xte, yte)
    # multinomial logistic regression on the raw pixels, 30 epochs of the same SGD
    flat_tr, flat_te = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    w, b = np.zeros((flat_tr.shape[1], 10)), np.zeros(10)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    orders, rates = ref.digits_schedule(0, len(ytr), epochs=30, lr=0.05, decay=0.9)
    for order, rate in zip(orders, rates):
        for start in range(0, len(order), 16):
            idx = order[start:start + 16]
            _, d = ref.softmax_cross_entropy(flat_tr[idx] @ w + b, ytr[idx])
            vw, vb = 0.9 * vw - rate * flat_tr[idx].T @ d, 0.9 * vb - rate * d.sum(axis=0)
            w, b = w + vw, b + vb
    linear = float(np.mean((flat_te @ w + b).argmax(axis=1) == yte))
    assert learned >= mark + 0.02, (learned, mark)
    assert frozen <= mark - 0.05 and linear <= mark - 0.05, (frozen, linear, mark)


def test_shift_digits():
    from autograder.tools.data import load_digits_images, shift_digits

    images, _ = load_digits_images()
    shifted = shift_digits(images[:50], canvas=10, seed=4)
    assert shifted.shape == (50, 10, 10) and shifted.dtype == np.float64
    np.testing.assert_array_equal(shifted, shift_digits(images[:50], canvas=10, seed=4))
    assert not np.array_equal(shifted, shift_digits(images[:50], canvas=10, seed=5))
    offsets = np.random.default_rng(4).integers(0, 3, size=(50, 2))
    for img, out, (a, b) in zip(images[:50], shifted, offsets):
        np.testing.assert_array_equal(out[a:a + 8, b:b + 8], img / 255.0)
        assert out.sum() == pytest.approx(img.sum() / 255.0)         # nothing else on the canvas
    np.testing.assert_array_equal(shift_digits(images[:3], canvas=8), images[:3] / 255.0)
    for bad in (dict(images=images[:3, :7]), dict(images=images[:3], canvas=7), dict(images=images[:3], canvas=9.5)):
        with pytest.raises(ValueError):
            shift_digits(**bad)
