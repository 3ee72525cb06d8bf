"""Build the instructor source notebook solutions/ps3_lenet/ps3_lenet.ipynb.

The notebook is generated from the cell list below so that solutions, public and hidden
tests stay easy to review as plain Python. Cell ids are fixed, so regenerating gives the
same notebook. ``cnn-course release`` copies only notebooks, grading.toml and images, so
this script never reaches students. Run from the repository root:

    .venv/bin/python solutions/ps3_lenet/build_notebook.py

The notebook is written without outputs.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path


import solutions as ref
from autograder.authoring import NotebookSource, code_of

HERE = Path(__file__).resolve().parent
OUT = HERE / "ps3_lenet.ipynb"

NB = NotebookSource()
md, code, setup, solution, answer, test = NB.md, NB.code, NB.setup, NB.solution, NB.answer, NB.test


# ---------------------------------------------------------------------------------------
md("md-title", r"""
# Problem set 3: LeNet-5 in PyTorch

LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998) read the digits on bank cheques. It is
small enough to train on a laptop CPU in a minute or two and still has every part of a
modern CNN: convolutions, pooling, non-linearities and dense layers on top. In this problem
set you

1. predict shapes, costs and behaviours before you run anything (graded answers),
2. build LeNet-5 as a PyTorch `nn.Module` (graded layer by layer),
3. write the training loop `train_one_epoch` and the accuracy function `evaluate` (graded),
4. train the network on MNIST (progress bars show how it goes),
5. look at what it learned: training curves, a confusion matrix, the 5x5 filters of the
   first layer and the feature maps of one digit,
6. answer a short question on tanh vs ReLU and average vs max pooling.

**Running time.** The whole notebook in full mode (4 epochs on the 60,000 training images,
no GPU) ran in 4 min 28 s on the course's 2-core reference machine, measured while that
machine was shared with other jobs (load average 8-12); the kernel used 1 min 26 s of CPU
time.

**How grading works.** Cells marked *public test* run here: use them to check your work.
The grader also runs *hidden tests* (the empty test cells). They grade your answers to the
*predict* questions, and they check your code without taking its word for anything: the
*probes* listed in `grading.toml` (public) run your functions on inputs the grader chooses
and send back raw material only, such as the weights your training loop produced. The
grader loads those weights into its own LeNet-5 and computes the losses and accuracies
itself: a comparison of your training loop with a reference on the same batches, whether
one epoch lowers the loss, whether your network learns 128 images by heart, and a short
training run (one epoch on 2,000 MNIST images) after which the grader measures how well your
weights label 1,000 digits that never reach your code. Each of these training tests also
compares your weights with those the reference loop reaches from the same starting weights on
the same batches (rounding aside, they should be the same): weights that do not come from
training the model you are given earn nothing. Only your imports, functions, classes and
`answer_...` values are used for grading: the training and plotting cells below are for you.

**Rules.** Do not change the names or signatures of `LeNet5`, `train_one_epoch` and
`evaluate`. Keep the structure asked for below (two `nn.Sequential` blocks named `features`
and `classifier`): the tests look at each stage's output.
""")

setup("setup", r"""
import os

import numpy as np
import torch
from torch import nn

from autograder.tools import (assert_close, assert_equal, assert_shape, run_student, run_probe, load_mnist,
                              plot_history, plot_confusion_matrix, show_images, show_filters,
                              show_feature_maps, progress)

FAST = os.environ.get("CNN_COURSE_FAST") == "1"   # small data and 1 epoch (used by CI)
torch.manual_seed(0)
print("torch", torch.__version__, "| CUDA available:", torch.cuda.is_available(), "| fast mode:", FAST)
""")

# ---------------------------------------------------------------------------------------
md("md-data", r"""
## 1. The data

MNIST has 70,000 grey-scale digits of 28 x 28 pixels (60,000 to train, 10,000 to test),
stored as `uint8` values 0-255. `load_mnist()` reads them from the course's offline cache;
`load_mnist(subset="small")` gives 4,000 + 1,000 images for quick experiments (fast mode
uses it).
""")

code("load-data", r'''
def load_data(fast=FAST):
    """MNIST as uint8 images (N, 28, 28) and int64 labels (N,); the small subset in fast mode."""
    return load_mnist(subset="small" if fast else None)


(x_train, y_train), (x_test, y_test) = load_data()
print("train:", x_train.shape, x_train.dtype, "test:", x_test.shape, "labels:", np.bincount(y_train))
show_images(x_train[:24], y_train[:24], ncols=12);
''')

md("md-loader", r"""
A network learns best from inputs of about zero mean and unit variance. `preprocess` scales
the pixels to [0, 1], subtracts the training set's mean (0.1307) and divides by its
standard deviation (0.3081), and adds the channel axis PyTorch expects:
`(N, 28, 28)` uint8 becomes `(N, 1, 28, 28)` float32. `make_loader` wraps the result in a
`DataLoader` that yields mini-batches `(X, y)` with `X` of shape `(B, 1, 28, 28)` and `y`
of shape `(B,)` (int64), in a new random order each epoch when `shuffle=True`. These two
are given: run the cell.
""")

code("make-loader", r'''
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def preprocess(X):
    """uint8 images (N, 28, 28) -> normalised float32 tensor (N, 1, 28, 28)."""
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32) / 255.0
    return ((X - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def make_loader(X, y, batch_size=64, shuffle=False, seed=0):
    """DataLoader of (X (B, 1, 28, 28) float32, y (B,) int64) batches from numpy arrays."""
    dataset = torch.utils.data.TensorDataset(preprocess(X), torch.as_tensor(y, dtype=torch.int64))
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
''')

# ---------------------------------------------------------------------------------------
md("md-lenet", r"""
## 2. LeNet-5

The original network reads 32 x 32 images. Our digits are 28 x 28, so the first convolution
pads them with 2 zeros on each side: the feature maps then have exactly the sizes of the
classic table.

| stage | layer | output shape (per image) | parameters |
|---|---|---|---|
| C1 | `Conv2d(1, 6, kernel_size=5, padding=2)` + tanh | 6 x 28 x 28 | 6 x (5·5·1) + 6 = 156 |
| S2 | `AvgPool2d(2)` | 6 x 14 x 14 | 0 |
| C3 | `Conv2d(6, 16, kernel_size=5)` + tanh | 16 x 10 x 10 | 16 x (5·5·6) + 16 = 2,416 |
| S4 | `AvgPool2d(2)` | 16 x 5 x 5 | 0 |
| C5 | `Conv2d(16, 120, kernel_size=5)` + tanh | 120 x 1 x 1 | 120 x (5·5·16) + 120 = 48,120 |
| F6 | `Flatten()`, `Linear(120, 84)` + tanh | 84 | 84 x 120 + 84 = 10,164 |
| output | `Linear(84, num_classes)` | 10 | 10 x 84 + 10 = 850 |

Total: **61,706** parameters. (The 1998 paper connects C3 to only some of S2's maps and
ends with radial-basis units; like most modern versions we use full connections and a
linear output.)

Write `LeNet5` with exactly two children:

* `self.features = nn.Sequential(...)` with the 8 layers C1, tanh, S2, C3, tanh, S4, C5, tanh
  (in this order; use `nn.Tanh()` modules, not `torch.tanh` inside `forward`);
* `self.classifier = nn.Sequential(...)` with the 4 layers `Flatten`, F6, tanh, output.

