"""Builds ps2_shapes.ipynb, the instructor source of problem set 2 (nbgrader schema 3).

Run ``.venv/bin/python solutions/ps2_shapes/build_notebook.py`` after editing the cells
below, then ``.venv/bin/cnn-course release ps2_shapes``. tests/exercises/test_ps2_notebook.py checks
that the committed notebook is what this script writes. Cell ids are fixed (grade_id, or
the cell's position) so that rebuilding changes only what was edited.
"""
import re
from pathlib import Path


import solutions.shapes as shapes_ref
from autograder.authoring import NotebookSource, code_of

OUT = Path(__file__).with_name("ps2_shapes.ipynb")
NB = NotebookSource(dedent=False)
cells = NB.cells


def _slug(text, prefix, line=0):
    """A stable cell id from the words of one line of the cell (inserting a cell renames no other)."""
    words = re.findall(r"[a-z0-9]+", text.strip().splitlines()[line].lower())
    return prefix + "-" + "-".join(w for w in words if not w.isdigit())[:40].strip("-")


def md(text):
    NB.md(_slug(text, "md"), text)


def code(text, **nb):
    meta = {"schema_version": 3, "grade": False, "solution": False, "locked": False, "task": False}
    meta.update(nb)
    NB.code(nb.get("grade_id") or _slug(text, "demo", line=-1), text, meta)


def setup(text, grade_id):
    code(text, grade_id=grade_id, locked=True)


def solution(text, grade_id):
    code(text, grade_id=grade_id, solution=True)


def test(text, grade_id, points):
    code(text, grade_id=grade_id, grade=True, locked=True, points=points)


def hidden(text, grade_id, points):
    test("### BEGIN HIDDEN TESTS\n" + text.strip("\n") + "\n### END HIDDEN TESTS", grade_id, points)


build = NB.build


# =============================================================================== the cells
md(r'''
# Problem set 2: shapes and parameter counts

Before a convolutional network trains, two questions decide whether it can work at all:
*what shape does every layer output?* and *how many numbers does it have to learn?*
Keras answers both in `model.summary()`. In this problem set you compute the same table
yourself, from the formulas of the lectures, in plain Python — and then use it to answer
questions about real networks (LeNet-5, AlexNet, VGG16). The lectures are this course's
notebooks in `course/`, named by file below (`course/02_padding_stride_shapes.ipynb` for the formulas,
`course/04_mnist_cnn_keras.ipynb` for the Keras models, `course/06_architectures.ipynb` for the famous networks).

**How this notebook is graded.** You write the bodies of the functions marked
`# YOUR CODE HERE`. The cells after each function are tests: the visible ones you can run
now; the empty ones are hidden tests that the grader runs on other inputs (random networks,
real Keras and PyTorch models), so code that only works on the examples will lose points.
Keep the names and signatures as given. Do not use Keras, TensorFlow or PyTorch inside the
graded functions (the grader treats that as not doing the exercise): the point is to know
the formulas well enough to predict what the frameworks will say.

Conventions used throughout (the same as Keras):

* a shape is a tuple of ints **without the batch axis**, **channels last**: an image batch
  that Keras shows as `(None, 26, 26, 32)` is written `(26, 26, 32)` here, i.e. `(H, W, C)`;
  after flattening it is `(n,)`;
* a network is a list of **layer dicts**, such as
  `{"type": "conv", "filters": 32, "kernel_size": 3, "activation": "relu"}`.

**Run time.** The whole notebook, completed, runs in full mode (there is no other:
`CNN_COURSE_FAST` changes nothing here) in about 0.5 min: measured 31 s on 2 CPU cores of a
shared machine under load, with the instructor's solutions.
''')

setup('''
import numpy as np
from autograder.tools import assert_equal, assert_raises
''', "setup")

md(r'''
Two helpers you may use (run the cell; it is read-only): `as_pair` turns an int or a pair
into a pair `(along H, along W)`, and `show_summary` prints the result of your `summarize`
(Part 4) as a table like Keras does.
''')

setup('''
def as_pair(v):
    """3 -> (3, 3); (3, 5) -> (3, 5); [3, 5] -> (3, 5)."""
    if isinstance(v, (tuple, list)):
        return (v[0], v[1])
    return (v, v)


def show_summary(summary):
    """Print {"rows": [(name, shape, params), ...], "total", "trainable", "non_trainable"} as a table."""
    print(f"{'Layer':<24}{'Output shape':<22}{'Param #':>12}")
    print("=" * 58)
    for name, shape, params in summary["rows"]:
        print(f"{name:<24}{str((None, *shape)):<22}{params:>12,}")
    print("=" * 58)
    print(f"Total params: {summary['total']:,}")
    print(f"Trainable params: {summary['trainable']:,}")
    print(f"Non-trainable params: {summary['non_trainable']:,}")
''', "helpers")

md(r'''
## Part 1 — the size of one axis

A kernel of width $k$ sliding with stride $s$ over an axis of length $n$ padded with $p$
zeros on each side takes

$$ n_{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1 $$

positions: the first window starts at 0, the last one at most at $n + 2p - k$, and there is
one window every $s$ steps. (`course/02_padding_stride_shapes.ipynb` derives it. One of the source transcripts the course
is built on writes $(n + 2p - f)/s$; without the $+1$ and the floor that gives 62x24
instead of the correct **63x25** for a 125x49 input with $k=5$, $p=2$, $s=2$.)

When $(n + 2p - k)/s$ is not a whole number, the floor silently drops the last rows or
columns: in `course/02_padding_stride_shapes.ipynb`, a 3x3 kernel with stride 3 "does not fit" a 7x7 input. Keras and
PyTorch accept it anyway and return 2. Your function does the same, but with
`exact=True` it raises a `ValueError` instead.

Padding can also be given as a word, as in Keras:

* `"valid"` means no padding ($p = 0$);
* `"same"` means "pad so that, with stride 1, the output has the input's size". With stride
  $s$ Keras/TensorFlow returns $\lceil n / s \rceil$ positions, whatever $k$ is (when the
  padding it needs is odd, TensorFlow puts the extra zero at the bottom/right; PyTorch's
  integer padding is always symmetric and its `padding="same"` refuses stride > 1).

This is the same `conv_output_size` as in problem set 1.
''')

solution('''
def conv_output_size(n, k, p=0, s=1, exact=False):
    """Number of positions of a k-wide kernel along an axis of length n.

    n: input length (int >= 1); k: kernel size (int >= 1); s: stride (int >= 1);
    p: zero padding on each side (int >= 0), or "valid" (p = 0) or "same" (ceil(n / s)).
    Returns floor((n + 2p - k) / s) + 1 as an int (ceil(n / s) for "same").
    Raises ValueError when the kernel is larger than the padded input (n + 2p < k),
    when p is not an int >= 0, "valid" or "same", and, with exact=True, when
    (n + 2p - k) / s is not a whole number (the kernel does not fit).
    """
    ### BEGIN SOLUTION
    if p == "same":
        return -(-n // s)
    if p == "valid":
        p = 0
    if isinstance(p, bool) or not isinstance(p, int) or p < 0:
        raise ValueError(f"p must be an int >= 0, 'valid' or 'same', got {p!r}")
    span = n + 2 * p
    if k > span:
        raise ValueError(f"the kernel (k={k}) is larger than the padded input (n + 2p = {span})")
    if exact and (span - k) % s != 0:
        raise ValueError(f"the kernel does not fit: (n + 2p - k) / s = ({span} - {k}) / {s} is not a whole number")
    return (span - k) // s + 1
    ### END SOLUTION
''', "conv_output_size")

