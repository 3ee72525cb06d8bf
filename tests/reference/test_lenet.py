"""Reference LeNet-5 (solutions/lenet.py): structure, shapes, training, devices, seeding."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import solutions
from solutions import lenet

torch.set_num_threads(1)


def test_parameter_count_table():
    net = solutions.LeNet5()
    per_layer = [p.numel() for p in net.parameters()]
    # C1 156, C3 2,416, C5 48,120, F6 10,164, output 850 (weights then biases)
    assert per_layer == [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10]
    assert sum(per_layer) == 61706
    assert lenet.count_parameters(solutions.LeNet5(modern=True)) == 61706
    assert lenet.count_parameters(solutions.LeNet5(num_classes=5)) == 61706 - 5 * 85


def test_children_and_layer_types():
    net = solutions.LeNet5()
    assert [n for n, _ in net.named_children()] == ["features", "classifier"]
    assert [type(m).__name__ for m in net.features] == [
        "Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh"]
    assert [type(m).__name__ for m in net.classifier] == ["Flatten", "Linear", "Tanh", "Linear"]
    assert net.features[0].padding == (2, 2)
    modern = solutions.LeNet5(modern=True)
    assert [type(m).__name__ for m in modern.features] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU"]


@pytest.mark.parametrize("modern", [False, True])
def test_stage_shapes_28_14_10_5_1(modern):
    net = solutions.LeNet5(modern=modern)
    out = lenet.stage_outputs(net, torch.zeros(3, 1, 28, 28))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {"C1": (3, 6, 28, 28), "S2": (3, 6, 14, 14), "C3": (3, 16, 10, 10), "S4": (3, 16, 5, 5),
                      "C5": (3, 120, 1, 1), "F6": (3, 84), "logits": (3, 10)}
    assert torch.equal(out["logits"], net(torch.zeros(3, 1, 28, 28)))


def test_output_is_logits_not_probabilities():
    torch.manual_seed(0)
    out = solutions.LeNet5()(torch.randn(16, 1, 28, 28)).detach()
    assert (out < 0).any(), "logits of an untrained net have negative entries"
    assert not torch.allclose(out.sum(dim=1), torch.ones(16), atol=1e-3)
    assert not torch.allclose(torch.logsumexp(out, dim=1), torch.zeros(16), atol=1e-3)


def test_bad_input_shape_is_explained():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\).*\(2, 28, 28\)"):
        solutions.LeNet5()(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="num_classes"):
        solutions.LeNet5(num_classes=0)


def test_preprocess_and_loader():
    X = np.zeros((10, 28, 28), np.uint8)
    X[:, 0, 0] = 255
    y = np.arange(10)
    T = lenet.preprocess(X)
    assert T.shape == (10, 1, 28, 28) and T.dtype == torch.float32
    assert T[0, 0, 0, 0].item() == pytest.approx((1 - lenet.MNIST_MEAN) / lenet.MNIST_STD)
    assert T[0, 0, 1, 1].item() == pytest.approx(-lenet.MNIST_MEAN / lenet.MNIST_STD)
    assert torch.equal(lenet.preprocess(X[:, None]), T)
    assert torch.allclose(lenet.preprocess(X.astype(np.float32) / 255), T)
    batches = list(solutions.make_loader(X, y, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert batches[0][0].shape == (4, 1, 28, 28) and batches[0][1].dtype == torch.int64
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.arange(10))
    # shuffling: a permutation, the same for the same seed, different for another
    order = lambda seed: torch.cat([b[1] for b in solutions.make_loader(X, y, 3, shuffle=True, seed=seed)])
    a, b, c = order(1), order(1), order(2)
    assert sorted(a.tolist()) == list(range(10)) and torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("call, words", [
    (lambda: lenet.preprocess(np.zeros((2, 32, 32), np.uint8)), ["(N, 28, 28)", "(2, 32, 32)"]),
    (lambda: lenet.preprocess(np.full((2, 28, 28), 3.0)), ["[0, 1]"]),
    (lambda: lenet.preprocess([[1]]), ["numpy array"]),
    (lambda: solutions.make_loader(np.zeros((3, 28, 28), np.uint8), [1, 2]), ["same length", "3", "2"]),
    (lambda: solutions.make_loader(np.zeros((3, 28, 28), np.uint8), [1, 2, 3], batch_size=0), ["batch_size"]),
])
def test_bad_arguments_name_the_problem(call, words):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_get_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert solutions.get_device() == torch.device("cpu")
    assert solutions.get_device("cpu") == torch.device("cpu")
    with pytest.warns(UserWarning, match="CUDA"):
        assert solutions.get_device("cuda") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert solutions.get_device() == torch.device("cuda")
    assert solutions.get_device("cuda:1") == torch.device("cuda:1")
    assert solutions.get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer"):
        solutions.get_device("tpu")


def _fixed_batch(n=64, seed=0):
    rng = np.random.default_rng(seed)
    from autograder.tools.data import load_mnist

    (x, y), _ = load_mnist(subset="small", verbose=False)
    idx = rng.choice(len(x), n, replace=False)
    return x[idx], y[idx]


def test_training_lowers_the_loss_on_a_fixed_batch():
    x, y = _fixed_batch(64)
    solutions.seed_everything(0)
    net = solutions.LeNet5()
    loader = solutions.make_loader(x, y, batch_size=64)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    losses = [solutions.train_one_epoch(net, loader, opt, nn.CrossEntropyLoss(), "cpu", show_progress=False)
              for _ in range(20)]
    assert isinstance(losses[0], float)
    assert 1.8 < losses[0] < 2.8          # ~ln(10) before learning
    assert losses[-1] < 0.3 * losses[0]
    assert all(b < a for a, b in zip(losses, losses[1:]))


@pytest.mark.slow
def test_overfits_256_images():
    x, y = _fixed_batch(256, seed=1)
    solutions.seed_everything(0)
    net = solutions.LeNet5()
    loader = solutions.make_loader(x, y, batch_size=32, shuffle=True, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(25):
        solutions.train_one_epoch(net, loader, opt, nn.CrossEntropyLoss(), "cpu", show_progress=False)
        if solutions.evaluate(net, solutions.make_loader(x, y, 256), "cpu") == 1.0:
            break
    assert solutions.evaluate(net, solutions.make_loader(x, y, 256), "cpu") == 1.0
    assert (solutions.predict(net, x, batch_size=100, device="cpu") == y).all()


def test_evaluate_and_predict_use_eval_mode_and_restore_it():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Dropout(0.9))
    x = np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8)
    with torch.no_grad():
        want = net.eval()(lenet.preprocess(x)).argmax(1).numpy()
    net.train()
    pred = solutions.predict(net, x, batch_size=7, device="cpu")
    assert pred.dtype == np.int64 and pred.shape == (50,) and (pred == want).all()
    acc = solutions.evaluate(net, solutions.make_loader(x, want, 16), device="cpu")
    assert acc == 1.0 and net.training
    acc = solutions.evaluate(net, solutions.make_loader(x, (want + 1) % 10, 16), device="cpu")
    assert acc == 0.0


def test_seeded_training_is_deterministic():
    x, y = _fixed_batch(128, seed=2)

    def run():
        solutions.seed_everything(123)
        net = solutions.LeNet5(modern=True)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        loss = solutions.train_one_epoch(net, solutions.make_loader(x, y, 32, shuffle=True, seed=123), opt,
                                         nn.CrossEntropyLoss(), "cpu", show_progress=False)
        return loss, [p.detach().clone() for p in net.parameters()]

    (l1, w1), (l2, w2) = run(), run()
    assert l1 == l2 and all(torch.equal(a, b) for a, b in zip(w1, w2))
    with pytest.raises(ValueError, match="seed"):
        solutions.seed_everything(-1)


def test_train_one_epoch_mean_is_per_sample():
    """Batches of 3, 3 and 1: the returned loss weights each sample equally."""
    x, y = _fixed_batch(7, seed=3)
    solutions.seed_everything(0)
    net = solutions.LeNet5()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)   # no change: losses are those of the start
    got = solutions.train_one_epoch(net, solutions.make_loader(x, y, 3), opt, nn.CrossEntropyLoss(), "cpu",
                                    show_progress=False)
    with torch.no_grad():
        want = nn.CrossEntropyLoss()(net(lenet.preprocess(x)), torch.as_tensor(y)).item()
    assert got == pytest.approx(want, rel=1e-5)


def test_load_weights_round_trip_and_clear_mismatch():
    """load_weights rebuilds a net from plain arrays; a wrong shape names the layer and both shapes."""
    solutions.seed_everything(0)
    net = solutions.LeNet5(modern=True)
    state = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    copy = lenet.load_weights(state, modern=True)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(copy(x), net.eval()(x))
    bad = dict(state, **{"features.3.weight": np.zeros((16, 6, 3, 3), np.float32)})
    with pytest.raises(AssertionError, match=r"C3 Conv2d \(features.3.weight\) of your LeNet5 has shape "
                                             r"\(16, 6, 3, 3\), expected \(16, 6, 5, 5\)"):
        lenet.load_weights(bad)
    with pytest.raises(AssertionError, match="missing.*classifier.3.bias"):
        lenet.load_weights({k: v for k, v in state.items() if k != "classifier.3.bias"})


def test_mean_loss_and_accuracy_are_computed_from_the_weights():
    x, y = _fixed_batch(40, seed=4)
    solutions.seed_everything(1)
    net = solutions.LeNet5()
    with torch.no_grad():
        logits = net.eval()(lenet.preprocess(x))
    want_loss = nn.CrossEntropyLoss()(logits, torch.as_tensor(y)).item()
    assert lenet.mean_loss(net, x, y, batch_size=16) == pytest.approx(want_loss, rel=1e-5)
    assert lenet.accuracy(net, x, y) == pytest.approx(float((logits.argmax(1).numpy() == y).mean()))