With `modern=True` use `nn.ReLU()` instead of `nn.Tanh()` and `nn.MaxPool2d(2)` instead of
`nn.AvgPool2d(2)` everywhere. `forward` returns the raw scores (**logits**), one per class:
no softmax at the end, because `nn.CrossEntropyLoss` applies (log-)softmax itself.
""")

md("md-predict-lenet", r"""
### Predict before you run (graded, 6 points)

Answer these **before** you write and run `LeNet5`: work them out from the table and
the rules of convolution and pooling, then check yourself once your network runs. Write
each answer as a plain Python value in the cell below (replace `None`); a hidden test
grades each one (1 point each).

1. `answer_c1_shape_without_padding`: the output shape `(C, H, W)` of C1 for one 28 x 28
   image if C1 were `nn.Conv2d(1, 6, kernel_size=5)`, without `padding=2` (a tuple of 3 ints).
2. `answer_without_padding_outcome`: with that C1 and everything else unchanged, what
   happens when a 28 x 28 image goes through `features`? One letter:
   * `"A"`: nothing changes after S2: C3, S4 and C5 still output 16 x 10 x 10, 16 x 5 x 5 and 120 x 1 x 1;
   * `"B"`: C5 outputs 120 x 0 x 0 (an empty tensor) and the classifier gets 0 features;
   * `"C"`: the forward pass stops with an error at C5: its input is smaller than its kernel;
   * `"D"`: C5 outputs 120 x 2 x 2 and `Linear(120, 84)` gets 480 features.
3. `answer_params_conv_pooling`: the number of parameters of `LeNet5()` if S2 and S4 were
   replaced by learned downsampling, `nn.Conv2d(C, C, kernel_size=2, stride=2)` with C = 6
   for S2 and C = 16 for S4 (an int).
4. `answer_c1_multiplications`: how many multiplications C1 does for one image
   (weight times input value; additions and biases not counted; an int).
5. `answer_c5_receptive_field`: one output value of C5 depends on a square window of the
   padded 32 x 32 input. How many pixels wide is it (an int)?
6. `answer_torch_same_stride2`: Keras' `Conv2D(6, 5, strides=2, padding="same")` turns a
   28 x 28 image into 14 x 14 maps. PyTorch refuses `padding="same"` for a stride above 1,
   so a port to PyTorch writes `nn.Conv2d(1, 6, kernel_size=5, stride=2, padding=2)` and
   copies the Keras layer's weights into it (transposed to PyTorch's layout). On the same
   image, what does the PyTorch layer give? One letter:
   * `"A"`: 14 x 14 maps equal to Keras' (up to rounding);
   * `"B"`: 14 x 14 maps, but not Keras' values: the two layers do not pad the same rows and columns;
   * `"C"`: 13 x 13 maps: one zero per side short of Keras' size;
   * `"D"`: 15 x 15 maps: one zero per side too many.