test('''
# course/02_padding_stride_shapes.ipynb: 7x7 input, 3x3 kernel
assert_equal(conv_output_size(7, 3), 5, name="conv_output_size(7, 3)",
             mistakes={"the +1 is missing": 4, "the result is rounded up": 6})
assert_equal(conv_output_size(7, 3, s=2), 3, name="conv_output_size(7, 3, s=2)")
assert_equal(conv_output_size(7, 3, s=3), 2, name="conv_output_size(7, 3, s=3)",
             hint="without exact=True the last column is dropped: floor((7 - 3) / 3) + 1 = 2")
assert_equal(conv_output_size(7, 3, p=1), 7, name="conv_output_size(7, 3, p=1)")
assert_equal(conv_output_size(8, 3, p=1), 8, name="conv_output_size(8, 3, p=1)")
assert_equal(conv_output_size(32, 5, p=2), 32, name="conv_output_size(32, 5, p=2)")
assert_equal(conv_output_size(28, 5), 24, name="conv_output_size(28, 5)")
# the 125x49 example (the source transcript's 62x24 misses the +1 and the floor)
assert_equal(conv_output_size(125, 5, p=2, s=2), 63, name="conv_output_size(125, 5, p=2, s=2)",
             mistakes={"the +1 is missing": 62})
assert_equal(conv_output_size(49, 5, p=2, s=2), 25, name="conv_output_size(49, 5, p=2, s=2)",
             mistakes={"the +1 is missing": 24})
print("The formula agrees with the lecture's examples.")
''', "test_conv_output_size_seeds", 1)

test('''
# padding words, as in Keras
assert_equal(conv_output_size(28, 3, p="valid"), 26, name='conv_output_size(28, 3, p="valid")')
assert_equal(conv_output_size(28, 5, p="same"), 28, name='conv_output_size(28, 5, p="same")')
assert_equal(conv_output_size(224, 11, p="same", s=4), 56, name='conv_output_size(224, 11, p="same", s=4)',
             hint='"same" gives ceil(n / s) = ceil(224 / 4)', mistakes={"the result is floored": 54})
assert_equal(conv_output_size(7, 2, p="same", s=2), 4, name='conv_output_size(7, 2, p="same", s=2)',
             hint="ceil(7 / 2) = 4", mistakes={"the result is floored (7 // 2)": 3})
# exact=True: the kernel must tile the padded input
assert_raises(ValueError, conv_output_size, 7, 3, s=3, exact=True,
              because="(7 - 3) / 3 is not a whole number: a 3x3 kernel with stride 3 does not fit a 7x7 input")
assert_equal(conv_output_size(7, 3, s=2, exact=True), 3, name="conv_output_size(7, 3, s=2, exact=True)")
assert_equal(conv_output_size(227, 11, s=4, exact=True), 55, name="conv_output_size(227, 11, s=4, exact=True)")
assert_raises(ValueError, conv_output_size, 5, 7,
              because="a 7-wide kernel is larger than a 5-wide input without padding")
print("Padding words and exact=True work.")
''', "test_conv_output_size_padding_exact", 1)

hidden('''
import solutions as ref
rng = np.random.default_rng(20240602)
for _ in range(300):
    n, k, s = int(rng.integers(1, 40)), int(rng.integers(1, 8)), int(rng.integers(1, 5))
    p = [0, 1, 2, 3, "valid", "same"][int(rng.integers(0, 6))]
    exact = bool(rng.random() < 0.3)
    call = f"conv_output_size({n}, {k}, p={p!r}, s={s}, exact={exact})"
    try:
        want = ref.conv_output_size(n, k, p, s, exact)
    except ValueError as exc:
        assert_raises(ValueError, conv_output_size, n, k, p, s, exact, because=f"{call}: {exc}")
        continue
    assert_equal(conv_output_size(n, k, p, s, exact), want, name=call)
assert_raises(ValueError, conv_output_size, 10, 3, "full", 1, because="'full' is not a padding this function knows")
''', "test_conv_output_size_random", 1)

md(r'''
## Part 2 — the output shape of one layer

A layer is a dict with a `"type"` and the arguments the matching Keras layer takes
(missing optional keys take the default shown):

| `type` | keys (defaults) | Keras layer | output shape for input `(H, W, C)` |
|---|---|---|---|
| `"conv"` | `filters`, `kernel_size`, `strides=1`, `padding="valid"`, `use_bias=True` | `Conv2D` | `(H', W', filters)` |
| `"pool"` | `pool_size`, `strides=None` (= `pool_size`), `padding="valid"`, `mode="max"` (or `"avg"`) | `MaxPooling2D` / `AveragePooling2D` | `(H', W', C)` |
| `"flatten"` | | `Flatten` | `(H * W * C,)` |
| `"dense"` | `units`, `use_bias=True` | `Dense` | `(units,)` for input `(n,)`; `(H, W, units)` for `(H, W, C)` |
| `"dropout"` | `rate=0.5` | `Dropout` | unchanged |
| `"batchnorm"` | | `BatchNormalization` | unchanged |

* `kernel_size`, `strides` and `pool_size` are an int or a pair `(along H, along W)`.
* `padding` is `"valid"` or `"same"` for both conv and pool; a conv layer may also give
  the number of zeros added on each side, an int `p` or a pair `(ph, pw)`. Some paddings have
  no Keras word: torchvision's AlexNet pads its first layer (11x11 kernels, stride 4) by 2 on
  every side of a 224x224 input and gets 55x55, where `"valid"` gives 54 and `"same"` gives 56
  (TensorFlow adds 3 zero rows on top and 4 at the bottom there).
* $H'$ and $W'$ come from `conv_output_size`, one axis at a time. Pooling is a window
  sliding like a kernel, so the same formula applies.
* `Dense` applied to an image acts on its last axis (every pixel's channel vector goes
  through the same weights), exactly as Keras does.
* Any other key (for example `"activation": "relu"` or `"rate"`) changes no shape: ignore it.

When the layer cannot be applied, raise a `ValueError` whose message names the layer's
type (e.g. `"conv"`) and what is wrong: an unknown `type`, a missing required key (name the
key), an output size below 1 (a kernel or pool larger than the padded input), or a conv or
pool layer whose input is not an image `(H, W, C)`.
''')

