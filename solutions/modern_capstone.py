"""ps6_modern_cnn's capstone: a small residual network on shifted digits (grader side).

The network (:class:`DigitsResNet`): a 3x3 stem convolution (1 -> 16, no bias) + batch norm +
ReLU, one :class:`solutions.modern.BottleneckBlock` (16 -> 8 -> 32, stride 2, so a projection
shortcut), global average pooling and a dense layer 32 -> 10. The digits are scikit-learn's
8x8 digits placed at a random offset (0-4 pixels) on a 12x12 canvas, so a classifier must find
the strokes wherever they are: learned convolutions followed by global average pooling do.

How ps6 grades the training (never trusting a number the student's code reports):

* the grader chooses the initial weights (:func:`init_state`), the visiting orders and the
  learning rates (:func:`schedule`); the probe runs the student's ``train_epoch`` once per
  epoch with ``torch.optim.SGD(momentum=0.9)`` and returns the weights, running statistics and
  momentum buffers after each epoch;
* :func:`check_training` recomputes every epoch with the reference loop from the student's
  state and momentum buffers after the epoch before and compares both (per tensor, at most 1%
  of the epoch's change): the buffers start the next epoch, so unchecked ones would let a
  submission choose them (a ``train_epoch`` that makes its own optimizer reports none, and its
  momentum, reset each epoch, would be recomputed as the reference's);
* :func:`accuracy` measures the final weights, in eval mode, on digits the sandbox never sees;
  the pass mark :data:`PASS_ACCURACY` lies between what learned convolutions reach and what the
  same schedule gives with the convolutions frozen at their initial values
  (:func:`train_reference` with ``frozen=True``).
"""
from __future__ import annotations

import numpy as np

from solutions.training_check import worst_relative_off

CANVAS = 12
SCHEDULE = {"epochs": 12, "batch_size": 32, "lr": 0.15, "decay": 0.8, "momentum": 0.9}
PASS_ACCURACY = 0.75      # learned convolutions reach ~0.89-0.90, frozen ones ~0.45-0.52 (seeds 0-2; tests/exercises/test_ps6_capstone.py)
TRAINING_TOLERANCE = 0.01


def load_split(seed: int = 0, canvas: int = CANVAS, test_fraction: float = 0.3):
    """(x_train, y_train, x_test, y_test): shifted digits (n, 1, canvas, canvas) float32 in [0, 1],
    labels int64; the shifts and the shuffle come from ``seed``; the last 30% are the test part."""
    from autograder.tools.data import load_digits_images, shift_digits

    images, labels = load_digits_images()
    x = shift_digits(images, canvas, seed=seed)[:, None].astype(np.float32)
    y = np.asarray(labels, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    tr, te = order[:-n_test], order[-n_test:]
    return x[tr], y[tr], x[te], y[te]


def _torch():
    import torch
    from torch import nn

    return torch, nn


_CLASSES: dict = {}


def digits_resnet_class():
    """The reference ``DigitsResNet`` class (built on first use: torch is imported lazily)."""
    if "DigitsResNet" not in _CLASSES:
        torch, nn = _torch()
        from solutions.modern import BottleneckBlock

        class DigitsResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
                self.block = BottleneckBlock(16, 8, 32, stride=2)
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Linear(32, 10)

            def forward(self, x):
                return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))

        DigitsResNet.__module__ = __name__
        _CLASSES["DigitsResNet"] = DigitsResNet
    return _CLASSES["DigitsResNet"]


def float_state(model) -> dict:
    """The model's floating-point state (parameters and running statistics) as float32 arrays."""
    return {k: v.detach().cpu().numpy().astype(np.float32).copy() for k, v in model.state_dict().items()
            if v.is_floating_point()}


def state_shapes() -> dict:
    return {k: v.shape for k, v in float_state(digits_resnet_class()()).items()}


def param_names() -> list:
    return [k for k, _ in digits_resnet_class()().named_parameters()]


def init_state(seed: int) -> dict:
    """Grader-chosen initial weights: a reference DigitsResNet drawn after ``torch.manual_seed(seed)``."""
    torch, _ = _torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return float_state(digits_resnet_class()())


def schedule(seed: int, n: int, epochs: int | None = None):
    """(orders, rates): one visiting order (a permutation of n) and one learning rate per epoch,
    ``lr * decay ** epoch``."""
    epochs = SCHEDULE["epochs"] if epochs is None else int(epochs)
    rng = np.random.default_rng(int(seed) + 1)
    return [rng.permutation(n) for _ in range(epochs)], [SCHEDULE["lr"] * SCHEDULE["decay"] ** e for e in range(epochs)]


def checked_state(value, what: str, shapes: dict | None = None) -> dict:
    """A state dict from the sandbox, validated: exactly the expected keys, shapes, finite values.
    Raises AssertionError naming the first bad entry (never a reference value)."""
    shapes = state_shapes() if shapes is None else shapes
    if not isinstance(value, dict):
        raise AssertionError(f"{what} should be a dict of arrays, got {type(value).__name__}")
    missing = sorted(set(shapes) - set(value))
    extra = sorted(set(value) - set(shapes))
    if missing or extra:
        raise AssertionError(f"{what}: missing entries {missing[:5]}, unexpected entries {extra[:5]} "
                             "(check the layer names and bias=False on every convolution)")
    out = {}
    for k, shape in shapes.items():
        v = value[k]
        if isinstance(v, (str, bytes, dict, set)) or v is None or callable(v):
            raise AssertionError(f"{what}: {k} is not a numeric array")
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise AssertionError(f"{what}: {k} is not a numeric array") from None
        if a.shape != tuple(shape):
            raise AssertionError(f"{what}: {k} has shape {a.shape}, which does not fit that layer as the "
                                 "notebook describes it")
        if not np.all(np.isfinite(a)):
            raise AssertionError(f"{what}: {k} contains NaN or infinite values")
        out[k] = a.astype(np.float32)
    return out