""")

solution("answers_lenet", r'''
# Replace each None by your answer (plain values: ints, a tuple, one-letter strings)
# and delete the `raise NotImplementedError()` line.
answer_c1_shape_without_padding = None
answer_without_padding_outcome = None
answer_params_conv_pooling = None
answer_c1_multiplications = None
answer_c5_receptive_field = None
answer_torch_same_stride2 = None
### BEGIN SOLUTION
answer_c1_shape_without_padding = (6, 24, 24)      # 28 - 5 + 1 = 24
answer_without_padding_outcome = "C"               # S2 12, C3 8, S4 4: a 4 x 4 input for a 5 x 5 kernel
answer_params_conv_pooling = 62896                 # 61,706 + (6*6*2*2 + 6) + (16*16*2*2 + 16)
answer_c1_multiplications = 117600                 # 6 * 28 * 28 outputs, 5 * 5 * 1 products each
answer_c5_receptive_field = 32                     # 5 -> 10 (S4) -> 14 (C3) -> 28 (S2) -> 32 (C1)
answer_torch_same_stride2 = "B"                    # Keras pads (1, 2): its windows start one row/column later
### END SOLUTION
''')

test("test_answer_c1_shape_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Measured on the reference. Like every hidden test, the message says what is wrong and how
# to find the answer, never the answer itself.
import numbers as _numbers
import torch as _torch
_want = tuple(_torch.nn.Conv2d(1, 6, kernel_size=5)(_torch.zeros(1, 1, 28, 28)).shape[1:])
_got = answer_c1_shape_without_padding
_hint = ("Hint: (C, H, W) has one map per kernel, and along a side of H pixels a K x K kernel without "
         "padding fits at H - K + 1 positions.")
assert _got is not None, "answer_c1_shape_without_padding is still None: write your answer as a tuple (C, H, W)."
assert (isinstance(_got, (tuple, list)) and len(_got) == 3
        and all(isinstance(_v, _numbers.Integral) and not isinstance(_v, bool) for _v in _got)), (
    f"answer_c1_shape_without_padding should be a tuple of 3 ints (C, H, W), got {repr(_got)[:60]}.")
_got = tuple(int(_v) for _v in _got)
if _got != _want:
    _why = {(6, 28, 28): " it is C1's shape with padding=2: without padding the maps shrink",
            (6, 23, 23): " the size is off by one",
            (6, 25, 25): " the size is off by one"}.get(_got, "")
    raise AssertionError(f"answer_c1_shape_without_padding = {_got} is not right" + (f":{_why}." if _why else ".")
                         + " " + _hint)
### END HIDDEN TESTS
''')

test("test_answer_without_padding_hidden", 1, r'''
### BEGIN HIDDEN TESTS
import torch as _torch
import solutions as ref
_net = ref.LeNet5()
_net.features[0] = _torch.nn.Conv2d(1, 6, kernel_size=5)
_h, _outcome = _torch.zeros(1, 1, 28, 28), None
for _i, _layer in enumerate(_net.features):
    try:
        _h = _layer(_h)
    except RuntimeError:
        _outcome = "C" if _i == 6 else "?"
        break
if _outcome is None:
    _outcome = {(16, 5, 5): "A", (120, 0, 0): "B", (120, 2, 2): "D"}.get(tuple(_h.shape[1:]), "?")
_got = answer_without_padding_outcome
assert _got is not None, 'answer_without_padding_outcome is still None: write one letter, e.g. "A".'
assert isinstance(_got, str) and _got.strip().upper() in ("A", "B", "C", "D"), (
    f'answer_without_padding_outcome should be one of the letters "A", "B", "C", "D", got {repr(_got)[:40]}.')
assert _got.strip().upper() == _outcome, (
    f"answer_without_padding_outcome = {_got!r} is not right. Hint: follow the side of the maps through "
    "features without C1's padding (a 5 x 5 convolution without padding takes 4 off it, a 2 x 2 pooling "
    "halves it) and compare what reaches C5 with C5's kernel.")
### END HIDDEN TESTS
''')

test("test_answer_params_conv_pooling_hidden", 1, r'''
### BEGIN HIDDEN TESTS
import numbers as _numbers
import torch as _torch
import solutions as ref
_net = ref.LeNet5()
_net.features[2] = _torch.nn.Conv2d(6, 6, kernel_size=2, stride=2)
_net.features[5] = _torch.nn.Conv2d(16, 16, kernel_size=2, stride=2)
_want = sum(p.numel() for p in _net.parameters())
_got = answer_params_conv_pooling
assert _got is not None, "answer_params_conv_pooling is still None: write an int."
assert isinstance(_got, _numbers.Integral) and not isinstance(_got, bool), (
    f"answer_params_conv_pooling should be an int, got {repr(_got)[:40]} ({type(_got).__name__}).")
if int(_got) != _want:
    _why = {61706: "LeNet-5's own count: pooling layers have no parameters, these convolutions do",
            _want - 22: "a count without the biases of the two new convolutions",
            61706 + 6 * 4 + 6 + 16 * 4 + 16: "a count with one 2 x 2 filter per channel: each output channel "
                                              "sees every input channel"}.get(int(_got))
    raise AssertionError(
        f"answer_params_conv_pooling = {int(_got)} is not right" + (f": it looks like {_why}." if _why else ".")
        + " Hint: a Conv2d(C, C, kernel_size=2) has C filters of 2 x 2 x C weights plus C biases; add the two "
          "new layers' parameters to LeNet-5's 61,706.")
### END HIDDEN TESTS
''')

test("test_answer_c1_multiplications_hidden", 1, r'''
### BEGIN HIDDEN TESTS
import numbers as _numbers
import torch as _torch
import solutions as ref
_c1 = ref.LeNet5().features[0]
_want = int(_c1(_torch.zeros(1, 1, 28, 28)).numel() * _c1.weight[0].numel())
_got = answer_c1_multiplications
assert _got is not None, "answer_c1_multiplications is still None: write an int."
assert isinstance(_got, _numbers.Integral) and not isinstance(_got, bool), (
    f"answer_c1_multiplications should be an int, got {repr(_got)[:40]} ({type(_got).__name__}).")
if int(_got) != _want:
    _why = {150: "the number of C1's weights: each weight is used at every position",
            6 * 28 * 28: "the number of C1's outputs: each output needs several products",
            6 * 24 * 24 * 25: "a count for C1 without its padding"}.get(int(_got))
    raise AssertionError(
        f"answer_c1_multiplications = {int(_got)} is not right" + (f": it looks like {_why}." if _why else ".")
        + " Hint: count C1's outputs for one image (channels x height x width, with padding=2) and the "
          "products each output needs (one per weight of its kernel).")
### END HIDDEN TESTS
''')

test("test_answer_receptive_field_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Measured on the reference: the input pixels whose gradient reaches one C5 output.
import numbers as _numbers
import torch as _torch
import solutions as ref
_torch.manual_seed(0)
_net = ref.LeNet5()
_net.features[0].padding = (0, 0)             # feed an already padded (larger) input instead
_x = _torch.randn(1, 1, 40, 40, requires_grad=True)
_net.features(_x)[0, 0, 0, 0].backward()
_cols = np.nonzero(_x.grad[0, 0].abs().sum(0).numpy())[0]
_want = int(_cols.max() - _cols.min() + 1)
_got = answer_c5_receptive_field
assert _got is not None, "answer_c5_receptive_field is still None: write an int."
assert isinstance(_got, _numbers.Integral) and not isinstance(_got, bool), (
    f"answer_c5_receptive_field should be an int, got {repr(_got)[:40]} ({type(_got).__name__}).")
if int(_got) != _want:
    _why = {5: "C5's kernel only: the window grows through every layer below",
            28: "the size of the unpadded image: the question asks about the window in the padded input"
            }.get(int(_got))
    raise AssertionError(
        f"answer_c5_receptive_field = {int(_got)} is not right" + (f": it looks like {_why}." if _why else ".")
        + " Hint: go down from C5 one layer at a time: a K x K convolution (stride 1) widens the window "
          "by K - 1 pixels, a 2 x 2 pooling with stride 2 doubles it.")
### END HIDDEN TESTS
''')

test("test_answer_torch_same_stride2_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Keras' "same" by TensorFlow's rule (course/02_padding_stride_shapes.ipynb measures it): ceil(n / s)
# outputs, (out - 1) * s + k - n zeros in all, the odd one at the bottom/right. Compared with the
# PyTorch layer on the same random image and weights.
import torch as _torch
import torch.nn.functional as _F
_n, _k, _s = 28, 5, 2
_out = -(-_n // _s)
_total = max((_out - 1) * _s + _k - _n, 0)
_lo, _hi = _total // 2, _total - _total // 2
_g = _torch.Generator().manual_seed(5)
_x = _torch.randn(1, 1, _n, _n, generator=_g, dtype=_torch.float64)
_w = _torch.randn(6, 1, _k, _k, generator=_g, dtype=_torch.float64)
_keras = _F.conv2d(_F.pad(_x, (_lo, _hi, _lo, _hi)), _w, stride=_s)
_port = _F.conv2d(_x, _w, stride=_s, padding=2)
if _port.shape[-1] != _keras.shape[-1]:
    _want = {_keras.shape[-1] - 1: "C", _keras.shape[-1] + 1: "D"}.get(_port.shape[-1], "?")
else:
    _want = "A" if _torch.allclose(_port, _keras) else "B"
_got = answer_torch_same_stride2
assert _got is not None, 'answer_torch_same_stride2 is still None: write one letter, e.g. "A".'
assert isinstance(_got, str) and _got.strip().upper() in ("A", "B", "C", "D"), (
    f'answer_torch_same_stride2 should be one of the letters "A", "B", "C", "D", got {repr(_got)[:40]}.')
assert _got.strip().upper() == _want, (
    f"answer_torch_same_stride2 = {_got!r} is not right. Hint: the output side follows from the formula "
    "with p = 2; then work out how many zero rows Keras' 'same' adds on top and at the bottom for 28 rows, "
    "kernel 5, stride 2 (course/02_padding_stride_shapes.ipynb), and compare with 2 and 2.")
### END HIDDEN TESTS
''')

solution("LeNet5", f'''
class LeNet5(nn.Module):
    """LeNet-5 for 28x28 digits: (N, 1, 28, 28) -> logits (N, num_classes).

    features:   C1 conv 6@5x5 pad 2, act, S2 pool, C3 conv 16@5x5, act, S4 pool,
                C5 conv 120@5x5, act                    -> (N, 120, 1, 1)
    classifier: Flatten, F6 Linear(120, 84), act, Linear(84, num_classes) -> (N, num_classes)
    act = tanh and average pooling (modern=False), or ReLU and max pooling (modern=True).
    """

    def __init__(self, num_classes=10, modern=False):
        super().__init__()
        ### BEGIN SOLUTION
{code_of(ref.LeNet5.__init__, after='self.modern = bool(modern)', indent=8)}
        ### END SOLUTION

    def forward(self, X):
        ### BEGIN SOLUTION
        return self.classifier(self.features(X))
        ### END SOLUTION
''')

test("test_lenet_parameters", 1, r'''
# Public test: the number of parameters, layer by layer.
counts = run_student("""
net = LeNet5()
result = [[name, int(p.numel())] for name, p in net.named_parameters()]
""")
assert isinstance(counts, list) and all(isinstance(c, list) and len(c) == 2 and isinstance(c[1], int)
                                        for c in counts), "LeNet5().named_parameters() could not be read."
total = sum(n for _, n in counts)
expected = {"C1": 156, "C3": 2416, "C5": 48120, "F6": 10164, "output": 850}
detail = ", ".join(f"{name}: {n:,}" for name, n in counts)
assert_equal(total, 61706, name="the number of parameters of LeNet5()",
             hint=f"expected per layer {expected}; yours: {detail}.")
print("LeNet5: 61,706 parameters: public test passed")
''')

test("test_lenet_shapes", 2, r'''
# Public test: the output shape after every layer, for a batch of 2 images.
report = run_student("""
import torch
torch.manual_seed(0)
net = LeNet5()
def walk(block, h):
    out = []
    for layer in block:
        try:
            h = layer(h)
            out.append([type(layer).__name__, list(h.shape)])
        except Exception as exc:
            out.append([type(layer).__name__, f"{type(exc).__name__}: {exc}"])
            return out, None
    return out, h