solution('''
def layer_output_shape(input_shape, layer):
    """Output shape of one layer, without the batch axis.

    input_shape: (H, W, C) or (n,), a tuple of ints, channels last.
    layer: a layer dict, see the table above.
    Returns a tuple of ints: (H', W', filters) for conv, (H', W', C) for pool, (H*W*C,) for
    flatten, input_shape[:-1] + (units,) for dense, input_shape for dropout and batchnorm.
    Raises ValueError (naming the layer type) for an unknown type, a missing key, an
    output size below 1, or a conv/pool layer on a non-image input.
    """
    ### BEGIN SOLUTION
    kind = layer.get("type")
    shape = tuple(input_shape)
    required = {"conv": ["filters", "kernel_size"], "pool": ["pool_size"], "dense": ["units"],
                "flatten": [], "dropout": [], "batchnorm": []}
    if kind not in required:
        raise ValueError(f"unknown layer type {kind!r}; expected one of {sorted(required)}")
    for key in required[kind]:
        if key not in layer:
            raise ValueError(f"the {kind} layer is missing the key {key!r}")
    if kind in ("conv", "pool"):
        if len(shape) != 3:
            raise ValueError(f"a {kind} layer needs an image input (H, W, C), got {shape}")
        H, W, C = shape
        if kind == "conv":
            kh, kw = as_pair(layer["kernel_size"])
            sh, sw = as_pair(layer.get("strides", 1))
        else:
            kh, kw = as_pair(layer["pool_size"])
            strides = layer.get("strides")
            sh, sw = as_pair(layer["pool_size"] if strides is None else strides)
        padding = layer.get("padding", "valid")
        ph, pw = (padding, padding) if isinstance(padding, str) else as_pair(padding)
        try:
            out_h = conv_output_size(H, kh, ph, sh)
            out_w = conv_output_size(W, kw, pw, sw)
        except ValueError as exc:
            raise ValueError(f"{kind} layer: output size below 1 on input {shape} ({exc})") from None
        return (out_h, out_w, layer["filters"] if kind == "conv" else C)
    if kind == "flatten":
        return (int(np.prod(shape)),)
    if kind == "dense":
        return shape[:-1] + (layer["units"],)
    return shape
    ### END SOLUTION
''', "layer_output_shape")

test('''
# the practice network of course/02_padding_stride_shapes.ipynb: 128x128x3 -> conv -> max pool -> conv
conv1 = {"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5}
pool = {"type": "pool", "pool_size": 2}
conv2 = {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "padding": 2}
assert_equal(layer_output_shape((128, 128, 3), conv1), (26, 26, 5), name="shape after conv1")
assert_equal(layer_output_shape((26, 26, 5), pool), (13, 13, 5), name="shape after the 2x2 max pooling")
assert_equal(layer_output_shape((13, 13, 5), conv2), (7, 7, 3), name="shape after conv2 (pad 2, stride 2)")
# course/02_padding_stride_shapes.ipynb: 32x32x3 with ten 5x5x3 kernels, pad 2 (or "same"); 28x28x3 valid
ten = {"type": "conv", "filters": 10, "kernel_size": 5}
assert_equal(layer_output_shape((32, 32, 3), {**ten, "padding": 2}), (32, 32, 10), name="32x32x3, pad 2")
assert_equal(layer_output_shape((32, 32, 3), {**ten, "padding": "same"}), (32, 32, 10), name='32x32x3, "same"')
assert_equal(layer_output_shape((28, 28, 3), ten), (24, 24, 10), name="28x28x3, valid")
# the Keras MNIST model of course/04_mnist_cnn_keras.ipynb
assert_equal(layer_output_shape((28, 28, 1), {"type": "conv", "filters": 32, "kernel_size": (3, 3), "activation": "relu"}),
             (26, 26, 32), name="MNIST conv2d")
assert_equal(layer_output_shape((12, 12, 64), {"type": "flatten"}), (9216,), name="MNIST flatten")
# AlexNet's first layer as torchvision pads it (course/06_architectures.ipynb): 2 zeros on each side
assert_equal(layer_output_shape((224, 224, 3), {"type": "conv", "filters": 96, "kernel_size": 11, "strides": 4,
                                                "padding": 2}), (55, 55, 96), name="224x224x3, 11x11, stride 4, pad 2",
             hint="an int padding adds that many zeros on every side: (224 + 2 * 2 - 11) // 4 + 1")
assert_equal(layer_output_shape((9216,), {"type": "dense", "units": 128}), (128,), name="MNIST dense")
print("The lectures' layers have the right shapes.")
''', "test_layer_output_shape_seeds", 2)

test('''
x = (10, 9, 4)   # not square, on purpose
assert_equal(layer_output_shape(x, {"type": "conv", "filters": 2, "kernel_size": (3, 2), "strides": (2, 3)}), (4, 3, 2),
             name="conv with kernel (3, 2) and strides (2, 3)", hint="each axis has its own kernel size and stride")
assert_equal(layer_output_shape(x, {"type": "conv", "filters": 2, "kernel_size": 4, "strides": 3, "padding": "same"}),
             (4, 3, 2), name='conv "same" with stride 3', hint='"same" gives ceil(n / s) on each axis')
assert_equal(layer_output_shape(x, {"type": "conv", "filters": 2, "kernel_size": 3, "padding": (0, 1)}), (8, 9, 2),
             name="conv with padding (0, 1)")
assert_equal(layer_output_shape(x, {"type": "pool", "pool_size": 3}), (3, 3, 4), name="3x3 pool",
             hint="the strides of a pool default to its pool_size")
assert_equal(layer_output_shape(x, {"type": "pool", "pool_size": 3, "strides": 1}), (8, 7, 4), name="3x3 pool, stride 1")
assert_equal(layer_output_shape(x, {"type": "pool", "pool_size": 3, "padding": "same", "mode": "avg"}), (4, 3, 4),
             name='3x3 average pool "same"')
assert_equal(layer_output_shape(x, {"type": "flatten"}), (360,), name="flatten of (10, 9, 4)")
assert_equal(layer_output_shape(x, {"type": "dense", "units": 5}), (10, 9, 5), name="dense on an image",
             hint="Dense acts on the last axis")
assert_equal(layer_output_shape(x, {"type": "dropout", "rate": 0.3}), x, name="dropout")
assert_equal(layer_output_shape(x, {"type": "batchnorm"}), x, name="batchnorm")
assert_equal(layer_output_shape((7,), {"type": "batchnorm"}), (7,), name="batchnorm on a vector")
print("Every layer type has the right shape.")
''', "test_layer_output_shape_each_type", 2)

test('''
assert_raises(ValueError, layer_output_shape, (28, 28, 1), {"type": "lstm", "units": 8}, match="lstm",
              because="'lstm' is not a layer type of this problem set")
assert_raises(ValueError, layer_output_shape, (28, 28, 1), {"type": "conv", "kernel_size": 3}, match="filters",
              because="the conv layer has no 'filters' key")
assert_raises(ValueError, layer_output_shape, (5, 5, 1), {"type": "conv", "filters": 2, "kernel_size": 7}, match="conv",
              because="a 7x7 kernel does not fit a 5x5 input without padding (output size below 1)")
assert_raises(ValueError, layer_output_shape, (100,), {"type": "pool", "pool_size": 2}, match="pool",
              because="pooling needs an image (H, W, C), not a flat vector")
print("Bad layers raise ValueError.")
''', "test_layer_output_shape_errors", 1)

hidden('''
import solutions as ref
from solutions.shapes import random_architecture as ref_random_architecture
rng = np.random.default_rng(314159)
checked = 0
for _ in range(40):
    shape, layers = ref_random_architecture(rng)
    for layer in layers:
        want = ref.layer_output_shape(shape, layer)
        assert_equal(layer_output_shape(shape, layer), want, name=f"layer_output_shape({shape}, {layer})")
        shape = want
        checked += 1
assert checked > 150, checked
''', "test_layer_output_shape_random", 3)

