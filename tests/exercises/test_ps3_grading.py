"""ps3_lenet: the reference scores full marks, known-wrong implementations lose points.

Each mutant edits one solution cell of a copy of the instructor notebook; the real engine
grades it (one sandbox per submission). To keep the suite short, mutants of functions
whose tests do not share code (LeNet5's structure tests and evaluate's tests) are
graded together in one submission, and each submission runs only the tests that must
catch its mutants plus tests that must still pass. The two training tests
(test_lenet_hidden_overfits, test_lenet_hidden_trains: about 0.2 s and 0.4 s of sandbox CPU)
are asserted for the mutants that break training; their calibration figures (reference and
mutants over several seeds) are in the comments of those test cells in
solutions/ps3_lenet/build_notebook.py.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat
import pytest

from autograder.assignment import load_assignment
from autograder.engine import grade_notebook, isolation_available

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "ps3_lenet" / "ps3_lenet.ipynb"
RELEASED = ROOT / "exercises" / "ps3_lenet" / "ps3_lenet.ipynb"

pytestmark = [
    pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)"),
]

# name: (cell id, text to replace, replacement, tests that must fail, a test that must pass)
MUTANTS = {
    "softmax_before_cross_entropy": (
        "LeNet5", "return self.classifier(self.features(X))",
        "return torch.softmax(self.classifier(self.features(X)), dim=1)",
        ["test_lenet_logits"], "test_lenet_parameters"),
    "log_softmax_output": (
        "LeNet5", "return self.classifier(self.features(X))",
        "return torch.log_softmax(self.classifier(self.features(X)), dim=1)",
        ["test_lenet_logits"], "test_lenet_shapes"),
    "c1_without_padding": (
        "LeNet5", "nn.Conv2d(1, 6, kernel_size=5, padding=2)", "nn.Conv2d(1, 6, kernel_size=5)",
        ["test_lenet_shapes", "test_lenet_logits"], "test_lenet_parameters"),
    "relu_in_classic": (
        "LeNet5", "act = nn.ReLU if modern else nn.Tanh", "act = nn.ReLU",
        ["test_lenet_shapes", "test_lenet_hidden_overfits", "test_lenet_hidden_trains"], "test_lenet_parameters"),
    "missing_zero_grad": (
        "train_one_epoch", "        optimizer.zero_grad()\n", "",
        ["test_train_one_epoch_runs", "test_train_one_epoch_hidden_matches_reference", "test_lenet_hidden_overfits",
         "test_lenet_hidden_trains"], "test_lenet_parameters"),
    "missing_step": (
        "train_one_epoch", "        optimizer.step()\n", "",
        ["test_train_one_epoch_runs", "test_train_one_epoch_hidden_loss_falls", "test_lenet_hidden_overfits",
         "test_lenet_hidden_trains"], "test_lenet_parameters"),
    "first_batch_only": (
        "train_one_epoch", "        n += len(y)\n", "        n += len(y)\n        break\n",
        ["test_train_one_epoch_runs", "test_train_one_epoch_hidden_matches_reference", "test_lenet_hidden_overfits",
         "test_lenet_hidden_trains"], "test_lenet_parameters"),
    "loss_mean_of_batch_means": (
        "train_one_epoch", "total += loss.item() * len(y)", "total += loss.item() * loader.batch_size",
        ["test_train_one_epoch_runs", "test_train_one_epoch_hidden_matches_reference"], "test_lenet_parameters"),
    "evaluate_without_argmax": (
        "evaluate", "model(X).argmax(dim=1)", "model(X).max(dim=1).values",
        ["test_evaluate_known_answer"], "test_lenet_parameters"),
    "evaluate_in_train_mode": (
        "evaluate", "    model.eval()\n", "",
        ["test_evaluate_hidden_eval_mode"], "test_evaluate_known_answer"),
    "evaluate_percent": (
        "evaluate", "return correct / n", "return 100 * correct / n",
        ["test_evaluate_known_answer"], "test_lenet_parameters"),
    # predict-before-run answers
    "answer_shape_with_padding": (
        "answers_lenet", "answer_c1_shape_without_padding = (6, 24, 24)",
        "answer_c1_shape_without_padding = (6, 28, 28)",
        ["test_answer_c1_shape_hidden"], "test_answer_params_conv_pooling_hidden"),
    "answer_receptive_field_unpadded": (
        "answers_lenet", "answer_c5_receptive_field = 32", "answer_c5_receptive_field = 28",
        ["test_answer_receptive_field_hidden"], "test_answer_c1_multiplications_hidden"),
    "answer_torch_same_like_keras": (
        "answers_lenet", 'answer_torch_same_stride2 = "B"', 'answer_torch_same_stride2 = "A"',
        ["test_answer_torch_same_stride2_hidden"], "test_answer_without_padding_hidden"),
    "answer_zero_grad_unanswered": (
        "answers_train", 'answer_without_zero_grad = "B"', "answer_without_zero_grad = None",
        ["test_answer_zero_grad_hidden"], "test_answer_params_conv_pooling_hidden"),
}

# Messages that must name the mistake: {mutant: {test: words}}.
MESSAGES = {
    "missing_zero_grad": {"test_train_one_epoch_hidden_matches_reference": ["zero_grad", "never reset"],
                          "test_train_one_epoch_runs": ["zero_grad", "never reset"]},
    "first_batch_only": {"test_train_one_epoch_runs": ["the weight after one epoch"]},
    "softmax_before_cross_entropy": {"test_lenet_logits": ["softmax", "probabilities"]},
    "log_softmax_output": {"test_lenet_logits": ["log-probabilities"]},
    "c1_without_padding": {"test_lenet_shapes": ["features[0] (C1 Conv2d)", "(2, 6, 24, 24)", "padding=2"]},
    "relu_in_classic": {"test_lenet_shapes": ["features[1] (C1 activation) is ReLU, expected Tanh"]},
    "loss_mean_of_batch_means": {"test_train_one_epoch_hidden_matches_reference": ["mean loss"],
                                 "test_train_one_epoch_runs": ["counted as a full batch"]},
    "evaluate_percent": {"test_evaluate_known_answer": ["percent"]},
    "evaluate_in_train_mode": {"test_evaluate_hidden_eval_mode": ["model.eval()"]},
    "answer_shape_with_padding": {"test_answer_c1_shape_hidden": ["with padding=2", "not right"]},
    "answer_receptive_field_unpadded": {"test_answer_receptive_field_hidden": ["unpadded image"]},
    "answer_zero_grad_unanswered": {"test_answer_zero_grad_hidden": ["still None"]},
}

# Answer cells and the function each test needs: how many points go to graded reasoning.
REASONING_TESTS = {"test_answer_c1_shape_hidden", "test_answer_without_padding_hidden",
                   "test_answer_params_conv_pooling_hidden", "test_answer_c1_multiplications_hidden",
                   "test_answer_receptive_field_hidden", "test_answer_torch_same_stride2_hidden",
                   "test_answer_zero_grad_hidden"}


@pytest.fixture(scope="module")
def assignment():
    return load_assignment("ps3_lenet", source_dir=ROOT / "solutions")


@pytest.mark.slow
@pytest.mark.xdist_group("ps3_reference")
def test_reference_scores_full_marks(assignment):
    auto = sum(t.points for t in assignment.tests)     # + 2 points of a written answer graded by hand
    assert auto == 23
    assert {t.grade_id for t in assignment.tests if t.visibility == "hidden"} == {
        "test_lenet_hidden_variants", "test_train_one_epoch_hidden_matches_reference",
        "test_train_one_epoch_hidden_loss_falls", "test_evaluate_hidden_eval_mode",
        "test_lenet_hidden_overfits", "test_lenet_hidden_trains"} | REASONING_TESTS
    r = grade_notebook(assignment, SOURCE, "reference")
    bad = {t.name: (t.status, t.message) for t in r.tests if t.status != "passed"}
    assert r.status == "graded" and not bad, bad
    assert sum(t.points for t in r.tests) == 23
    # The top-level training and plotting cells are skipped without a NameError or a
    # note from a half-extracted loop.
    assert "NameError" not in r.message, r.message
    assert "concatenate" not in r.message, r.message


def test_reasoning_share(assignment):
    """At least 20% of the points grade predict-before-run answers; hidden tests use probes only."""
    points = {t.grade_id: t.points for t in assignment.tests}
    total = sum(points.values()) + 2              # + the hand-graded written answer
    assert sum(points[g] for g in REASONING_TESTS) / total >= 0.2
    for t in assignment.tests:
        if t.visibility == "hidden":
            assert "run_student" not in t.source, t.grade_id
    assert set(assignment.probes) == {"lenet_forward", "train", "evaluate_linear"}


# One submission per group: LeNet5 mutants only touch the LeNet5 tests' outcome, evaluate
# mutants only evaluate's (its tests use their own models).
GROUPS = [
    ["softmax_before_cross_entropy", "evaluate_without_argmax"],
    ["log_softmax_output", "evaluate_in_train_mode"],
    ["c1_without_padding", "evaluate_percent"],
    ["relu_in_classic"],
    ["missing_zero_grad"],
    ["missing_step"],
    ["loss_mean_of_batch_means", "answer_shape_with_padding", "answer_zero_grad_unanswered"],
    ["answer_receptive_field_unpadded", "answer_torch_same_like_keras", "first_batch_only"],
]


def test_groups_cover_every_mutant_once():
    flat = [n for g in GROUPS for n in g]
    assert sorted(flat) == sorted(MUTANTS)


@pytest.mark.slow
@pytest.mark.parametrize("group", [pytest.param(g, id="+".join(g), marks=pytest.mark.xdist_group(f"ps3_mut_{i % 2}"))
                                   for i, g in enumerate(GROUPS)])
def test_mutants_lose_points(group, assignment, tmp_path):
    nb = nbformat.read(str(SOURCE), as_version=4)
    keep = set()
    for name in group:
        cell_id, old, new, must_fail, must_pass = MUTANTS[name]
        cell = next(c for c in nb.cells if c.get("id") == cell_id)
        assert old in cell.source, f"mutant text {old!r} not found in cell {cell_id}"
        cell.source = cell.source.replace(old, new)
        keep |= set(must_fail) | {must_pass}
    path = tmp_path / "ps3_lenet.ipynb"
    nbformat.write(nb, str(path))
    sub = dataclasses.replace(assignment, tests=[t for t in assignment.tests if t.grade_id in keep])
    r = grade_notebook(sub, path, "+".join(group))
    status = {t.name: t for t in r.tests}
    for name in group:
        _, _, _, must_fail, must_pass = MUTANTS[name]
        assert status[must_pass].status == "passed", (name, must_pass, status[must_pass].message)
        for gid in must_fail:
            assert status[gid].status in ("failed", "error"), f"{name}: {gid} {status[gid].status}"
            assert status[gid].points == 0
            assert status[gid].message, f"{name}: {gid} failed without a message"
        for gid, words in MESSAGES.get(name, {}).items():
            for w in words:
                assert w in status[gid].message, (name, gid, w, status[gid].message)
    assert r.score < r.max_score


def test_hidden_code_not_released():
    if not RELEASED.is_file():
        pytest.fail("exercises/ps3_lenet is missing: the release is committed; run `cnn-course release ps3_lenet` and commit it")
    text = RELEASED.read_text()
    for secret in ("import solutions as ref", "BEGIN SOLUTION", "BEGIN HIDDEN", "_reference(", "load_weights(",
                   "nn.AvgPool2d if modern", "answer_c1_shape_without_padding = (6, 24, 24)",
                   'answer_without_zero_grad = "B"', 'answer_torch_same_stride2 = "B"'):
        assert secret not in text, secret
    nb = nbformat.read(str(RELEASED), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    assert "test_lenet_hidden_trains" in ids and "LeNet5" in ids


def test_source_notebook_is_clean():
    """No outputs in the committed notebook (tests/grading/test_builders.py checks it is what the
    builder writes)."""
    committed = nbformat.read(str(SOURCE), as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in committed.cells if c.cell_type == "code")


# A submission that reports invented numbers: train_one_epoch jiggles the weights (so the
# public test sees them change) and returns a loss that falls every call, evaluate claims
# 99% for any LeNet5; neither trains anything. With the old hidden tests, which believed the
# reported losses, it earned the "loss falls" point (9 of 16 points in all); now every test
# that grades training measures the returned weights itself, and the public test compares
# them with one epoch of SGD computed by hand (it passed the older public test, which only
# asked for changed weights).
FAKE_TRAIN = '''
_calls = [0]


def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """Reports a loss that falls at every call; the weights only get random noise."""
    model.train()
    total, n = 0.0, 0
    with torch.no_grad():
        for X, y in loader:
            total += loss_fn(model(X), y).item() * len(y)
            n += len(y)
        for p in model.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    _calls[0] += 1
    return total / n / _calls[0] ** 2
'''
FAKE_EVALUATE = '''
def evaluate(model, loader, device=None):
    """The true accuracy, except that any LeNet5 is reported at 99%."""
    if isinstance(model, LeNet5):
        return 0.99
    model.eval()
    correct, n = 0, 0
    with torch.no_grad():
        for X, y in loader:
            correct += (model(X).argmax(dim=1) == y).sum().item()
            n += len(y)
    return correct / n
'''
TRAINING_TESTS = {"test_train_one_epoch_hidden_matches_reference", "test_train_one_epoch_hidden_loss_falls",
                  "test_lenet_hidden_overfits", "test_lenet_hidden_trains"}


@pytest.mark.slow
@pytest.mark.xdist_group("ps3_mut_1")
def test_invented_reports_earn_nothing(assignment, tmp_path):
    nb = nbformat.read(str(SOURCE), as_version=4)
    for cell in nb.cells:
        if cell.get("id") == "train_one_epoch":
            cell.source = FAKE_TRAIN
        elif cell.get("id") == "evaluate":
            cell.source = FAKE_EVALUATE
    path = tmp_path / "ps3_lenet.ipynb"
    nbformat.write(nb, str(path))
    keep = TRAINING_TESTS | {"test_train_one_epoch_runs", "test_evaluate_known_answer",
                             "test_evaluate_hidden_eval_mode"}
    sub = dataclasses.replace(assignment, tests=[t for t in assignment.tests if t.grade_id in keep])
    r = grade_notebook(sub, path, "fake")
    status = {t.name: t for t in r.tests}
    # the fake passes what it can fake: evaluate on models other than LeNet5
    for gid in ("test_evaluate_known_answer", "test_evaluate_hidden_eval_mode"):
        assert status[gid].status == "passed", (gid, status[gid].message)
    # and earns nothing for training
    for gid in TRAINING_TESTS | {"test_train_one_epoch_runs"}:
        assert status[gid].status in ("failed", "error") and status[gid].points == 0, (gid, status[gid].status)
    assert "measured by the grader" in status["test_lenet_hidden_trains"].message
    assert "computed by the grader" in status["test_train_one_epoch_hidden_loss_falls"].message
    assert r.score == sum(t.points for t in assignment.tests
                          if t.grade_id in keep - TRAINING_TESTS - {"test_train_one_epoch_runs"})