children = [name for name, _ in net.named_children()]
if "features" in children and "classifier" in children:
    f, h = walk(net.features, torch.zeros(2, 1, 28, 28))
    c, _ = walk(net.classifier, h) if h is not None else ([], None)
    result = {"children": children, "features": f, "classifier": c}
else:
    result = {"children": children}
""")
assert "features" in report["children"] and "classifier" in report["children"], (
    f"LeNet5 should have two nn.Sequential children named 'features' and 'classifier'; "
    f"yours has {report['children']}.")
want_features = [("C1 Conv2d", "Conv2d", (2, 6, 28, 28)), ("C1 activation", "Tanh", (2, 6, 28, 28)),
                 ("S2 pooling", "AvgPool2d", (2, 6, 14, 14)), ("C3 Conv2d", "Conv2d", (2, 16, 10, 10)),
                 ("C3 activation", "Tanh", (2, 16, 10, 10)), ("S4 pooling", "AvgPool2d", (2, 16, 5, 5)),
                 ("C5 Conv2d", "Conv2d", (2, 120, 1, 1)), ("C5 activation", "Tanh", (2, 120, 1, 1))]
want_classifier = [("Flatten", "Flatten", (2, 120)), ("F6 Linear", "Linear", (2, 84)),
                   ("F6 activation", "Tanh", (2, 84)), ("output Linear", "Linear", (2, 10))]
hints = {"C1 Conv2d": "C1 needs padding=2 to keep 28 x 28.",
         "S2 pooling": "2 x 2 pooling with stride 2 halves 28 x 28 to 14 x 14.",
         "C3 Conv2d": "C3 has 16 kernels of 5 x 5 x 6 and no padding: 14 - 5 + 1 = 10.",
         "C5 Conv2d": "C5 has 120 kernels of 5 x 5 x 16 and no padding: 5 - 5 + 1 = 1."}
for block, want in (("features", want_features), ("classifier", want_classifier)):
    got = report[block]
    assert isinstance(got, list), f"the layers of {block} could not be read."
    for i, (stage, layer_type, shape) in enumerate(want):
        where = f"{block}[{i}] ({stage})"
        assert i < len(got), (f"{block} has {len(got)} layers, expected {len(want)}: "
                              f"{[t for t, _ in want]}.")
        name, out = got[i]
        assert name == layer_type, f"{where} is {name}, expected {layer_type}."
        assert not isinstance(out, str), f"{where} raised {out}"
        assert isinstance(out, list) and len(out) <= 8 and all(isinstance(s, int) and s >= 0 for s in out), (
            f"the output shape of {where} could not be read: {str(out)[:60]}")
        axes = ("N", "C", "H", "W") if len(shape) == 4 else ("N", "features")
        assert_shape(np.broadcast_to(np.uint8(0), out), shape, name=f"the output of {where}", axes=axes,
                     hint=hints.get(stage))
    assert len(got) == len(want), f"{block} has {len(got)} layers, expected {len(want)}."
print("LeNet5: every stage has the right shape: public test passed")
''')

test("test_lenet_logits", 1, r'''
# Public test: forward returns logits (N, 10): no softmax (CrossEntropyLoss does it).
out = run_student("""
import torch
torch.manual_seed(0)
net = LeNet5()
with torch.no_grad():
    result = net(torch.randn(8, 1, 28, 28)).numpy()
""")
assert isinstance(out, np.ndarray) and out.dtype.kind == "f", (
    f"LeNet5()(X) should return a float tensor of logits, got {type(out).__name__}.")
assert_shape(out, (8, 10), name="LeNet5()(X) for X of shape (8, 1, 28, 28)", axes=("N", "classes"))
assert np.isfinite(out).all(), ("LeNet5()(X) contains NaN or infinite values: the logits of a freshly "
                                "initialised network should be finite numbers.")
sums = out.sum(axis=1)
assert not (np.all(out >= 0) and np.allclose(sums, 1, atol=1e-4)), (
    "the outputs are probabilities (each row sums to 1): remove the softmax at the end of forward; "
    "nn.CrossEntropyLoss applies it to the logits itself.")
lse = np.log(np.exp(out.astype(np.float64)).sum(axis=1))
assert not np.allclose(lse, 0, atol=1e-4), (
    "the outputs are log-probabilities (log_softmax): return the raw logits instead; "
    "nn.CrossEntropyLoss applies log-softmax itself.")
print("LeNet5 returns logits: public test passed")
''')

test("test_lenet_hidden_variants", 1, r'''
### BEGIN HIDDEN TESTS
# modern=True (ReLU + max pooling) and other num_classes. The probe builds the student's
# network, sends back its fresh weights (checked: LeNet-5's shapes, finite), loads weights
# chosen here and sends back its logits on inputs chosen here; the grader loads the same
# weights into the reference network and computes the logits it should have given.
import torch as _torch
import solutions as ref
from solutions.lenet import checked_state
_X = np.random.default_rng(3).standard_normal((5, 1, 28, 28)).astype(np.float32)
_want_types = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU",
               "Flatten", "Linear", "ReLU", "Linear"]
for _k, _modern, _seed in ((7, True, 4), (1, False, 5)):
    _what = f"LeNet5(num_classes={_k}, modern={_modern})"
    _torch.manual_seed(_seed)
    _ref = ref.LeNet5(num_classes=_k, modern=_modern).eval()
    _state = {_n: _v.detach().numpy().copy() for _n, _v in _ref.state_dict().items()}
    _got = run_probe("lenet_forward", num_classes=_k, modern=_modern, seed=3, X=_X, state=_state)
    assert isinstance(_got, dict) and {"types", "state", "logits", "error"} <= set(_got), (
        f"the probe lenet_forward did not return its result for {_what}.")
    _types = _got["types"]
    assert isinstance(_types, list) and len(_types) <= 100 and all(isinstance(_t, str) for _t in _types), (
        f"the layers of {_what} could not be read.")
    if _modern and _types != _want_types:
        raise AssertionError(f"the layers of {_what} are not right: modern=True swaps every nn.Tanh for nn.ReLU "
                             "and every nn.AvgPool2d for nn.MaxPool2d, and changes nothing else.")
    checked_state(_got["state"], num_classes=_k, modern=_modern, whose=_what)   # keys, shapes, finite
    assert _got["error"] is None, (f"{_what} could not load weights of LeNet-5's shapes: "
                                   f"{str(_got['error'])[:200]}")
    _logits = _got["logits"]
    assert isinstance(_logits, np.ndarray) and _logits.dtype.kind == "f", (
        f"{_what}(X) should return a float tensor of logits.")
    assert_shape(_logits, (5, _k), name=f"{_what}(X) for 5 images", axes=("N", "classes"),
                 hint="the last Linear layer has num_classes outputs.")
    assert np.isfinite(_logits).all(), f"the logits of {_what} contain NaN or infinite values."
    with _torch.no_grad():
        _want = _ref(_torch.from_numpy(_X)).numpy()
    _err = np.abs(_logits.astype(np.float64) - _want)
    if not np.all(_err <= 1e-5 + 1e-4 * np.abs(_want)):
        _i, _j = np.unravel_index(int(np.argmax(_err)), _err.shape)
        raise AssertionError(f"the logits of {_what}, holding the grader's weights, differ from those of the "
                             f"reference network with the same weights (the most for image {_i}, class {_j}). "
                             "Hint: check the activation and pooling layers and their order.")
### END HIDDEN TESTS
''')


# ---------------------------------------------------------------------------------------
md("md-train", r"""
## 3. One epoch of training

