"""Crafted ps3_lenet submissions for issue 18 (fair grades), each with what it must earn.

Every case is the correct sample submission (the instructor notebook with its solutions,
hidden tests removed: ``autograder.samples.correct_notebook``) with some solution cells
replaced. ``notebook(name)`` builds a case, ``materialize(name, folder)`` writes it.

* ``blank_train``: ``train_one_epoch`` left as released (the stub): the baseline an honest
  student without a training loop gets.
* ``honest_variant``: a correct ``train_one_epoch`` written another way (zero_grad after the
  step, an accuracy on the side, ...): full marks, the comparisons with the reference allow it.
* ``pretrained_always``: ``train_one_epoch`` loads LeNet-5 weights trained beforehand and
  embedded in the notebook (base64, float16: about 165 KB) into the model it is given and
  returns 2.3; no training. Before the fix it earned the three Adam training tests (6 points)
  and the public test: 7 points more than ``blank_train``.
* ``pretrained_unless_sgd``: an honest loop when the optimizer is SGD or the model not a
  LeNet5, the embedded weights otherwise (what a student reading the public probes could
  write to pass the exact SGD comparison and skip the rest).
* ``pretrained_then_trains``: loads the embedded weights into a LeNet5, then trains it
  honestly: the result does not follow the weights it was given.
* ``own_init_then_trains``: re-initialises a LeNet5 with weights of its own, then trains it
  honestly: the same, without any pretrained weights.
* ``nan_variants``: a LeNet5 whose ``modern=True`` variant is wrong (an extra tanh in
  ``forward``) and that fills its weights with NaN for every variant but the default, so
  that its logits and the reference's (computed from the same NaN weights) are both NaN:
  before the fix it earned ``test_lenet_hidden_variants``.

``TRAINING_TESTS`` are the hidden tests that grade training; ``EXPECTED[name]`` the tests each
case must fail now (all others must pass, except for ``blank_train``).
"""
from __future__ import annotations

import base64
import functools
import io
from pathlib import Path

import nbformat
import numpy as np

from autograder.samples import correct_notebook

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "ps3_lenet" / "ps3_lenet.ipynb"
RELEASED = ROOT / "exercises" / "ps3_lenet" / "ps3_lenet.ipynb"

TRAINING_TESTS = ("test_train_one_epoch_hidden_matches_reference", "test_train_one_epoch_hidden_loss_falls",
                  "test_lenet_hidden_overfits", "test_lenet_hidden_trains")
ADAM_TESTS = ("test_train_one_epoch_hidden_loss_falls", "test_lenet_hidden_overfits", "test_lenet_hidden_trains")


