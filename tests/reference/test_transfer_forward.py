"""solutions.transfer.numpy_forward checks a layer description before computing anything
(issue 18): a probe's answer comes from the student's sandbox, where it may be forged. Four
BatchNormalization vectors that broadcast along new axes once made it build an array of
900 * s**4 numbers (2.5 GB for s = 24) in the grader's own process."""
from __future__ import annotations

import numpy as np
import pytest

from solutions import transfer as T

X = np.random.default_rng(0).normal(size=(3, 10, 10, 3))


def conv(c_in=3, f=6, k=3, **cfg):
    return {"class": "Conv2D", "config": {"activation": "relu", "padding": "valid", "strides": [1, 1], **cfg},
            "weights": [np.full((k, k, c_in, f), 0.1, np.float32), np.zeros(f, np.float32)]}


def dense(d, u, act="relu"):
    return {"class": "Dense", "config": {"activation": act}, "weights": [np.full((d, u), 0.1, np.float32),
                                                                        np.zeros(u, np.float32)]}


def bn(*shapes):
    return {"class": "BatchNormalization", "config": {"epsilon": 1e-3},
            "weights": [np.ones(s, np.float32) for s in shapes]}


GOOD = [{"class": "InputLayer", "weights": []}, conv(), {"class": "GlobalAveragePooling2D", "config": {}},
        dense(6, 16), bn((16,), (16,), (16,), (16,)), dense(16, 7, "softmax")]


def test_a_consistent_description_is_recomputed():
    assert T.check_layer_list(GOOD, X.shape)[-1] == (3, 7)
    p = T.numpy_forward(GOOD, X)
    assert p.shape == (3, 7) and np.allclose(p.sum(axis=1), 1)


S = 24
BROADCASTING = [(S, 1, 1, 1, 1, 1, 1, 1), (1, S, 1, 1, 1, 1, 1, 1), (1, 1, S, 1, 1, 1, 1, 1), (1, 1, 1, S, 1, 1, 1, 1)]


@pytest.mark.parametrize("layers, words", [
    ([GOOD[0], bn(*BROADCASTING)] + GOOD[1:], "layer 1 (BatchNormalization): its weights have shapes"),
    (GOOD[:4] + [bn((16, 1), (16,), (16,), (16,))] + GOOD[5:], "layer 4 (BatchNormalization)"),
    (GOOD[:1] + [conv(c_in=4)] + GOOD[2:], "layer 1 (Conv2D): its weights have shapes [(3, 3, 4, 6), (6,)]"),
    (GOOD[:3] + [dense(5, 16)] + GOOD[4:], "layer 3 (Dense): its weights have shapes"),
    (GOOD[:1] + [dense(3, 4)], "layer 1 (Dense): its input has shape (10, 10, 3)"),
    (GOOD[:1] + [conv(k=11)], "larger than its 10x10 input"),
    (GOOD[:1] + [conv(strides=[2, 2])], "stride-1"),
    (GOOD[:5] + [{**dense(16, 7), "weights": [np.full((16, 7), np.nan, np.float32), np.zeros(7, np.float32)]}],
     "NaN or inf"),
    (GOOD[:5] + [{**dense(16, 7), "weights": [np.ones((16, 7), np.int64), np.zeros(7, np.int64)]}],
     "must be a float numpy array"),
    (GOOD[:5] + [{**dense(16, 7), "weights": [[[0.1] * 7] * 16]}], "must be a float numpy array"),
    (GOOD[:5] + [dense(16, 7, "gelu")], "activation 'gelu' cannot be recomputed"),
    ([{"class": "Dropout"}] * 65, "between 1 and 64 are accepted"),
    (GOOD[:1] + [conv(f=300_000)], "more than 4,000,000 numbers"),
    (GOOD[:1] + [conv(f=30_000)], "its output would hold 5,760,000 numbers; at most 4,000,000"),
    ("not a list", "must be a list"),
    ([["InputLayer"]], "layer 0 is a list"),
])
def test_an_inconsistent_description_is_refused_before_any_computation(layers, words):
    with pytest.raises(ValueError) as info:
        T.numpy_forward(layers, X)
    assert words in str(info.value), str(info.value)


def test_the_broadcasting_batchnorm_is_refused_without_allocating(monkeypatch):
    """The old code computed gamma * (h - mean) / sqrt(var + eps) + beta first: 900 * 24**4
    float64 (2.4 GB). Now nothing is computed: numpy's arithmetic is never reached."""
    import tracemalloc
    tracemalloc.start()
    with pytest.raises(ValueError, match="BatchNormalization"):
        T.numpy_forward([GOOD[0], bn(*BROADCASTING)] + GOOD[1:], X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20, peak


def test_grader_side_helpers_turn_refusals_into_test_failures():
    with pytest.raises(AssertionError, match="the model cannot be recomputed .*BatchNormalization"):
        T.checked_layers([GOOD[0], bn(*BROADCASTING)] + GOOD[1:], X.shape, what="the model")
    with pytest.raises(AssertionError, match=r"reported 4 layers \(InputLayer, BatchNormalization, Conv2D"):
        T.expect_layers([GOOD[0], bn((3,), (3,), (3,), (3,))] + GOOD[1:3],
                        [("InputLayer", []), ("Conv2D", [(3, 3, 3, 6), (6,)]), ("GlobalAveragePooling2D", [])],
                        what="the base the grader built")
    with pytest.raises(AssertionError, match="layer 1 was reported as 'Conv2D' with weights of shapes"):
        T.expect_layers(GOOD[:1] + [conv(f=5)] + GOOD[2:3],
                        [("InputLayer", []), ("Conv2D", [(3, 3, 3, 6), (6,)]), ("GlobalAveragePooling2D", [])],
                        what="the base")
    T.expect_layers(GOOD[:3], [("InputLayer", []), ("Conv2D", [(3, 3, 3, 6), (6,)]), ("GlobalAveragePooling2D", [])],
                    what="the base")
    with pytest.raises(AssertionError, match="must come back as a float array"):
        T.expect_probabilities([[0.5, 0.5]], (1, 2), what="the output")
    with pytest.raises(AssertionError, match="has shape"):
        T.expect_probabilities(np.ones((2, 2)), (1, 2), what="the output")
    with pytest.raises(AssertionError, match="NaN or inf"):
        T.expect_probabilities(np.array([[np.nan, 1.0]]), (1, 2), what="the output")
    with pytest.raises(AssertionError, match="Do not change what the probe reports"):
        T.expect_result(["not", "a", "dict"], ["probs"], what="build_transfer_model")