An epoch is one pass over the training data. For each mini-batch `(X, y)` from the loader:

1. move `X` and `y` to `device` (the model must be there too: `model.to(device)`);
2. reset the gradients: `optimizer.zero_grad()` (why? see the question below);
3. forward pass: `logits = model(X)` and `loss = loss_fn(logits, y)`;
4. backward pass: `loss.backward()` computes the gradient of the loss for every parameter;
5. update: `optimizer.step()`.

Put the model in training mode first (`model.train()`: it matters for dropout and batch
normalisation). `loss_fn` returns the *mean* loss of a batch; return the mean loss per
**sample** over the whole epoch as a Python float: sum `loss.item() * len(y)` over the
batches and divide by the number of samples (batches can differ in size). Wrap the loader
in `progress(loader, desc="train")` to see a progress bar. `device=None` means CUDA when it
is available, else the CPU.
""")

md("md-predict-train", r"""
**Predict (graded, 1 point).** Suppose `train_one_epoch` forgot `optimizer.zero_grad()`.
With plain SGD, which gradient would the k-th `optimizer.step()` of the epoch use? Answer
with one letter in `answer_without_zero_grad`:

* `"A"`: the gradient of batch k only;
* `"B"`: the sum of the gradients of batches 1, 2, ..., k;
* `"C"`: the mean of the gradients of batches 1, 2, ..., k;
* `"D"`: none: the parameters do not change after the first step.
""")

solution("answers_train", r'''
# Replace None by your answer and delete the `raise NotImplementedError()` line.
answer_without_zero_grad = None
### BEGIN SOLUTION
answer_without_zero_grad = "B"      # backward() adds to .grad; only zero_grad() clears it
### END SOLUTION
''')

test("test_answer_zero_grad_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Measured on the reference: two backward passes without zero_grad leave the sum in .grad.
import torch as _torch
import solutions as ref
_torch.manual_seed(0)
_net = ref.LeNet5()
_xs, _ys = _torch.randn(2, 4, 1, 28, 28), _torch.randint(0, 10, (2, 4))
_grads = []
for _k in range(2):
    _net.zero_grad()
    _torch.nn.functional.cross_entropy(_net(_xs[_k]), _ys[_k]).backward()
    _grads.append(_net.features[0].weight.grad.clone())
_net.zero_grad()
for _k in range(2):
    _torch.nn.functional.cross_entropy(_net(_xs[_k]), _ys[_k]).backward()
_acc = _net.features[0].weight.grad
_want = "B" if _torch.allclose(_acc, _grads[0] + _grads[1], atol=1e-6) else "?"
_got = answer_without_zero_grad
assert _got is not None, 'answer_without_zero_grad is still None: write one letter, e.g. "A".'
assert isinstance(_got, str) and _got.strip().upper() in ("A", "B", "C", "D"), (
    f'answer_without_zero_grad should be one of the letters "A", "B", "C", "D", got {repr(_got)[:40]}.')
assert _got.strip().upper() == _want, (
    f"answer_without_zero_grad = {_got!r} is not right. Hint: what does loss.backward() do with a gradient "
    "already stored in p.grad? Try it: two backward passes on the same network without zero_grad, then "
    "compare p.grad with the gradient of each pass.")
### END HIDDEN TESTS
''')

solution("train_one_epoch", r'''
def train_one_epoch(model, loader, optimizer, loss_fn, device=None):
    """Train `model` for one pass over `loader`; return the mean loss per sample (float).

    loader yields (X, y): X (B, 1, 28, 28) float32, y (B,) int64.
    """
    ### BEGIN SOLUTION
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    model.train()
    total, n = 0.0, 0
    bar = progress(loader, desc="train", leave=False)
    for X, y in bar:
        X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
        bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
    return total / n
    ### END SOLUTION
''')

test("test_train_one_epoch_runs", 1, r'''
# Public test: one epoch of plain SGD (lr 0.1) on a small linear model, 40 samples in batches
# of 16, 16 and 8. The weights and the mean loss to expect are computed here by hand, in
# numpy: for each batch, the gradient of the batch's mean cross-entropy, then W -= lr * grad.
rng = np.random.default_rng(0)
W0 = (0.01 * rng.standard_normal((10, 784))).astype(np.float32)
b0 = (0.1 * rng.standard_normal(10)).astype(np.float32)
X = rng.standard_normal((40, 1, 28, 28)).astype(np.float32)
y = rng.integers(0, 10, 40).astype(np.int64)
res = run_student("""
import torch
from torch import nn
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
with torch.no_grad():
    model[1].weight.copy_(torch.from_numpy(W0))
    model[1].bias.copy_(torch.from_numpy(b0))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                                     batch_size=16)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss = train_one_epoch(model, loader, optimizer, nn.CrossEntropyLoss(), device="cpu")
result = {"loss": loss if isinstance(loss, float) else None, "type": type(loss).__name__,
          "W": model[1].weight.detach().cpu().numpy(), "b": model[1].bias.detach().cpu().numpy()}