def load_model(state: dict):
    """A reference DigitsResNet holding ``state`` (float32 arrays for every floating entry)."""
    torch, _ = _torch()
    net = digits_resnet_class()()
    missing = net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()},
                                  strict=False)
    if [k for k in missing.missing_keys if not k.endswith("num_batches_tracked")] or missing.unexpected_keys:
        raise ValueError(f"state does not fit DigitsResNet: {missing}")
    return net


def reference_epoch(state: dict, buffers: dict, x, y, order, lr: float, *, frozen: bool = False):
    """One epoch of the reference loop from ``state`` and momentum ``buffers`` ({param name: array},
    zeros for a fresh optimizer). Batches ``order[i:i + 32]``; for each: zero_grad, forward in
    training mode, mean cross-entropy, backward, ``SGD(lr, momentum=0.9).step()``. With ``frozen``
    the convolutions' weights do not learn (the baseline). Returns (state, buffers) after it."""
    torch, nn = _torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = load_model(state)
        named = dict(net.named_parameters())
        trainable = [n for n in named if not (frozen and "conv" in n or frozen and n in ("stem.0.weight",
                                                                                         "block.shortcut.0.weight"))]
        opt = torch.optim.SGD([named[n] for n in trainable], lr=float(lr), momentum=SCHEDULE["momentum"])
        for n in trainable:
            opt.state[named[n]]["momentum_buffer"] = torch.from_numpy(np.array(buffers[n], dtype=np.float32))
        X, Y = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, np.int64))
        net.train()
        bs = SCHEDULE["batch_size"]
        order = np.asarray(order, dtype=np.int64)
        for s in range(0, len(order), bs):
            idx = torch.from_numpy(order[s:s + bs])
            opt.zero_grad()
            nn.functional.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
        new_buffers = {n: np.array(buffers[n], dtype=np.float32) for n in named}
        for n in trainable:
            new_buffers[n] = opt.state[named[n]]["momentum_buffer"].detach().numpy().copy()
        return float_state(net), new_buffers
    finally:
        torch.set_num_threads(threads)


def train_reference(seed: int, x, y, *, frozen: bool = False, epochs: int | None = None):
    """The whole schedule with the reference loop from :func:`init_state(seed)`: final state."""
    state = init_state(seed)
    buffers = {n: np.zeros(state[n].shape, np.float32) for n in param_names()}
    orders, rates = schedule(seed, len(y), epochs)
    for order, lr in zip(orders, rates):
        state, buffers = reference_epoch(state, buffers, x, y, order, lr, frozen=frozen)
    return state


def accuracy(state: dict, x, y) -> float:
    """Fraction of ``x`` the model holding ``state`` classifies as ``y`` (eval mode: running statistics)."""
    torch, _ = _torch()
    net = load_model(state)
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).argmax(1).numpy()
    return float(np.mean(pred == np.asarray(y)))


def check_training(run, start: dict, x, y, orders, rates):
    """Validate the probe's run and recompute every epoch from the student's previous state and
    momentum buffers; both must match the reference epoch's (the buffers start the next epoch).

    ``run``: {"states": [state after epoch e], "buffers": [momentum buffers after epoch e]}.
    Returns the final state. Raises AssertionError with a message naming the first epoch (and
    tensor) that differs, or what is wrong with the run's values."""
    if not isinstance(run, dict) or not isinstance(run.get("states"), list) or not isinstance(run.get("buffers"), list):
        raise AssertionError("the training run should give lists 'states' and 'buffers', one entry per epoch")
    epochs = len(orders)
    if len(run["states"]) != epochs or len(run["buffers"]) != epochs:
        raise AssertionError(f"the training run has {len(run['states'])} states for {epochs} epochs")
    shapes = state_shapes()
    pshapes = {n: shapes[n] for n in param_names()}
    state = start
    buffers = {n: np.zeros(pshapes[n], np.float32) for n in pshapes}
    for e in range(epochs):
        got = checked_state(run["states"][e], f"the weights after epoch {e + 1}", shapes)
        got_buf = checked_state(run["buffers"][e], f"the momentum buffers after epoch {e + 1}", pshapes)
        want, want_buf = reference_epoch(state, buffers, x, y, orders[e], rates[e])
        if all(np.array_equal(got[k], state[k]) for k in pshapes):
            raise AssertionError(f"epoch {e + 1} of {epochs}: the weights did not change at all "
                                 "(does train_epoch call optimizer.step()?)")
        worst, where = worst_relative_off(got, want, state)
        if worst > TRAINING_TOLERANCE:
            raise AssertionError(
                f"epoch {e + 1} of {epochs} did not do what the reference loop does from the state your code "
                f"had reached: {where} is off by {worst:.0%} of the epoch's change (at most "
                f"{TRAINING_TOLERANCE:.0%} allowed). Check train_epoch (batches order[i:i + batch_size] in "
                "order, zero_grad, mean cross-entropy, backward, step) and your BottleneckBlock.")
        worst, where = worst_relative_off(got_buf, want_buf, buffers)
        if worst > TRAINING_TOLERANCE:
            raise AssertionError(
                f"epoch {e + 1} of {epochs}: the optimizer's momentum buffers after it are not what the reference "
                f"loop leaves from the state your code had reached: {where} is off by {worst:.0%} of the epoch's "
                f"change (at most {TRAINING_TOLERANCE:.0%} allowed). train_epoch must step the optimizer it is "
                "given (not a new one) and leave its state alone.")
        state, buffers = got, got_buf
    return state
