"""ps6's capstone is fair: on the grader's own split and schedule (seed 64, as the hidden test
test_train_epoch_capstone), learned convolutions pass the mark with room to spare and the same
schedule with the convolutions frozen at their random start fails it; the grader's epoch check
accepts the reference loop written another way and refuses weights that did not train."""
from __future__ import annotations

import numpy as np
import pytest

# The project's own module: an ImportError fails the tests, never skips them.
from solutions import modern_capstone as cap

SEED = 64      # test_train_epoch_capstone's split, starting weights and orders


@pytest.fixture(scope="module")
def split():
    return cap.load_split(seed=SEED)


@pytest.mark.slow
def test_learned_convolutions_pass_and_frozen_ones_fail(split):
    xtr, ytr, xte, yte = split
    learned = cap.accuracy(cap.train_reference(SEED, xtr, ytr), xte, yte)
    frozen = cap.accuracy(cap.train_reference(SEED, xtr, ytr, frozen=True), xte, yte)
    print(f"learned {learned:.3f}, frozen {frozen:.3f}, pass mark {cap.PASS_ACCURACY}")
    assert learned >= cap.PASS_ACCURACY + 0.08, learned          # measured 0.89-0.90 (seeds 0-2)
    assert frozen <= cap.PASS_ACCURACY - 0.15, frozen            # measured 0.45-0.52


def test_held_out_digits_are_not_in_the_training_part(split):
    xtr, _, xte, _ = split
    assert len(xtr) == 1258 and len(xte) == 539
    train_rows = {row.tobytes() for row in xtr.reshape(len(xtr), -1)}
    assert sum(row.tobytes() in train_rows for row in xte.reshape(len(xte), -1)) <= 5   # identical digits only


def _run_of(states, buffers):
    return {"states": states, "buffers": buffers}


def test_check_training_accepts_the_reference_and_refuses_untrained_weights(split):
    xtr, ytr, _, _ = split
    x, y = xtr[:256], ytr[:256]
    start = cap.init_state(SEED)
    orders, rates = cap.schedule(SEED, len(y), epochs=2)
    buffers = {n: np.zeros(start[n].shape, np.float32) for n in cap.param_names()}
    states, bufs, state = [], [], start
    for order, lr in zip(orders, rates):
        state, buffers = cap.reference_epoch(state, buffers, x, y, order, lr)
        states.append(state)
        bufs.append(buffers)
    final = cap.check_training(_run_of(states, bufs), start, x, y, orders, rates)
    assert all(np.array_equal(final[k], states[-1][k]) for k in final)
    with pytest.raises(AssertionError, match="did not change at all"):
        cap.check_training(_run_of([start, start], bufs), start, x, y, orders, rates)
    frozen, fbuf = cap.reference_epoch(start, {n: np.zeros(start[n].shape, np.float32) for n in cap.param_names()},
                                       x, y, orders[0], rates[0], frozen=True)
    with pytest.raises(AssertionError, match="epoch 1 of 2 did not do what the reference loop does"):
        cap.check_training(_run_of([frozen, states[1]], [fbuf, bufs[1]]), start, x, y, orders, rates)
    bad = dict(states[0])
    bad["fc.weight"] = np.full(bad["fc.weight"].shape, np.nan, np.float32)
    with pytest.raises(AssertionError, match="fc.weight contains NaN"):
        cap.check_training(_run_of([bad, states[1]], bufs), start, x, y, orders, rates)
    with pytest.raises(AssertionError, match="unexpected entries"):
        cap.check_training(_run_of([{**states[0], "block.conv1.bias": np.zeros(8)}, states[1]], bufs),
                           start, x, y, orders, rates)


def test_check_training_refuses_momentum_buffers_the_reference_loop_would_not_leave(split):
    """The reported buffers start the grader's next epoch, so they are checked as the weights are.
    Before, a run whose weights were consistent with buffers of its own choosing passed: a
    train_epoch that makes its own optimizer each call (momentum reset every epoch; the probe's
    optimizer, never stepped, reports no buffers: zeros), or buffers halved and the next epoch
    trained from them."""
    xtr, ytr, _, _ = split
    x, y = xtr[:256], ytr[:256]
    start = cap.init_state(SEED)
    orders, rates = cap.schedule(SEED, len(y), epochs=2)
    zeros = {n: np.zeros(start[n].shape, np.float32) for n in cap.param_names()}
    reset, state = [], start
    for order, lr in zip(orders, rates):
        state, _ = cap.reference_epoch(state, zeros, x, y, order, lr)
        reset.append(state)
    with pytest.raises(AssertionError, match=r"epoch 1 of 2: the optimizer's momentum buffers .* off by 100% "
                                             r"of the epoch's change .*\(not a new one\)"):
        cap.check_training(_run_of(reset, [zeros, zeros]), start, x, y, orders, rates)
    first, buf = cap.reference_epoch(start, zeros, x, y, orders[0], rates[0])
    halved = {n: b / 2 for n, b in buf.items()}
    second, buf2 = cap.reference_epoch(first, halved, x, y, orders[1], rates[1])
    with pytest.raises(AssertionError, match="epoch 1 of 2: the optimizer's momentum buffers .* off by 50%"):
        cap.check_training(_run_of([first, second], [halved, buf2]), start, x, y, orders, rates)