""", W0=W0, b0=b0, X=X, y=y)


def sgd_epoch(W, b, reset=True):
    """Weights after one epoch, the mean loss per sample and the mean of the batch means.
    reset=False: the gradients are never reset (each step uses the sum of all so far)."""
    W, b = W.astype(np.float64), b.astype(np.float64)
    gW, gb, total, means = 0.0, 0.0, 0.0, []
    for i in range(0, len(y), 16):
        xb, yb = X[i:i + 16].reshape(-1, 784).astype(np.float64), y[i:i + 16]
        z = xb @ W.T + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(len(yb)), yb]).mean()
        total, means = total + loss * len(yb), means + [loss]
        p[np.arange(len(yb)), yb] -= 1                  # d(mean loss)/dz = (p - one_hot(y)) / B
        if reset:
            gW, gb = 0.0, 0.0
        gW, gb = gW + p.T @ xb / len(yb), gb + p.sum(axis=0) / len(yb)
        W, b = W - 0.1 * gW, b - 0.1 * gb
    return W, b, total / len(y), float(np.mean(means))


assert isinstance(res, dict) and {"loss", "type", "W", "b"} <= set(res), "the checked code returned no result."
assert res["loss"] is not None, (
    f"train_one_epoch should return the mean loss as a Python float, got a {res['type']}"
    + (": use loss.item() when you add up the batch losses." if res["type"] == "Tensor" else "."))
W1, b1, want_loss, mean_of_means = sgd_epoch(W0, b0)
W_acc, _, _, _ = sgd_epoch(W0, b0, reset=False)
for name, got in (("weight", res["W"]), ("bias", res["b"])):
    assert isinstance(got, np.ndarray) and got.dtype.kind == "f", f"the model's {name} could not be read."
    assert np.isfinite(got).all(), f"the {name} of the linear layer contains NaN or infinite values after training."
assert_shape(res["W"], W1.shape, name="the weight of the linear layer")
assert not (np.array_equal(res["W"], W0) and np.array_equal(res["b"], b0)), (
    "the weights did not change after an epoch: call loss.backward() and optimizer.step() for every batch.")
if not np.allclose(res["W"], W1, rtol=1e-4, atol=1e-6) and np.allclose(res["W"], W_acc, rtol=1e-4, atol=1e-6):
    raise AssertionError("the gradients are never reset: call optimizer.zero_grad() before each backward pass, "
                         "otherwise each step uses the sum of all gradients so far.")
hint = ("for each batch of the loader: optimizer.zero_grad(), forward, loss_fn, loss.backward(), optimizer.step(); "
        "train the model you are given, from the weights it holds, with the optimizer you are given.")
assert_close(res["W"], W1, rtol=1e-4, atol=1e-6, name="the weight after one epoch", axes=("class", "pixel"),
             hint=hint)
assert_close(res["b"], b1, rtol=1e-4, atol=1e-6, name="the bias after one epoch", hint=hint)
assert_close(res["loss"], want_loss, rtol=1e-5, atol=1e-7, name="the returned mean loss",
             mistakes={"the mean of the batch means (the last batch has 8 samples, not 16)": mean_of_means,
                       "each batch counted as a full batch of 16 (the last has 8 samples)": mean_of_means * 3 * 16 / 40,
                       "the sum of the batch losses": mean_of_means * 3},
             hint="add loss.item() * len(y) for each batch and divide by the number of samples.")
print("train_one_epoch: public test passed")
''')

test("test_train_one_epoch_hidden_matches_reference", 2, r'''
### BEGIN HIDDEN TESTS
# Same start, same batches, plain SGD: the weights after the student's epoch must match the
# reference loop's, run here in the grader (solutions.lenet.train_reference). Two starting
# weights chosen here: the result must follow them. The sandbox only trains (probe "train");
# what comes back is checked (LeNet-5's keys and shapes, floats, finite) before any use.
import numbers as _numbers
import torch as _torch
import solutions as ref
from solutions.lenet import checked_state, train_reference, assert_trained_like
_rng = np.random.default_rng(11)
_X = _rng.standard_normal((100, 1, 28, 28)).astype(np.float32)
_y = _rng.integers(0, 10, 100).astype(np.int64)
_fix = ("Hint: for each batch of the loader: optimizer.zero_grad(), forward, loss_fn, loss.backward(), "
        "optimizer.step(); train the model you are given, from its weights, with the optimizer you are given.")
for _seed in (11, 12):
    _torch.manual_seed(_seed)
    _state0 = checked_state({k: v.numpy() for k, v in ref.LeNet5().state_dict().items()}, whose="the grader")
    res = run_probe("train", state=_state0, X=_X, y=_y, batch_size=32, shuffle=False, seed=0,
                    optimizer="sgd", lr=0.1, epochs=1)
    assert isinstance(res, dict) and {"state", "reported", "calls"} <= set(res), "the probe train returned no result."
    _got_w = checked_state(res["state"], whose="your LeNet5 after train_one_epoch")
    _want_w, _losses, _batches = train_reference(_state0, _X, _y, optimizer="sgd", lr=0.1, batch_size=32)
    _steps = res["calls"].get("step") if isinstance(res["calls"], dict) else None
    if isinstance(_steps, _numbers.Integral) and not isinstance(_steps, bool) and _steps != 4:
        raise AssertionError(f"optimizer.step() was called {int(_steps)} times for the 4 batches of the loader: "
                             "call it once per batch. " + _fix)
    _acc_w, _, _ = train_reference(_state0, _X, _y, optimizer="sgd", lr=0.1, batch_size=32, zero_grad=False)
    try:
        assert_trained_like(_got_w, _state0, _acc_w, what="", hint="")
        _accumulates = True
    except AssertionError:
        _accumulates = False
    if _accumulates:
        raise AssertionError("the gradients are never reset: call optimizer.zero_grad() before each "
                             "backward pass, otherwise each step uses the sum of all gradients so far.")
    assert_trained_like(_got_w, _state0, _want_w, what="after one epoch of SGD (4 batches)", hint=_fix)
    _reported = res["reported"][0] if isinstance(res["reported"], list) and res["reported"] else None
    assert isinstance(_reported, float), (
        f"train_one_epoch should return the mean loss as a float, got {str(_reported)[:80]}.")
    assert np.isfinite(_reported), f"train_one_epoch returned {_reported}: the mean loss should be a finite number."
    if not abs(_reported - _losses[0]) <= 1e-4 * abs(_losses[0]) + 1e-6:
        _why = next((w for w, v in (("the mean of the batch means (the last batch has 4 samples, not 32)",
                                     float(np.mean(_batches))),
                                    ("the sum of the batch losses", float(np.sum(_batches))),
                                    ("the loss of the last batch only", _batches[-1]))
                     if abs(_reported - v) <= 1e-4 * abs(v) + 1e-6), None)
        raise AssertionError("the returned mean loss is not the mean loss per sample over the epoch"
                             + (f": it looks like {_why}." if _why else ".")
                             + " Hint: add loss.item() * len(y) for each batch and divide by the number of samples.")
### END HIDDEN TESTS
''')

test("test_train_one_epoch_hidden_loss_falls", 1, r'''
### BEGIN HIDDEN TESTS
# One epoch of the student's loop (Adam, 512 real digits in batches of 32) from weights chosen
# here. The grader computes the loss of the weights before and after on the same 512 digits
# (the losses train_one_epoch reports are not used), then checks that the weights are those
# of the reference loop from the same start (solutions.lenet.train_reference): weights that
# do not come from training the given ones earn nothing. Calibration (grader's loss after /
# before): the reference 0.44 here, 0.44-0.49 over 5 seeds; pass mark 0.7.
import torch as _torch
import solutions as ref
from solutions.lenet import checked_state, load_weights, mean_loss, train_reference, assert_trained_like
from autograder.tools.data import load_mnist as _load
(_xs, _ys), _ = _load(subset="small", verbose=False)
_X, _Y = _xs[512:1024], _ys[512:1024]
_torch.manual_seed(1)
_state0 = checked_state({k: v.numpy() for k, v in ref.LeNet5().state_dict().items()}, whose="the grader")
res = run_probe("train", state=_state0, X=_X, y=_Y, batch_size=32, shuffle=False, seed=0,
                optimizer="adam", lr=2e-3, epochs=1)
assert isinstance(res, dict) and "state" in res, "the probe train returned no result."
_got_w = checked_state(res["state"], whose="your LeNet5 after train_one_epoch")
_before = mean_loss(load_weights(_state0), _X, _Y)
_after = mean_loss(load_weights(_got_w), _X, _Y)
assert _after < 0.7 * _before, (
    f"after one epoch on 512 digits the loss on those digits (computed by the grader from your weights) "
    f"went from {_before:.4g} to {_after:.4g}; the reference about halves it (the pass mark is "
    f"{0.7 * _before:.3g}). Check that every batch calls zero_grad, backward and step.")
_want_w, _, _ = train_reference(_state0, _X, _Y, optimizer="adam", lr=2e-3, batch_size=32)
assert_trained_like(_got_w, _state0, _want_w, what="after one epoch of Adam on 512 digits",
                    hint="Train the model you are given, from the weights it holds, with the optimizer and "
                         "loss_fn you are given: one zero_grad, forward, backward and step per batch of the "
                         "loader, in its order; load no other weights.")
### END HIDDEN TESTS
''')


# ---------------------------------------------------------------------------------------
md("md-evaluate", r"""
## 4. Accuracy