hidden('''
cases = [
    ((12, 30, 3), {"type": "conv", "filters": 2, "kernel_size": (3, 31)}, ["conv"]),
    ((30, 12, 3), {"type": "pool", "pool_size": (31, 2)}, ["pool"]),
    ((8, 8, 3), {"type": "pool", "pool_size": 2, "strides": 1, "padding": "valid", "mode": "avg"}, None),
    ((8, 8, 3), {"type": "dense"}, ["units"]),
    ((8, 8, 3), {"type": "pool", "strides": 2}, ["pool_size"]),
    ((8, 8, 3), {"type": "conv", "filters": 4}, ["kernel_size"]),
    ((8, 8, 3), {"type": "convolution", "filters": 4, "kernel_size": 3}, ["convolution"]),
    ((64,), {"type": "conv", "filters": 4, "kernel_size": 1}, ["conv"]),
]
for shape, layer, words in cases:
    if words is None:
        assert_equal(layer_output_shape(shape, layer), (7, 7, 3), name=f"layer_output_shape({shape}, {layer})")
    else:
        assert_raises(ValueError, layer_output_shape, shape, layer, match=words,
                      because=f"{layer} cannot be applied to an input of shape {shape}")
''', "test_layer_output_shape_errors_hidden", 1)

md(r'''
## Part 3 — the parameters of one layer

Only layers with weights have parameters:

* **conv**: each of the `filters` kernels is $k_h \times k_w \times C$ (it spans every input
  channel), plus one bias per kernel: $k_h k_w C F + F$. In `course/02_padding_stride_shapes.ipynb`, ten 5x5x3 kernels have
  $10 \cdot (75 + 1) = 760$ parameters.
* **dense**: a weight from every input to every unit plus one bias per unit:
  $n \cdot units + units$, where $n$ is the size of the **last** axis of the input.
* `use_bias=False` drops the bias terms.
* **batchnorm** keeps four numbers per channel $C$ (the last axis): a scale $\gamma$ and a
  shift $\beta$, learned by gradient descent (**trainable**), and a moving mean and a moving
  variance, updated by averaging during training (**non-trainable**: Keras counts them in
  the total but not in the trainable parameters).
* pooling, flatten and dropout have no parameters.

`layer_param_count` returns the pair `(trainable, non_trainable)`.
''')

solution('''
def layer_param_count(input_shape, layer):
    """Parameters of one layer applied to an input of shape (H, W, C) or (n,).

    Returns (trainable, non_trainable), two ints:
    conv: (kh * kw * C * filters + filters, 0), without the "+ filters" when use_bias is False;
    dense: (C * units + units, 0) with C = input_shape[-1] (same rule for use_bias);
    batchnorm: (2 * C, 2 * C); pool, flatten and dropout: (0, 0).
    Raises ValueError for an unknown layer type (naming it) or a missing key.
    """
    ### BEGIN SOLUTION
    kind = layer.get("type")
    C = input_shape[-1]
    if kind == "conv":
        if "filters" not in layer or "kernel_size" not in layer:
            raise ValueError("the conv layer needs the keys 'filters' and 'kernel_size'")
        kh, kw = as_pair(layer["kernel_size"])
        F = layer["filters"]
        return (kh * kw * C * F + (F if layer.get("use_bias", True) else 0), 0)
    if kind == "dense":
        if "units" not in layer:
            raise ValueError("the dense layer is missing the key 'units'")
        units = layer["units"]
        return (C * units + (units if layer.get("use_bias", True) else 0), 0)
    if kind == "batchnorm":
        return (2 * C, 2 * C)
    if kind in ("pool", "flatten", "dropout"):
        return (0, 0)
    raise ValueError(f"unknown layer type {kind!r}")
    ### END SOLUTION
''', "layer_param_count")

test('''
conv1 = {"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5}
conv2 = {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "padding": 2}
# the practice network of course/02_padding_stride_shapes.ipynb: 5 kernels 3x3x3, then 3 kernels 5x5x5
assert_equal(layer_param_count((128, 128, 3), conv1), (140, 0), name="conv1 parameters (with bias)",
             mistakes={"the biases are missing": (135, 0)})
assert_equal(layer_param_count((128, 128, 3), {**conv1, "use_bias": False}), (135, 0), name="conv1 weights without bias",
             mistakes={"use_bias=False is ignored": (140, 0)})
assert_equal(layer_param_count((13, 13, 5), conv2), (378, 0), name="conv2 parameters (with bias)",
             hint="each kernel spans all 5 input channels: 5 * 5 * 5 weights")
assert_equal(layer_param_count((13, 13, 5), {**conv2, "use_bias": False}), (375, 0), name="conv2 weights without bias")
assert_equal(layer_param_count((32, 32, 3), {"type": "conv", "filters": 10, "kernel_size": 5}), (760, 0),
             name="ten 5x5x3 kernels")
assert_equal(layer_param_count((26, 26, 5), {"type": "pool", "pool_size": 2}), (0, 0), name="pooling parameters")
# the Keras models of course/04_mnist_cnn_keras.ipynb
assert_equal(layer_param_count((9216,), {"type": "dense", "units": 128}), (1179776, 0), name="MNIST dense(128)")
assert_equal(layer_param_count((64,), {"type": "batchnorm"}), (128, 128), name="batchnorm on 64 units",
             mistakes={"all four statistics are counted as trainable": (256, 0),
                       "only gamma and beta are counted": (128, 0)})
print("Parameter counts agree with the lectures' models.")
''', "test_layer_param_count_seeds", 2)

hidden('''
import solutions as ref
from solutions.shapes import random_architecture as ref_random_architecture
rng = np.random.default_rng(271828)
checked = 0
for _ in range(40):
    shape, layers = ref_random_architecture(rng)
    for layer in layers:
        want = ref.summarize(shape, [layer])
        assert_equal(layer_param_count(shape, layer), (want["trainable"], want["non_trainable"]),
                     name=f"layer_param_count({shape}, {layer})")
        shape = ref.layer_output_shape(shape, layer)
        checked += 1
assert checked > 150, checked
x = (6, 5, 7)
assert_equal(layer_param_count(x, {"type": "dense", "units": 3, "use_bias": False}), (21, 0), name="dense on an image without bias")
assert_equal(layer_param_count(x, {"type": "batchnorm"}), (14, 14), name="batchnorm on 7 channels")
assert_raises(ValueError, layer_param_count, x, {"type": "gru", "units": 3}, match="gru",
              because="'gru' is not a layer type of this problem set")
''', "test_layer_param_count_random", 2)

md(r'''
## Part 4 — the whole network: `summarize`

`summarize(input_shape, layers)` chains the two functions above: the output shape of each
layer is the input shape of the next. It returns a dict with what `model.summary()` prints:

```python
{"rows": [(name, output_shape, params), ...],   # one row per layer, params = trainable + non-trainable
 "total": ..., "trainable": ..., "non_trainable": ...}
```

Name the rows as a freshly started Keras session does: the first layer of each kind gets
the plain name and the next ones `_1`, `_2`, ... counted per kind:

| layer | `conv` | `pool` (max) | `pool` (`"mode": "avg"`) | `flatten` | `dense` | `dropout` | `batchnorm` |
|---|---|---|---|---|---|---|---|
| name | `conv2d` | `max_pooling2d` | `average_pooling2d` | `flatten` | `dense` | `dropout` | `batch_normalization` |

so the MNIST model of `course/04_mnist_cnn_keras.ipynb` has rows `conv2d`, `conv2d_1`, `max_pooling2d`, `dropout`,
`flatten`, `dense`, `dropout_1`, `dense_1`.

When a layer is bad, raise a `ValueError` whose message names its position in the list and
its type, for example `layer 3 (conv): ...` (the index counts from 0).
''')