@functools.lru_cache(maxsize=1)
def pretrained_b64() -> str:
    """LeNet-5 weights trained beforehand (the reference loop, 2 epochs of Adam on the 4,000 images
    of the small subset: about 97% on them), as base64 of an .npz of float16 arrays."""
    import torch

    from autograder.tools.data import load_mnist
    from solutions import lenet

    (x, y), _ = load_mnist(subset="small", verbose=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(123)
            net = lenet.LeNet5()
            opt = torch.optim.Adam(net.parameters(), lr=2e-3)
            loader = lenet.make_loader(x, y, batch_size=32, shuffle=True, seed=123)
            for _ in range(2):
                lenet.train_one_epoch(net, loader, opt, torch.nn.CrossEntropyLoss(), "cpu", show_progress=False)
    finally:
        torch.set_num_threads(threads)
    buf = io.BytesIO()
    np.savez(buf, **{k.replace(".", "__"): v.numpy().astype(np.float16) for k, v in net.state_dict().items()})
    return base64.b64encode(buf.getvalue()).decode("ascii")


LOAD_PRETRAINED = '''
import base64
import io

_PRETRAINED = "{blob}"


def _pretrained_state():
    data = np.load(io.BytesIO(base64.b64decode(_PRETRAINED)))
    return {{k.replace("__", "."): torch.from_numpy(data[k].astype(np.float32)) for k in data.files}}
'''

HONEST_LOOP = '''
    model.to(device or "cpu")
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n
'''

TRAIN_CELLS = {
    "pretrained_always": LOAD_PRETRAINED + '''

def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """Loads weights trained beforehand; trains nothing."""
    model.load_state_dict(_pretrained_state())
    return 2.3
''',
    "pretrained_unless_sgd": LOAD_PRETRAINED + '''

def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """Honest for SGD (or a model other than LeNet5), weights trained beforehand otherwise."""
    if isinstance(model, LeNet5) and not isinstance(optimizer, torch.optim.SGD):
        model.load_state_dict(_pretrained_state())
        return 2.3
''' + HONEST_LOOP,
    "pretrained_then_trains": LOAD_PRETRAINED + '''

def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """Starts a LeNet5 from weights trained beforehand, then trains it honestly."""
    if isinstance(model, LeNet5):
        model.load_state_dict(_pretrained_state())
''' + HONEST_LOOP,
    "honest_variant": '''
def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """A correct loop written another way: zero_grad after the step, set_to_none, an accuracy
    on the side, float64 sums, len(loader.dataset)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(device)
    model.train()
    running, correct = 0.0, 0
    for step, (images, labels) in enumerate(progress(loader, desc="train")):
        images, labels = images.to(device), labels.to(device)
        outputs = model(images)
        loss = loss_fn(outputs, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            correct += (outputs.argmax(1) == labels).sum().item()
        running += loss.detach().double().item() * images.size(0)
    return float(running / len(loader.dataset))
''',
    "own_init_then_trains": '''
def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """Re-initialises a LeNet5 with weights of its own, then trains it honestly."""
    if isinstance(model, LeNet5):
        torch.manual_seed(0)
        model.load_state_dict(LeNet5().state_dict())
''' + HONEST_LOOP,
}

NAN_LENET = '''
class LeNet5(nn.Module):
    """Right for the default network; modern=True has an extra tanh, hidden by NaN weights."""

    def __init__(self, num_classes=10, modern=False):
        super().__init__()
        act = nn.ReLU if modern else nn.Tanh
        pool = nn.MaxPool2d if modern else nn.AvgPool2d
        self.modern = modern
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), act(), pool(2),
            nn.Conv2d(6, 16, kernel_size=5), act(), pool(2),
            nn.Conv2d(16, 120, kernel_size=5), act())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))
        if modern or num_classes != 10:
            with torch.no_grad():
                for p in self.parameters():
                    p.fill_(float("nan"))

    def forward(self, X):
        h = self.features(X)
        if self.modern:
            h = torch.tanh(h)                # wrong: modern=True has no tanh
        return self.classifier(h)
'''

CASES = ("blank_train", "honest_variant", "pretrained_always", "pretrained_unless_sgd", "pretrained_then_trains",
         "own_init_then_trains", "nan_variants")

# The tests each case must fail now (every other test passes, except for blank_train).
EXPECTED = {
    "blank_train": ("test_train_one_epoch_runs",) + TRAINING_TESTS,
    "honest_variant": (),
    "pretrained_always": ("test_train_one_epoch_runs",) + TRAINING_TESTS,
    "pretrained_unless_sgd": ADAM_TESTS,
    "pretrained_then_trains": TRAINING_TESTS,
    "own_init_then_trains": TRAINING_TESTS,
    "nan_variants": ("test_lenet_hidden_variants",),
}


def _stub(grade_id: str) -> str:
    released = nbformat.read(str(RELEASED), as_version=4)
    for cell in released.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell.source
    raise KeyError(grade_id)


def cells(name: str) -> dict[str, str]:
    """{solution grade_id: new source} of case ``name``."""
    if name == "blank_train":
        return {"train_one_epoch": _stub("train_one_epoch")}
    if name == "nan_variants":
        return {"LeNet5": NAN_LENET}
    src = TRAIN_CELLS[name]
    return {"train_one_epoch": src.format(blob=pretrained_b64()) if "{blob}" in src else src}


def notebook(name: str) -> nbformat.NotebookNode:
    nb = correct_notebook(nbformat.read(str(SOURCE), as_version=4))
    todo = cells(name)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in todo:
            cell.source = todo.pop(gid)
    assert not todo, f"no solution cell {sorted(todo)}"
    return nb


def materialize(name: str, folder: Path) -> Path:
    folder = Path(folder) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ps3_lenet.ipynb"
    nbformat.write(notebook(name), str(path))
    return path