`evaluate` returns the fraction of the loader's samples whose predicted class, the index of
the largest logit (`logits.argmax(dim=1)`), equals the label: a float between 0 and 1.
Evaluate in **evaluation mode** (`model.eval()`: dropout off, batch normalisation uses its
running statistics) and without building the autograd graph (`with torch.no_grad():`, or
decorate the function with `@torch.no_grad()`).
""")

solution("evaluate", r'''
def evaluate(model, loader, device=None):
    """Accuracy (a float in [0, 1]) of `model` on the (X, y) batches of `loader`."""
    ### BEGIN SOLUTION
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    model.eval()
    correct, n = 0, 0
    with torch.no_grad():
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            correct += (model(X).argmax(dim=1) == y).sum().item()
            n += len(y)
    return correct / n
    ### END SOLUTION
''')

test("test_evaluate_known_answer", 1, r'''
# Public test: a "model" whose prediction we know; 3 of 4 batches' labels match: accuracy 0.75.
acc = run_student("""
import torch
from torch import nn
class Known(nn.Module):
    def forward(self, X):                      # predicts the class stored in pixel (0, 0)
        return 5.0 * nn.functional.one_hot(X[:, 0, 0, 0].long(), 10).float() - 1.0
X = torch.zeros(40, 1, 28, 28)
X[:, 0, 0, 0] = torch.arange(40) % 10
y = (torch.arange(40) % 10).long()
y[30:] = (y[30:] + 1) % 10                    # the last 10 labels are wrong
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=10)
result = evaluate(Known(), loader, device="cpu")
result = float(result) if isinstance(result, (int, float)) else repr(result)
""")
assert isinstance(acc, float), f"evaluate should return a float, got {acc}."
assert_close(acc, 0.75, rtol=0, atol=1e-9, name="evaluate(...) on 40 samples with 30 right",
             mistakes={"the accuracy in percent": 75.0, "the number of correct samples": 30.0},
             hint="correct / total, a fraction between 0 and 1.")
print("evaluate: public test passed")
''')

test("test_evaluate_hidden_eval_mode", 1, r'''
### BEGIN HIDDEN TESTS
# A linear model with dropout: evaluate must switch it to eval mode. The expected accuracy
# is computed here from the weights; the probe only runs evaluate on them.
_rng = np.random.default_rng(7)
_W = _rng.standard_normal((10, 784)).astype(np.float32) * 0.05
_b = _rng.standard_normal(10).astype(np.float32) * 0.1
_X = _rng.standard_normal((300, 1, 28, 28)).astype(np.float32)
_pred = (_X.reshape(300, -1) @ _W.T + _b).argmax(axis=1)
_y = np.where(_rng.random(300) < 0.6, _pred, _rng.integers(0, 10, 300)).astype(np.int64)
_want = float((_pred == _y).mean())
res = run_probe("evaluate_linear", W=_W, b=_b, X=_X, y=_y, dropout=0.8, batch_size=64)
assert isinstance(res, dict) and {"accuracy", "grad"} <= set(res), "the probe evaluate_linear returned no result."
_acc = res["accuracy"]
assert isinstance(_acc, float) and np.isfinite(_acc), f"evaluate should return a float, got {str(_acc)[:80]}."
assert 0 <= _acc <= 1, f"evaluate returned {_acc:.4g}: the accuracy is a fraction between 0 and 1."
assert abs(_acc - _want) <= 1e-9, (
    f"evaluate(...) of a model with dropout returned {_acc:.4g}, not that model's accuracy in evaluation mode. "
    "Hint: call model.eval() first: in training mode dropout zeroes random outputs.")
assert res["grad"] is False, "evaluate should not compute gradients: wrap it in torch.no_grad()."
### END HIDDEN TESTS
''')

test("test_lenet_hidden_overfits", 2, r'''
### BEGIN HIDDEN TESTS
# LeNet5 + train_one_epoch must learn 128 digits by heart: 8 epochs of Adam (lr 5e-3, batches
# of 32 in a fixed order, 32 steps in all) from weights chosen here. The grader measures the
# accuracy of the returned weights itself, then checks they are those of the reference loop
# from the same start (solutions.lenet.train_reference): weights from elsewhere earn nothing.
# Calibration (the grader's accuracy on the 128 training images; other seeds: other images
# and initial weights): the reference 100% here and over 5 seeds; pass mark 95%. Caught here:
# no zero_grad, training on the first batch only, ReLU or max pooling in the classic network,
# softmax before the loss (by the accuracy or by the comparison with the reference); no step,
# no backward or zero_grad between backward and step.
import torch as _torch
import solutions as ref
from solutions.lenet import checked_state, load_weights, accuracy, train_reference, assert_trained_like
from autograder.tools.data import load_mnist as _load
(_xs, _ys), _ = _load(subset="small", verbose=False)
_X, _Y = _xs[256:384], _ys[256:384]
_torch.manual_seed(2)
_state0 = checked_state({k: v.numpy() for k, v in ref.LeNet5().state_dict().items()}, whose="the grader")
res = run_probe("train", state=_state0, X=_X, y=_Y, batch_size=32, shuffle=False, seed=0,
                optimizer="adam", lr=5e-3, epochs=8)
assert isinstance(res, dict) and "state" in res, "the probe train returned no result."
_got_w = checked_state(res["state"], whose="your LeNet5 after 8 epochs")
_acc = accuracy(load_weights(_got_w), _X, _Y)
assert _acc >= 0.95, (f"after 8 epochs on the same 128 images your weights label {_acc:.1%} of them "
                      "correctly (measured by the grader); LeNet-5 should learn them by heart (the "
                      "reference reaches 100%, the pass mark is 95%).")
_want_w, _, _ = train_reference(_state0, _X, _Y, optimizer="adam", lr=5e-3, batch_size=32, epochs=8)
assert_trained_like(_got_w, _state0, _want_w, what="after 8 epochs of Adam on 128 digits",
                    hint="Each call of train_one_epoch trains the model it is given, from the weights it "
                         "holds, with the optimizer and loss_fn it is given: one zero_grad, forward, backward and "
                         "step per batch of the loader, in its order; load no other weights.")
### END HIDDEN TESTS
''')

test("test_lenet_hidden_trains", 3, r'''
### BEGIN HIDDEN TESTS
# Short fixed training: one epoch of the student's loop on 2,000 small-subset images (Adam,
# lr 2e-3, batches of 32 in a fixed order, weights initialised here, one thread). The grader
# loads the returned weights into the reference LeNet-5 and measures the accuracy on 1,000
# MNIST test images the sandbox never sees, then checks the weights are those of the
# reference loop from the same start (solutions.lenet.train_reference): weights trained
# elsewhere earn nothing. Calibration: the reference 87.9% here, 85.1-88.5% over 5 starting
# weights and both halves of the subset; pass mark 82%. Caught here: max pooling or ReLU in
# the classic network, no zero_grad, first batch only, no step/backward (by the accuracy or
# by the comparison with the reference).
import torch as _torch
import solutions as ref
from solutions.lenet import checked_state, load_weights, accuracy, train_reference, assert_trained_like
from autograder.tools.data import load_mnist as _load
(_xs, _ys), _ = _load(subset="small", verbose=False)
_, (_xt, _yt) = _load(verbose=False)
_idx = np.random.default_rng(5).choice(len(_xt), 1000, replace=False)
_torch.manual_seed(3)
_state0 = checked_state({k: v.numpy() for k, v in ref.LeNet5().state_dict().items()}, whose="the grader")
res = run_probe("train", state=_state0, X=_xs[2000:4000], y=_ys[2000:4000], batch_size=32, shuffle=False, seed=0,
                optimizer="adam", lr=2e-3, epochs=1)
assert isinstance(res, dict) and "state" in res, "the probe train returned no result."
_got_w = checked_state(res["state"], whose="your LeNet5 after train_one_epoch")
_acc = accuracy(load_weights(_got_w), _xt[_idx], _yt[_idx])
assert _acc >= 0.82, (f"after one epoch on 2,000 images your weights label {_acc:.1%} of 1,000 new digits "
                      f"correctly (measured by the grader); the reference reaches about 88%, the pass mark "
                      f"is 82%.")
_want_w, _, _ = train_reference(_state0, _xs[2000:4000], _ys[2000:4000], optimizer="adam", lr=2e-3, batch_size=32)
assert_trained_like(_got_w, _state0, _want_w, what="after one epoch of Adam on 2,000 digits",
                    hint="Train the model you are given, from the weights it holds, with the optimizer and "
                         "loss_fn you are given: one zero_grad, forward, backward and step per batch of the "
                         "loader, in its order; load no other weights.")
### END HIDDEN TESTS
''')


# ---------------------------------------------------------------------------------------
md("md-fit", r"""
## 5. Training