solution('''
def summarize(input_shape, layers):
    """What Keras' model.summary() reports, computed from the formulas.

    input_shape: (H, W, C) or (n,), without the batch axis; layers: a list of layer dicts.
    Returns {"rows": [(name, output_shape, params), ...], "total": int, "trainable": int,
    "non_trainable": int}; one row per layer, output_shape a tuple of ints without the batch
    axis, params = trainable + non-trainable parameters of that layer.
    Raises ValueError naming the layer ("layer <index> (<type>)") when a layer is bad.
    """
    ### BEGIN SOLUTION
    base_names = {"conv": "conv2d", "flatten": "flatten", "dense": "dense", "dropout": "dropout",
                  "batchnorm": "batch_normalization"}
    rows, trainable, non_trainable = [], 0, 0
    seen = {}
    shape = tuple(input_shape)
    for i, layer in enumerate(layers):
        kind = layer.get("type")
        try:
            out = layer_output_shape(shape, layer)
            t, nt = layer_param_count(shape, layer)
        except ValueError as exc:
            raise ValueError(f"layer {i} ({kind}): {exc}") from None
        if kind == "pool":
            base = "average_pooling2d" if layer.get("mode", "max") == "avg" else "max_pooling2d"
        else:
            base = base_names[kind]
        count = seen.get(base, 0)
        seen[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        rows.append((name, out, t + nt))
        trainable += t
        non_trainable += nt
        shape = out
    return {"rows": rows, "total": trainable + non_trainable, "trainable": trainable,
            "non_trainable": non_trainable}
    ### END SOLUTION
''', "summarize")

test('''
# the Keras model for MNIST of course/04_mnist_cnn_keras.ipynb and its model.summary() table
mnist = [
    {"type": "conv", "filters": 32, "kernel_size": (3, 3), "activation": "relu"},
    {"type": "conv", "filters": 64, "kernel_size": (3, 3), "activation": "relu"},
    {"type": "pool", "pool_size": (2, 2)},
    {"type": "dropout", "rate": 0.25},
    {"type": "flatten"},
    {"type": "dense", "units": 128, "activation": "relu"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": 10, "activation": "softmax"},
]
expected = [
    ("conv2d", (26, 26, 32), 320),
    ("conv2d_1", (24, 24, 64), 18496),
    ("max_pooling2d", (12, 12, 64), 0),
    ("dropout", (12, 12, 64), 0),
    ("flatten", (9216,), 0),
    ("dense", (128,), 1179776),
    ("dropout_1", (128,), 0),
    ("dense_1", (10,), 1290),
]
s = summarize((28, 28, 1), mnist)
assert_equal(sorted(s), ["non_trainable", "rows", "total", "trainable"], name="the keys of the summary")
assert_equal(len(s["rows"]), len(expected), name="number of rows", hint="one row per layer dict")
for i, row in enumerate(expected):
    assert_equal(s["rows"][i], row, name=f"row {i}")
assert_equal(s["total"], 1199882, name="total params")
assert_equal(s["trainable"], 1199882, name="trainable params")
assert_equal(s["non_trainable"], 0, name="non-trainable params")
''', "test_summarize_mnist", 2)

code('''
# the table, as model.summary() prints it (the grader only looks at the test above)
show_summary(summarize((28, 28, 1), mnist))
''')

test('''
# the second Keras model of course/04_mnist_cnn_keras.ipynb, with batch normalization
bn_cnn = [
    {"type": "conv", "filters": 40, "kernel_size": 5, "padding": "same", "activation": "relu"},
    {"type": "pool", "pool_size": 2},
    {"type": "dropout", "rate": 0.25},
    {"type": "conv", "filters": 32, "kernel_size": 3, "activation": "relu"},
    {"type": "pool", "pool_size": 2},
    {"type": "dropout", "rate": 0.25},
    {"type": "flatten"},
    {"type": "dense", "units": 64, "activation": "relu"},
    {"type": "batchnorm"},
    {"type": "dropout", "rate": 0.25},
    {"type": "dense", "units": 10, "activation": "softmax"},
]
s = summarize((28, 28, 1), bn_cnn)
assert_equal([row[2] for row in s["rows"]], [1040, 0, 0, 11552, 0, 0, 0, 73792, 256, 0, 650], name="params per row")
assert_equal([row[1] for row in s["rows"]][3:7], [(12, 12, 32), (6, 6, 32), (6, 6, 32), (1152,)], name="shapes of rows 3-6")
assert_equal(s["rows"][8][0], "batch_normalization", name="name of row 8")
assert_equal(s["total"], 87290, name="total params")
assert_equal(s["non_trainable"], 128, name="non-trainable params", hint="the moving mean and variance of 64 units")
assert_equal(s["trainable"], 87162, name="trainable params")
''', "test_summarize_batchnorm", 1)

code('''
# the table, as model.summary() prints it (the grader only looks at the test above)
show_summary(summarize((28, 28, 1), bn_cnn))
''')

test('''
assert_raises(ValueError, summarize, (28, 28, 1),
              [{"type": "conv", "filters": 8, "kernel_size": 3}, {"type": "flatten"}, {"type": "pool", "pool_size": 2}],
              match=["layer 2", "pool"], because="layer 2 (pool) comes after flatten and has no image to pool")
assert_equal(summarize((5,), []), {"rows": [], "total": 0, "trainable": 0, "non_trainable": 0},
             name="summarize((5,), [])")
print("summarize names the bad layer.")
''', "test_summarize_errors", 1)

hidden('''
import solutions as ref
from solutions.shapes import random_architecture as ref_random_architecture
rng = np.random.default_rng(1618)
for _ in range(40):
    shape, layers = ref_random_architecture(rng)
    want, got = ref.summarize(shape, layers), summarize(shape, layers)
    where = f"summarize({shape}, {layers})"
    assert_equal(len(got["rows"]), len(want["rows"]), name=f"number of rows of {where}")
    for i, ((_, w_shape, w_params), g_row) in enumerate(zip(want["rows"], got["rows"])):
        assert_equal(g_row[1], w_shape, name=f"output shape of row {i} of {where}")
        assert_equal(g_row[2], w_params, name=f"params of row {i} of {where}")
    for key in ("total", "trainable", "non_trainable"):
        assert_equal(got[key], want[key], name=f"{key} of {where}")
''', "test_summarize_random", 3)

hidden('''
from solutions.shapes import example_network as ref_example_network, keras_summary as ref_keras_summary
from solutions.shapes import random_architecture as ref_random_architecture
rng = np.random.default_rng(4242)
cases = [ref_example_network(n) for n in ("mnist_cnn", "bn_cnn", "lenet5", "practice")]
cases += [ref_random_architecture(rng, max_side=24) for _ in range(8)]
# the student's code runs first: building the Keras models below takes the grader a while
results = [summarize(shape, layers) for shape, layers in cases]
for (shape, layers), got in zip(cases, results):
    keras = ref_keras_summary(shape, layers)   # read off the real Keras model
    where = f"summarize({shape}, {layers}) vs the Keras model"
    assert_equal(len(got["rows"]), len(keras["rows"]), name=f"number of rows of {where}")
    for i, (k_row, g_row) in enumerate(zip(keras["rows"], got["rows"])):
        assert_equal(g_row[1], k_row[1], name=f"output shape of row {i} ({k_row[0]}) of {where}")
        assert_equal(g_row[2], k_row[2], name=f"params of row {i} ({k_row[0]}) of {where}")
    for key in ("total", "trainable", "non_trainable"):
        assert_equal(got[key], keras[key], name=f"{key} of {where}")
''', "test_summarize_vs_keras", 2)

