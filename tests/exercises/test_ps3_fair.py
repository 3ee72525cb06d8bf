"""ps3_lenet, issue 18 (fair grades): training is graded by what the student's loop does to
weights the grader chose, sandbox values are checked before reference code uses them, and
hidden tests never print the reference's answers.

The corpus (tests/corpus/fair_corpus_ps3.py) holds the submissions: weights trained beforehand
and embedded in the notebook, weights of a LeNet5's own, a LeNet5 that hides a wrong variant
behind NaN weights. Each of them earned points on the code before the fix (e66c680: the
pretrained trick 21 of 23 against 14 for a blank train_one_epoch; the NaN LeNet5 full marks).
"""
from __future__ import annotations

import dataclasses
import re

import nbformat
import numpy as np
import pytest
import torch

from autograder.assignment import load_assignment
from autograder.engine import grade_notebook, isolation_available
from solutions import lenet
from tests.corpus import fair_corpus_ps3 as C

needs_sandbox = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")


def _state(seed: int) -> dict:
    torch.manual_seed(seed)
    return {k: v.numpy().copy() for k, v in lenet.LeNet5().state_dict().items()}


# ------------------------------------------------------------------ reference-side checks
def test_checked_state_rejects_what_a_sandbox_could_send():
    good = _state(0)
    assert set(lenet.checked_state(good)) == set(good)
    assert lenet.checked_state({k: v.astype(np.float64) for k, v in good.items()})["features.0.weight"].dtype \
        == np.float32
    with pytest.raises(AssertionError, match=r"the weights of layer C3 Conv2d \(features.3.weight\) of your "
                                             r"LeNet5 contain NaN"):
        lenet.checked_state(dict(good, **{"features.3.weight": np.full((16, 6, 5, 5), np.nan, np.float32)}))
    with pytest.raises(AssertionError, match=r"F6 Linear \(classifier.1.bias\).*contain infinite values"):
        lenet.checked_state(dict(good, **{"classifier.1.bias": np.full(84, np.inf, np.float32)}))
    with pytest.raises(AssertionError, match="should be an array of floats, got an array of dtype int64"):
        lenet.checked_state(dict(good, **{"features.0.bias": np.zeros(6, np.int64)}))
    with pytest.raises(AssertionError, match="should be an array of floats, got a str"):
        lenet.checked_state(dict(good, **{"features.0.bias": "0.0"}))
    with pytest.raises(AssertionError, match=r"has shape \(84,\), expected \(10,\)"):
        lenet.checked_state(dict(good, **{"classifier.3.bias": np.zeros(84, np.float32)}))
    many = dict(good, **{f"extra.{i}": np.zeros(1, np.float32) for i in range(50)})
    with pytest.raises(AssertionError, match=r"unexpected \['extra.0', .*, \.\.\.\]") as err:
        lenet.checked_state(many)
    assert len(str(err.value)) < 700
    with pytest.raises(AssertionError, match="should be a dict"):
        lenet.checked_state([1, 2])
    # load_weights checks the same way
    with pytest.raises(AssertionError, match="contain NaN"):
        lenet.load_weights(dict(good, **{"features.0.weight": np.full((6, 1, 5, 5), np.nan, np.float32)}))


def test_train_reference_is_the_reference_loop_and_is_cached():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 20).astype(np.int64)
    s0 = _state(1)
    after, losses, batches = lenet.train_reference(s0, X, y, optimizer="sgd", lr=0.1, batch_size=8)
    # the same with the library's train_one_epoch, by hand
    net = lenet.load_weights(s0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                                         batch_size=8)
    want_loss = lenet.train_one_epoch(net, loader, opt, torch.nn.CrossEntropyLoss(), "cpu", show_progress=False)
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(after[k], v.numpy(), rtol=1e-6, atol=1e-7)
    assert losses[0] == pytest.approx(want_loss, rel=1e-6) and len(batches) == 3
    # cached: same values, fresh copies (a caller cannot change the cache)
    after["features.0.weight"][:] = 0
    again, _, _ = lenet.train_reference(s0, X, y, optimizer="sgd", lr=0.1, batch_size=8)
    np.testing.assert_array_equal(again["features.0.bias"], after["features.0.bias"])
    assert np.abs(again["features.0.weight"]).sum() > 0
    # another start, another result
    other, _, _ = lenet.train_reference(_state(2), X, y, optimizer="sgd", lr=0.1, batch_size=8)
    assert not np.allclose(other["features.0.weight"], again["features.0.weight"])
    # without zero_grad: another result too
    acc, _, _ = lenet.train_reference(s0, X, y, optimizer="sgd", lr=0.1, batch_size=8, zero_grad=False)
    assert not np.allclose(acc["classifier.3.weight"], again["classifier.3.weight"])