Now train the network. The cell below builds the model, the optimizer (Adam, learning rate
`lr`) and the loss, then alternates `train_one_epoch` and `evaluate`, storing the numbers
in `history` (the training accuracy is measured on the first 10,000 training images, to
save time). On a laptop CPU one epoch over the 60,000 images takes 10-30 seconds; with a
GPU, `device` is `cuda` and it is much faster. Four epochs reach about 98.5% test accuracy.
In fast mode (`CNN_COURSE_FAST=1`) it runs a single epoch on the small subset. Complete it
and run it.
""")

solution("fit", r'''
EPOCHS = 1 if FAST else 4
lr = 1e-3
device = "cuda" if torch.cuda.is_available() else "cpu"
print("training on", device)
train_loader = make_loader(x_train, y_train, batch_size=64, shuffle=True, seed=0)
train_eval_loader = make_loader(x_train[:10000], y_train[:10000], batch_size=1000)
test_loader = make_loader(x_test, y_test, batch_size=1000)
torch.manual_seed(0)
history = {"train_loss": [], "train_accuracy": [], "test_accuracy": []}
# Build `model` (a LeNet5 on `device`), `optimizer` (torch.optim.Adam with learning rate lr)
# and `loss_fn` (nn.CrossEntropyLoss()). Then, for each of the EPOCHS epochs (loop over
# progress(range(EPOCHS)) to see a bar), train one epoch and append the mean loss and the
# training and test accuracies to the lists in `history`.
### BEGIN SOLUTION
model = LeNet5().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.CrossEntropyLoss()
for epoch in progress(range(EPOCHS), desc="epochs"):
    history["train_loss"].append(train_one_epoch(model, train_loader, optimizer, loss_fn, device))
    history["train_accuracy"].append(evaluate(model, train_eval_loader, device))
    history["test_accuracy"].append(evaluate(model, test_loader, device))
    print(f"epoch {epoch + 1}: loss {history['train_loss'][-1]:.4f}, "
          f"test accuracy {history['test_accuracy'][-1]:.2%}")
### END SOLUTION
''')

md("md-curves", r"""
## 6. What did it learn?

**Training curves.** Plot `history` with `plot_history`: the loss should fall and the two
accuracies rise together. A training accuracy far above the test accuracy is overfitting.
""")

solution("plot-curves", r'''
# Draw the curves stored in `history`.
### BEGIN SOLUTION
plot_history(history);
### END SOLUTION
''')

md("md-confusion", r"""
**Confusion matrix.** Predict the test images' classes (collect `model(X).argmax(dim=1)`
over `test_loader` in eval mode) and draw `plot_confusion_matrix(y_true, y_pred)`. Which
digits does the network confuse most? Show a few misclassified test images with
`show_images(images, labels, preds=...)` (wrong predictions are titled in red).
""")

solution("plot-confusion", r'''
# Predict every test image (y_pred, a numpy array of shape (len(x_test),)), draw the
# confusion matrix, then show up to 16 misclassified test images with their predictions.
### BEGIN SOLUTION
def predict_labels(model, loader, device):
    """Predicted classes (N,) int64 of every (X, y) batch of `loader`, in eval mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(X.to(device)).argmax(dim=1).cpu() for X, _ in loader]).numpy()


y_pred = predict_labels(model, test_loader, device)
plot_confusion_matrix(y_test, y_pred);
print(f"{np.sum(y_pred != y_test)} of {len(y_test)} test images are misclassified")
show_images(x_test[y_pred != y_test][:16], y_test[y_pred != y_test][:16], preds=y_pred[y_pred != y_test][:16],
            title="misclassified: predicted (true)");
### END SOLUTION
''')

md("md-filters", r"""
**Filters and feature maps.** C1's weights `model.features[0].weight` have shape
`(6, 1, 5, 5)`: six 5 x 5 filters. Draw them with `show_filters`. Then take one test digit,
run it through the first stages (`model.features[:2]` is C1 + tanh, `model.features[:3]`
adds S2, and so on: slicing an `nn.Sequential` gives a smaller one) and draw the maps with
`show_feature_maps({"C1": ..., "S2": ..., "C3": ..., "S4": ..., "C5": ...})`.
Which filters look like edge detectors, and in which direction?
""")

solution("plot-filters", r'''
# Show C1's six filters, then the feature maps of the first test image after C1, S2, C3,
# S4 and C5 (normalise it with preprocess first and move it to `device`).
### BEGIN SOLUTION
show_filters(model.features[0].weight, title="C1: the 6 learned 5x5 filters");
digit = preprocess(x_test[:1]).to(device)
with torch.no_grad():
    maps = {name: model.features[:end](digit).cpu() for name, end in
            (("C1", 2), ("S2", 3), ("C3", 5), ("S4", 6), ("C5", 8))}
show_feature_maps(maps, title=f"feature maps of a test digit (label {y_test[0]})");
### END SOLUTION
''')

md("md-question", r"""
## 7. Question (graded by hand, 2 points)

LeNet-5 used tanh and average pooling; most CNNs since AlexNet (2012) use ReLU and max
pooling. In a few sentences each: (a) why does ReLU usually train faster than tanh in a
deep network? (b) what does max pooling keep that average pooling blurs, and what do both
buy the network? Optionally train `LeNet5(modern=True)` with the same budget and compare.
""")

answer("answer_tanh_relu_pooling", 2, r"""
### BEGIN SOLUTION
(a) tanh saturates: for inputs far from 0 its slope is almost 0, so gradients shrink as they
are multiplied layer after layer on the way back (vanishing gradients) and the early layers
learn slowly. ReLU's slope is exactly 1 for every positive input, so gradients pass through
unchanged; it is also cheaper to compute, and its zeros make activations sparse. (Its risk:
units stuck at 0, "dead ReLUs".)

(b) Max pooling keeps the strongest response in each window: whether a feature (an edge, a
stroke end) is present somewhere in it, at full strength. Average pooling mixes the response
with its weaker neighbours, so a sharp, local feature is diluted. Both shrink the maps (4x
fewer values for 2x2 windows: less computation and fewer parameters later) and make the
output tolerant to small shifts of the input.
### END SOLUTION
""")

md("md-end", r"""
## Done?

Run the whole notebook from the top (*Kernel -> Restart & Run All*) and check that every
public test prints "passed". From a terminal, `cnn-course check ps3_lenet.ipynb` runs the
public tests the way the grader does and lists the hidden tests still to come.
""")


# ---------------------------------------------------------------------------------------
build = NB.build


if __name__ == "__main__":
    sys.exit(NB.main(sys.argv[1:], OUT))