hidden('''
from solutions.shapes import random_architecture as ref_random_architecture, torch_summary as ref_torch_summary
rng = np.random.default_rng(8080)
cases = [ref_random_architecture(rng, torch_compatible=True, max_side=24) for _ in range(12)]
results = [summarize(shape, layers) for shape, layers in cases]   # the student's code first
for (shape, layers), got in zip(cases, results):
    torch = ref_torch_summary(shape, layers)   # parameters and buffers of the real PyTorch module
    where = f"summarize({shape}, {layers}) vs the PyTorch module"
    assert_equal(got["trainable"], torch["trainable"], name=f"trainable of {where}")
    assert_equal(got["non_trainable"], torch["non_trainable"], name=f"non_trainable of {where} (batch-norm buffers)")
    assert_equal(got["rows"][-1][1], torch["output_shape"], name=f"output shape of {where}")
''', "test_summarize_vs_torch", 1)

hidden('''
import solutions as ref
layers = [
    {"type": "conv", "filters": 4, "kernel_size": 3}, {"type": "batchnorm"},
    {"type": "pool", "pool_size": 2, "mode": "avg"}, {"type": "conv", "filters": 4, "kernel_size": 1},
    {"type": "pool", "pool_size": 2}, {"type": "dropout"}, {"type": "pool", "pool_size": 1, "mode": "avg"},
    {"type": "conv", "filters": 2, "kernel_size": 1}, {"type": "dense", "units": 3}, {"type": "batchnorm"},
    {"type": "flatten"}, {"type": "dropout"}, {"type": "dense", "units": 2}, {"type": "batchnorm"},
]
want = [row[0] for row in ref.summarize((22, 18, 3), layers)["rows"]]
got = [row[0] for row in summarize((22, 18, 3), layers)["rows"]]
assert_equal(got, want, name="row names")
''', "test_summarize_names", 1)

hidden('''
good = [{"type": "conv", "filters": 4, "kernel_size": 3}, {"type": "pool", "pool_size": 2}, {"type": "batchnorm"}]
bad = [
    ({"type": "conv", "kernel_size": 3}, "conv"),
    ({"type": "pool"}, "pool"),
    ({"type": "dense"}, "dense"),
    ({"type": "lstm", "units": 3}, "lstm"),
    ({"type": "conv", "filters": 2, "kernel_size": 40}, "conv"),
    ({"type": "pool", "pool_size": (1, 30)}, "pool"),
]
for j, (layer, kind) in enumerate(bad):
    at = j % 3 + 1
    layers = good[:at] + [layer]
    assert_raises(ValueError, summarize, (20, 26, 3), layers, match=[f"layer {at}", kind],
                  because=f"layer {at} ({kind}) is bad: {layer}")
assert_raises(ValueError, summarize, (20, 26, 3), [{"type": "flatten"}, {"type": "conv", "filters": 2, "kernel_size": 1}],
              match=["layer 1", "conv"], because="layer 1 (conv) comes after flatten")
''', "test_summarize_errors_hidden", 1)

md(r'''
## Part 5 — the lectures' networks, in code

Each function below returns the list of layer dicts of a network from the lectures; the
tests feed it to `summarize` (yours in the visible tests, the reference one in the hidden
tests) and compare with what the lectures and Keras report. Write the lists out literally:
it is the architecture, not a computation, that is being checked. Activations are optional.

**Practice network (`course/02_padding_stride_shapes.ipynb`).** A 128x128x3 image goes through 5 kernels of size 3x3x3
with stride 5 and no padding, then a 2x2 max pooling, then 3 kernels of size 5x5x5 with
padding 2 and stride 2. `use_bias` says whether the conv layers have biases.
''')

solution('''
def practice_layers(use_bias=True):
    """Layer dicts of the practice network (input (128, 128, 3)): conv, max pool, conv."""
    ### BEGIN SOLUTION
    return [
        {"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5, "use_bias": use_bias},
        {"type": "pool", "pool_size": 2},
        {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "padding": 2, "use_bias": use_bias},
    ]
    ### END SOLUTION
''', "practice_layers")

test('''
s = summarize((128, 128, 3), practice_layers())
assert_equal([row[1] for row in s["rows"]], [(26, 26, 5), (13, 13, 5), (7, 7, 3)], name="output shapes")
assert_equal([row[2] for row in s["rows"]], [140, 0, 378], name="params with bias")
s = summarize((128, 128, 3), practice_layers(use_bias=False))
assert_equal([row[2] for row in s["rows"]], [135, 0, 375], name="weights without bias")
''', "test_practice_layers", 1)

code('''
# the table, as model.summary() prints it (the grader only looks at the test above)
show_summary(summarize((128, 128, 3), practice_layers(use_bias=False)))
''')

hidden('''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
for use_bias, net in ((True, "practice"), (False, "practice_no_bias")):
    shape, layers = ref_example_network(net)
    got = ref.summarize(shape, practice_layers(use_bias))
    assert_equal(got, ref.summarize(shape, layers), name=f"the summary of practice_layers({use_bias})")
''', "test_practice_layers_hidden", 1)

md(r'''
**The two Keras models of `course/04_mnist_cnn_keras.ipynb`.** `mnist_cnn_layers()` is its first MNIST model
(Part 4's first test shows it: two 3x3 convolutions with 32 and 64 filters, 2x2 max pooling,
dropout 0.25, flatten, dense 128, dropout 0.5, dense 10) and `bn_cnn_layers()` its second:
40 filters 5x5 "same", 2x2 max pooling, dropout 0.25, 32 filters 3x3, 2x2 max pooling,
dropout 0.25, flatten, dense 64, batch normalization, dropout 0.25, dense 10. Both take
28x28x1 images.
''')

solution('''
def mnist_cnn_layers():
    """Layer dicts of the first Keras MNIST model of course/04_mnist_cnn_keras.ipynb (input (28, 28, 1))."""
    ### BEGIN SOLUTION
    return [
        {"type": "conv", "filters": 32, "kernel_size": 3, "activation": "relu"},
        {"type": "conv", "filters": 64, "kernel_size": 3, "activation": "relu"},
        {"type": "pool", "pool_size": 2},
        {"type": "dropout", "rate": 0.25},
        {"type": "flatten"},
        {"type": "dense", "units": 128, "activation": "relu"},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    ### END SOLUTION
''', "mnist_cnn_layers")

test('''
s = summarize((28, 28, 1), mnist_cnn_layers())
assert_equal([row[2] for row in s["rows"] if row[2]], [320, 18496, 1179776, 1290], name="params of the layers with weights")
assert_equal(s["total"], 1199882, name="MNIST model: total params")
''', "test_mnist_cnn_layers", 1)

hidden('''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
shape, layers = ref_example_network("mnist_cnn")
assert_equal(ref.summarize(shape, mnist_cnn_layers()), ref.summarize(shape, layers), name="the summary of mnist_cnn_layers()")
''', "test_mnist_cnn_layers_hidden", 1)

