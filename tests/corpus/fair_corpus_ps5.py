"""Gradient-free submissions of ps5's capstone (issue 18, "Fair grades"), as data.

Each case is an otherwise correct instructor notebook with some solution cells replaced
(``{grade_id: source}``). None of them computes a gradient of the convolution, so none
may earn a point of the capstone (tests/exercises/test_ps5_fair_capstone.py grades them
through the engine and checks it).

* :data:`SOLVE_READOUT`: every backward function blank (``raise NotImplementedError()``,
  ``cnn_loss`` too); training keeps the random filters and fits the dense read-out in
  closed form with ``np.linalg.solve`` (ridge regression on one-hot labels);
* :data:`ZEROED_CONV_GRADS`: ``cnn_loss`` returns zero gradients for ``w1`` and ``b1``, the
  rest is correct: only the dense layer learns (the frozen-convolution control);
* :data:`BLANK_BACKWARD_DENSE_SGD`: the backward functions blank; training runs SGD with
  momentum on the dense layer only, with its own softmax gradient.

``CASES_HEAD`` are the same tricks written for the capstone as it was at the start of
issue 18 (``train_digits_cnn(x, y, seed)`` returning weights whose accuracy the grader
measured): there each earned the capstone's 6 points. Run
``python tests/corpus/fair_corpus_ps5.py head|now [ROOT]`` to grade them with the code
under ROOT (``PYTHONPATH=ROOT``) and print the capstone's points of each.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

BLANK = '''
def {name}{signature}:
    raise NotImplementedError()
'''

BLANK_BACKWARD = {
    "conv2d_backward": BLANK.format(name="conv2d_backward", signature="(dout, x, w, b=None, stride=1, padding=0)"),
    "pool2d_backward": BLANK.format(name="pool2d_backward", signature='(dout, x, k, stride=None, mode="max")'),
}

# ------------------------------------------------------------------ the capstone as it is now
SOLVE_READOUT = {
    **BLANK_BACKWARD,
    "cnn_loss": BLANK.format(name="cnn_loss", signature="(params, x, y)"),
    "sgd_epoch": '''
def sgd_epoch(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    feats = pool2d(relu(conv2d(x, params["w1"], params["b1"], padding=1)), 2).reshape(len(x), -1)
    a = np.hstack([feats, np.ones((len(x), 1))])
    w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(10)[np.asarray(y)])
    params["w2"], params["b2"] = w[:-1], w[-1]
    return params, velocity
''',
}

ZEROED_CONV_GRADS = {
    "cnn_loss": '''
def cnn_loss(params, x, y):
    z = conv2d(x, params["w1"], params["b1"], padding=1)
    p = pool2d(relu(z), 2)
    flat = p.reshape(len(p), -1)
    loss, dlogits = softmax_cross_entropy(flat @ params["w2"] + params["b2"], y)
    return loss, {"w1": np.zeros_like(params["w1"]), "b1": np.zeros_like(params["b1"]),
                  "w2": flat.T @ dlogits, "b2": dlogits.sum(axis=0)}
''',
}

BLANK_BACKWARD_DENSE_SGD = {
    **BLANK_BACKWARD,
    "cnn_loss": BLANK.format(name="cnn_loss", signature="(params, x, y)"),
    "sgd_epoch": '''
def sgd_epoch(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    velocity = {k: np.array(v, dtype=float) for k, v in velocity.items()}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        p = pool2d(relu(conv2d(x[idx], params["w1"], params["b1"], padding=1)), 2)
        flat = p.reshape(len(idx), -1)
        _, dlogits = softmax_cross_entropy(flat @ params["w2"] + params["b2"], y[idx])
        for key, g in (("w2", flat.T @ dlogits), ("b2", dlogits.sum(axis=0))):
            velocity[key] = momentum * velocity[key] - lr * g
            params[key] = params[key] + velocity[key]
    return params, velocity
''',
}

CASES_NOW = {"solve_readout": SOLVE_READOUT, "zeroed_conv_grads": ZEROED_CONV_GRADS,
             "blank_backward_dense_sgd": BLANK_BACKWARD_DENSE_SGD}

# ------------------------------------------------------- the same tricks, at the start of issue 18
_OLD_INIT = '''
    rng = np.random.default_rng(seed)
    params = {"w1": rng.standard_normal((16, 1, 3, 3)) * np.sqrt(2 / 9), "b1": np.zeros(16),
              "w2": rng.standard_normal((256, 10)) * np.sqrt(2 / 256), "b2": np.zeros(10)}
'''

CASES_HEAD = {
    "solve_readout": {
        **BLANK_BACKWARD,
        "cnn_loss": BLANK.format(name="cnn_loss", signature="(params, x, y)"),
        "train_digits_cnn": "def train_digits_cnn(x, y, seed=0):" + _OLD_INIT + '''
    feats = pool2d(relu(conv2d(x, params["w1"], params["b1"], padding=1)), 2).reshape(len(x), -1)
    a = np.hstack([feats, np.ones((len(x), 1))])
    w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(10)[np.asarray(y)])
    params["w2"], params["b2"] = w[:-1], w[-1]
    return params
'''},
    "zeroed_conv_grads": {**ZEROED_CONV_GRADS},           # with the reference train_digits_cnn
    "blank_backward_dense_sgd": {
        **BLANK_BACKWARD,
        "cnn_loss": BLANK.format(name="cnn_loss", signature="(params, x, y)"),
        "train_digits_cnn": "def train_digits_cnn(x, y, seed=0):" + _OLD_INIT + '''
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    x, y = np.asarray(x, dtype=float), np.asarray(y)
    for epoch in range(20):
        order = rng.permutation(len(y))
        for start in range(0, len(y), 16):
            idx = order[start:start + 16]
            flat = pool2d(relu(conv2d(x[idx], params["w1"], params["b1"], padding=1)), 2).reshape(len(idx), -1)
            _, dlogits = softmax_cross_entropy(flat @ params["w2"] + params["b2"], y[idx])
            for key, g in (("w2", flat.T @ dlogits), ("b2", dlogits.sum(axis=0))):
                velocity[key] = 0.9 * velocity[key] - 0.02 * 0.9 ** epoch * g
                params[key] = params[key] + velocity[key]
    return params
'''},
}


def notebook(case: dict, root: Path):
    """The instructor notebook under ``root`` with the case's solution cells replaced."""
    import nbformat

    nb = nbformat.read(str(root / "solutions" / "ps5_backprop" / "ps5_backprop.ipynb"), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in case:
            cell.source = case[gid].strip("\n") + "\n"
    return nb


def grade_cases(cases: dict, root: Path, out_dir: Path, capstone: str) -> dict:
    """Grade each case (only the capstone test) with the engine importable here; returns
    ``{case: (points, max_points, status, message)}``."""
    import nbformat
    from autograder.assignment import load_assignment
    from autograder.engine import grade_notebook, isolation_available

    assignment = load_assignment("ps5_backprop", source_dir=root / "solutions")
    sub = dataclasses.replace(assignment, tests=[t for t in assignment.tests if t.grade_id == capstone])
    results = {}
    for name, case in cases.items():
        path = out_dir / name / "ps5_backprop.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook(case, root), str(path))
        res = grade_notebook(sub, path, name, insecure=isolation_available() is None)
        t = next(t for t in res.tests if t.name == capstone)
        results[name] = (t.points, t.max_points, t.status, t.message)
    return results


if __name__ == "__main__":
    import tempfile

    which = sys.argv[1]
    root = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else Path(__file__).resolve().parents[2]
    cases, capstone = ((CASES_HEAD, "test_train_digits_cnn_accuracy") if which == "head"
                       else (CASES_NOW, "test_sgd_epoch_capstone"))
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(grade_cases(cases, root, Path(tmp), capstone), indent=1))