def test_assert_trained_like_tells_rounding_from_another_start():
    """Rounding (the same loop, logits scaled by 1 + 1e-7) stays far below 1%; another start,
    another batch order or untouched weights are far above it."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64).astype(np.int64)
    s0 = _state(3)
    want, _, _ = lenet.train_reference(s0, X, y, optimizer="adam", lr=2e-3, batch_size=16, epochs=2)
    net = lenet.load_weights(s0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(2):
        for i in range(0, 64, 16):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(X[i:i + 16])) * (1 + 1e-7),
                                                     torch.from_numpy(y[i:i + 16]))
            loss.backward()
            opt.step()
    rounded = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    lenet.assert_trained_like(rounded, s0, want, what="w", hint="h")
    with pytest.raises(AssertionError, match="did not change at all"):
        lenet.assert_trained_like(s0, s0, want, what="w", hint="h")
    other, _, _ = lenet.train_reference(_state(4), X, y, optimizer="adam", lr=2e-3, batch_size=16, epochs=2)
    with pytest.raises(AssertionError, match=r"w: the weights differ .* off by \d+ times the reference's change"):
        lenet.assert_trained_like(other, s0, want, what="w", hint="h")
    shuffled, _, _ = lenet.train_reference(s0, X, y, optimizer="adam", lr=2e-3, batch_size=16, epochs=2, shuffle=True)
    with pytest.raises(AssertionError, match="the weights differ"):
        lenet.assert_trained_like(shuffled, s0, want, what="w", hint="h")


# ------------------------------------------------------------------------ the corpus
@pytest.fixture(scope="module")
def assignment():
    return load_assignment("ps3_lenet", source_dir=C.ROOT / "solutions")


def _grade(assignment, name, tmp_path, tests=None):
    path = C.materialize(name, tmp_path)
    sub = assignment if tests is None else dataclasses.replace(
        assignment, tests=[t for t in assignment.tests if t.grade_id in set(tests)])
    r = grade_notebook(sub, path, name)
    assert r.status == "graded", (r.status, r.message)
    return r, {t.name: t for t in r.tests}


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps3_fair")
def test_pretrained_weights_score_no_more_than_a_blank_loop(assignment, tmp_path):
    """Weights trained beforehand, loaded by train_one_epoch: not a point more than no loop."""
    blank, _ = _grade(assignment, "blank_train", tmp_path)
    trick, status = _grade(assignment, "pretrained_always", tmp_path)
    assert trick.score <= blank.score, (trick.score, blank.score)
    for gid in C.EXPECTED["pretrained_always"]:
        assert status[gid].status in ("failed", "error") and status[gid].points == 0, (gid, status[gid].message)
    others = {g: t for g, t in status.items() if g not in C.EXPECTED["pretrained_always"]}
    assert all(t.status == "passed" for t in others.values()), {g: t.message for g, t in others.items()
                                                                if t.status != "passed"}
    # the weights are accepted, and what the loop did to them is what fails
    for gid in ("test_train_one_epoch_hidden_loss_falls", "test_lenet_hidden_trains"):
        assert "from the same starting weights" in status[gid].message, status[gid].message


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps3_fair")
def test_a_correct_loop_written_another_way_earns_everything(assignment, tmp_path):
    tests = set(C.TRAINING_TESTS) | {"test_train_one_epoch_runs"}
    r, status = _grade(assignment, "honest_variant", tmp_path, tests)
    assert r.score == r.max_score, {g: t.message for g, t in status.items() if t.status != "passed"}


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps3_fair")
@pytest.mark.parametrize("name", ["pretrained_unless_sgd", "pretrained_then_trains", "own_init_then_trains"])
def test_weights_not_trained_from_the_given_start_earn_nothing(assignment, tmp_path, name):
    must_fail = C.EXPECTED[name]
    tests = set(must_fail) | {"test_train_one_epoch_runs"}
    _, status = _grade(assignment, name, tmp_path, tests)
    for gid in must_fail:
        assert status[gid].status == "failed" and status[gid].points == 0, (gid, status[gid].status)
        assert re.search(r"from the same starting weights|label \d+\.\d% of them", status[gid].message), \
            status[gid].message
    # an honest loop for the model it was given otherwise: the public test passes
    assert status["test_train_one_epoch_runs"].status == "passed", status["test_train_one_epoch_runs"].message


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps3_fair")
def test_nan_weights_lose_the_variants_point(assignment, tmp_path):
    tests = {"test_lenet_hidden_variants", "test_lenet_parameters", "test_lenet_shapes", "test_lenet_logits"}
    r, status = _grade(assignment, "nan_variants", tmp_path, tests)
    v = status["test_lenet_hidden_variants"]
    assert v.status == "failed" and v.points == 0
    assert "the weights of layer C1 Conv2d (features.0.weight) of LeNet5(num_classes=7, modern=True) contain NaN" \
        in v.message, v.message
    assert r.score == r.max_score - v.max_points          # everything else passes


# --------------------------------------------------- hidden answers: what is wrong, not the answer
WRONG_ANSWERS = {
    "answers_lenet": '''
answer_c1_shape_without_padding = (6, 28, 28)
answer_without_padding_outcome = "A"
answer_params_conv_pooling = 61706
answer_c1_multiplications = 150
answer_c5_receptive_field = 28
answer_torch_same_stride2 = "A"
''',
    "answers_train": 'answer_without_zero_grad = "A"\n',
}
# test -> texts of the reference answer that its message must not contain
ANSWER_TEXTS = {
    "test_answer_c1_shape_hidden": ["24"],
    "test_answer_without_padding_hidden": ["'C'", '"C"', "expected"],
    "test_answer_params_conv_pooling_hidden": ["62896", "62,896", "expected"],
    "test_answer_c1_multiplications_hidden": ["117600", "117,600", "expected"],
    "test_answer_receptive_field_hidden": ["32", "expected"],
    "test_answer_torch_same_stride2_hidden": ["'B'", '"B"', "expected", "(1, 2)"],
    "test_answer_zero_grad_hidden": ["'B'", '"B"', "expected", "sum"],
}


@needs_sandbox
@pytest.mark.slow
@pytest.mark.xdist_group("ps3_fair")
def test_hidden_answer_messages_teach_without_the_answer(assignment, tmp_path):
    from autograder.samples import correct_notebook

    nb = correct_notebook(nbformat.read(str(C.SOURCE), as_version=4))
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in WRONG_ANSWERS:
            cell.source = WRONG_ANSWERS[gid]
    path = tmp_path / "ps3_lenet.ipynb"
    nbformat.write(nb, str(path))
    sub = dataclasses.replace(assignment, tests=[t for t in assignment.tests if t.grade_id in ANSWER_TEXTS])
    r = grade_notebook(sub, path, "wrong answers")
    status = {t.name: t for t in r.tests}
    assert set(status) == set(ANSWER_TEXTS)
    for gid, secrets in ANSWER_TEXTS.items():
        msg = status[gid].message
        assert status[gid].status == "failed" and "is not right" in msg and "Hint:" in msg, (gid, msg)
        for secret in secrets:
            assert secret not in msg, (gid, secret, msg)
    # the known mistakes are named
    assert "with padding=2" in status["test_answer_c1_shape_hidden"].message
    assert "LeNet-5's own count" in status["test_answer_params_conv_pooling_hidden"].message
    assert "the number of C1's weights" in status["test_answer_c1_multiplications_hidden"].message
    assert "unpadded image" in status["test_answer_receptive_field_hidden"].message