solution('''
def bn_cnn_layers():
    """Layer dicts of the Keras model with batch normalization of course/04_mnist_cnn_keras.ipynb (input (28, 28, 1))."""
    ### BEGIN SOLUTION
    return [
        {"type": "conv", "filters": 40, "kernel_size": 5, "padding": "same", "activation": "relu"},
        {"type": "pool", "pool_size": 2},
        {"type": "dropout", "rate": 0.25},
        {"type": "conv", "filters": 32, "kernel_size": 3, "activation": "relu"},
        {"type": "pool", "pool_size": 2},
        {"type": "dropout", "rate": 0.25},
        {"type": "flatten"},
        {"type": "dense", "units": 64, "activation": "relu"},
        {"type": "batchnorm"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    ### END SOLUTION
''', "bn_cnn_layers")

test('''
s = summarize((28, 28, 1), bn_cnn_layers())
assert_equal([row[2] for row in s["rows"] if row[2]], [1040, 11552, 73792, 256, 650], name="params of the layers with weights")
assert_equal((s["total"], s["trainable"], s["non_trainable"]), (87290, 87162, 128), name="(total, trainable, non_trainable)")
''', "test_bn_cnn_layers", 1)

hidden('''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
shape, layers = ref_example_network("bn_cnn")
assert_equal(ref.summarize(shape, bn_cnn_layers()), ref.summarize(shape, layers), name="the summary of bn_cnn_layers()")
''', "test_bn_cnn_layers_hidden", 1)

md(r'''
**LeNet-5 (`course/06_architectures.ipynb`).** Input 32x32x1; C1: 6 maps 5x5; S2: 2x2 average pooling, stride 2;
C3: 16 maps 5x5; S4: 2x2 average pooling; C5: 120 maps 5x5 (it sees a 5x5 input, so its
output is 1x1x120); then flatten, F6: dense 84 and the output: dense 10. With every C3 map
connected to every S2 map (the original paper connects only some) and no parameters in the
pooling layers, LeNet-5 has **61,706** parameters.
''')

solution(f'''
def lenet5_layers():
    """Layer dicts of LeNet-5 (input (32, 32, 1)), average pooling, full C3 connectivity."""
    ### BEGIN SOLUTION
{code_of(shapes_ref.lenet5_layers)}
    ### END SOLUTION
''', "lenet5_layers")

test('''
s = summarize((32, 32, 1), lenet5_layers())
assert_equal([row[1] for row in s["rows"]][:5], [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120)],
             name="C1, S2, C3, S4, C5 shapes")
assert_equal(s["total"], 61706, name="LeNet-5 total params")
''', "test_lenet5_layers", 1)

code('''
# the table, as model.summary() prints it (the grader only looks at the test above)
show_summary(summarize((32, 32, 1), lenet5_layers()))
''')

hidden('''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
shape, layers = ref_example_network("lenet5")
got, want = ref.summarize(shape, lenet5_layers()), ref.summarize(shape, layers)
assert_equal([r[1:] for r in got["rows"]], [r[1:] for r in want["rows"]], name="LeNet-5 rows (shape, params)")
assert_equal(got["rows"][1][0], "average_pooling2d", name="S2's layer name", hint='S2 is average pooling: "mode": "avg"')
''', "test_lenet5_layers_hidden", 1)

md(r'''
**VGG16 (`course/06_architectures.ipynb`).** Input 224x224x3. Five blocks of 3x3 convolutions with
`padding="same"` (and ReLU), each block followed by a 2x2 max pooling: 2 convs of 64
filters, 2 of 128, 3 of 256, 3 of 512, 3 of 512 (13 conv layers, 5 pooling layers). The
"top" is flatten, dense 4096, dense 4096 and dense **1000** (one unit per ImageNet class;
a source transcript says 4096). With the top VGG16 has about **138 million** parameters (the
transcript says billion), without it (`include_top=False` in `keras.applications.VGG16`, the part
reused in transfer learning) about 14.7 million.
''')

solution(f'''
def vgg16_layers(include_top=True):
    """Layer dicts of VGG16 (input (224, 224, 3)); without the flatten and dense top when include_top is False."""
    ### BEGIN SOLUTION
{code_of(shapes_ref.vgg16_layers)}
    ### END SOLUTION
''', "vgg16_layers")

test('''
kinds = [layer["type"] for layer in vgg16_layers()]
assert_equal((kinds.count("conv"), kinds.count("pool"), kinds.count("dense")), (13, 5, 3),
             name="number of (conv, pool, dense) layers")
assert_equal(summarize((224, 224, 3), vgg16_layers())["total"], 138357544, name="VGG16 total params")
notop = summarize((224, 224, 3), vgg16_layers(include_top=False))
assert_equal(notop["total"], 14714688, name="VGG16 total params without the top")
assert_equal(notop["rows"][-1][1], (7, 7, 512), name="VGG16's last feature map")
''', "test_vgg16_layers", 1)

hidden('''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
for top, net in ((True, "vgg16"), (False, "vgg16_notop")):
    shape, layers = ref_example_network(net)
    got, want = ref.summarize(shape, vgg16_layers(top)), ref.summarize(shape, layers)
    assert_equal([r[1:] for r in got["rows"]], [r[1:] for r in want["rows"]], name=f"VGG16 rows (include_top={top})")
''', "test_vgg16_layers_hidden", 1)

md(r'''
**AlexNet (`course/06_architectures.ipynb`).** The table of the source transcripts (one tower, full connectivity):

| layer | type | maps | size | kernel | stride | padding |
|---|---|---|---|---|---|---|
| In | input | 3 | 224x224 | | | |
| C1 | conv | 96 | 55x55 | 11x11 | 4 | same |
| S2 | max pool | 96 | 27x27 | 3x3 | 2 | valid |
| C3 | conv | 256 | 27x27 | 5x5 | 1 | same |
| S4 | max pool | 256 | 13x13 | 3x3 | 2 | valid |
| C5, C6, C7 | conv | 384, 384, 256 | 13x13 | 3x3 | 1 | same |
| F9, F10 | dense | | 4096 | | | |
| Out | dense | | 1000 | | | |

Check C1 with your `conv_output_size`: a 224x224 input with "same" padding and stride 4
gives ceil(224 / 4) = 56, not 55, so the table's "same" cannot be right. Two fixes give 55:
a **227x227** input with no padding, (227 - 11) / 4 + 1 = 55, or a 224x224 input with a
symmetric padding of 2 (torchvision's choice). The original paper says 224.
S2 brings every version back to 27x27, so the rest of the table holds either way. The table
also leaves out the 3x3 / stride 2 max pooling after C7 that the real AlexNet has: without
it F9 would see 13x13x256 inputs instead of 6x6x256 = 9216. (The names follow
`course/06_architectures.ipynb`: that pooling is S8, so the dense layers are F9 and F10.)

**Questions (predict before you run; write plain values, not code that calls your
functions: the grader keeps only plain values from these cells).**
''')


def answer(name, comment, value):
    """A predict-before-run question: `name = None` stays visible, the value is the solution."""
    solution(f"""# {comment}
# Write the value itself, then delete the `raise` line.
{name} = None
### BEGIN SOLUTION
{name} = {value}
### END SOLUTION
""", name)


def answer_test(name, body):
    """Hidden test of an answer cell (2 points); a clear note while the answer is still None."""
    hidden(f"assert {name} is not None, \"{name} is still None: write your answer (not answered yet)\"\n" + body,
           f"test_{name}", 2)


md(r'''
1. The smallest symmetric integer padding $p$ (zeros on each side, as PyTorch's
   `nn.Conv2d(3, 96, 11, stride=4, padding=p)` takes it) for which C1 turns a 224x224 input
   into 56x56, the side Keras' `"same"` gives.
2. Keras' `padding="same"` on C1 (11x11, stride 4) with the **227x227** input: how many zero
   rows does TensorFlow add on top, and how many at the bottom? Give `(top, bottom)`.
''')

answer("answer_c1_padding_224", "the smallest symmetric padding p giving 56 from 224 (an int)", "4")

answer_test("answer_c1_padding_224", '''
import solutions as ref
want = min(p for p in range(10) if ref.conv_output_size(224, 11, p, 4) == 56)
assert_equal(answer_c1_padding_224, want, name="answer_c1_padding_224",
             mistakes={"that padding gives 55, the table's size, not 56": 2,
                       "that padding gives 55 too: the floor drops the extra row": 3,
                       "that is TensorFlow's total padding for 'same' (both sides together), not a per-side padding": 7,
                       "that padding gives 56 too, but it is not the smallest": 5},
             hint="use Part 1's output-size formula with p zeros on each side, and look for the smallest p that works.")
''')

answer("answer_c1_same_pads", "(zero rows on top, zero rows at the bottom) of Keras' 'same' on C1, 227x227 (a tuple of 2 ints)",
       "(4, 4)")

answer_test("answer_c1_same_pads", '''
import solutions as ref
rows = ref.conv_output_size(227, 11, "same", 4)
total = max((rows - 1) * 4 + 11 - 227, 0)
want = (total // 2, total - total // 2)
assert want[0] == want[1], want
assert_equal(tuple(answer_c1_same_pads), want, name="answer_c1_same_pads",
             mistakes={"that is the split for the 224x224 input: the input side changes the total padding": (3, 4),
                       "'valid' fits 227 without padding, but 'same' pads up to ceil(227 / 4) output rows": (0, 0),
                       "that is the symmetric (k - 1) / 2 of stride 1": (5, 5)},
             hint="'same' first fixes the number of output rows, then pads just enough zeros for them; "
                  "TensorFlow puts an odd extra zero at the bottom.")
''')

md(r'''
3. VGG16 with its top: how many parameters does the first dense layer (4096 units, after the
   flatten) have? And if the flatten is replaced by global average pooling (one number per
   channel of the last feature map, `pooling="avg"` in `keras.applications`), how many does
   that dense layer have then? Give `(with flatten, with global average pooling)`.
4. Two stacked 3x3 convolutions see a 5x5 window of their input, like one 5x5 convolution.
   With 64 input and 64 output channels and biases, give
   `(parameters of the two 3x3 layers together, parameters of the one 5x5 layer)`.
5. Move the max pooling of the first MNIST model of `course/04_mnist_cnn_keras.ipynb` to right
   after its first convolution (conv 32, pool, conv 64, dropout, flatten, dense 128, dropout,
   dense 10, on 28x28x1). How many parameters does the model have in total?
''')

answer("answer_vgg16_fc1", "(first dense layer's parameters with flatten, with global average pooling)",
       "(102_764_544, 2_101_248)")

answer_test("answer_vgg16_fc1", '''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
h, w, c = ref.summarize(*ref_example_network("vgg16_notop"))["rows"][-1][1]
want = (h * w * c * 4096 + 4096, c * 4096 + 4096)
got = tuple(answer_vgg16_fc1)
assert_equal(got, want, name="answer_vgg16_fc1",
             mistakes={"the biases are missing": (want[0] - 4096, want[1] - 4096),
                       "global average pooling keeps one number per channel (512), not per pixel": (want[0], want[0])})
''')

answer("answer_stack_params", "(two 3x3 layers, one 5x5 layer), 64 -> 64 channels with biases", "(73_856, 102_464)")

answer_test("answer_stack_params", '''
import solutions as ref
conv3 = ref.conv_param_count(3, 64, 64)
conv5 = ref.conv_param_count(5, 64, 64)
assert_equal(tuple(answer_stack_params), (2 * conv3, conv5), name="answer_stack_params",
             mistakes={"that counts one 3x3 layer, not two": (conv3, conv5),
                       "the input channels are missing": (2 * (9 * 64 + 64), 25 * 64 + 64)})
''')

answer("answer_mnist_pool_first", "total parameters with the pooling moved after the first convolution (an int)",
       "1_011_466")

answer_test("answer_mnist_pool_first", '''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
layers = ref_example_network("mnist_cnn")[1]
moved = [layers[0], layers[2], layers[1]] + layers[3:]
assert [l["type"] for l in moved[:3]] == ["conv", "pool", "conv"], moved[:3]
want = ref.summarize((28, 28, 1), moved)["total"]
assert_equal(answer_mnist_pool_first, want, name="answer_mnist_pool_first",
             mistakes={"that is the original model (the dense layer shrinks: 11x11x64 inputs instead of 12x12x64)":
                           ref.summarize((28, 28, 1), layers)["total"]})
''')

md(r'''
Now write `alexnet_layers(c1_padding)`: the table's layers in order, with the missing
pooling layer (S8) after C7 and a flatten before F9, and C1 using the padding given (a word
or an int, as in Part 2).
''')

solution(f'''
def alexnet_layers(c1_padding="valid"):
    """Layer dicts of AlexNet (one tower), with the max pooling S8 after C7; C1 uses c1_padding."""
    ### BEGIN SOLUTION
{code_of(shapes_ref.alexnet_layers)}
    ### END SOLUTION
''', "alexnet_layers")

test('''
s = summarize((224, 224, 3), alexnet_layers("same"))
assert_equal(s["rows"][0][1], (56, 56, 96), name='C1 on 224x224 with "same"')
assert_equal(s["rows"][1][1], (27, 27, 96), name="S2 on 56x56")
s = summarize((227, 227, 3), alexnet_layers("valid"))
assert_equal([row[1] for row in s["rows"]][:9], [(55, 55, 96), (27, 27, 96), (27, 27, 256), (13, 13, 256), (13, 13, 384),
             (13, 13, 384), (13, 13, 256), (6, 6, 256), (9216,)], name="AlexNet's shapes up to the flatten")
''', "test_alexnet_layers", 1)

code('''
# the table, as model.summary() prints it (the grader only looks at the test above)
show_summary(summarize((227, 227, 3), alexnet_layers("valid")))
''')

hidden('''
import solutions as ref
from solutions.shapes import example_network as ref_example_network
for padding, net in (("valid", "alexnet"), ("same", "alexnet_224_same")):
    shape, layers = ref_example_network(net)
    got, want = ref.summarize(shape, alexnet_layers(padding)), ref.summarize(shape, layers)
    assert_equal([r[1:] for r in got["rows"]], [r[1:] for r in want["rows"]],
                 name=f"AlexNet rows on {shape} with C1 padding {padding!r}")
    assert_equal(got["total"], 62378344, name=f"AlexNet's total with C1 padding {padding!r}")
''', "test_alexnet_layers_hidden", 1)

md(r'''
## Going further (not graded)

* If you have Keras installed, build one of these networks with `keras.Sequential` and
  compare `model.summary()` with `show_summary(summarize(...))`: they should agree row by
  row (Keras adds the batch axis `None`).
* Why do the dense layers of VGG16 hold about 124 of its 138 million parameters, and what
  does that say about where to save memory when you adapt it to a new task?
* How many stacked 3x3 convolutions does it take to see a 9x9 window? Compare their
  parameters with one 9x9 convolution for C input and C output channels.
''')


if __name__ == "__main__":
    import sys

    sys.exit(NB.main(sys.argv[1:], OUT))
