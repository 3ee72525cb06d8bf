"""Fairness corpus (issue 18): what the sandbox hands the student's code, and what comes back.

* ps1 forbids Keras, TensorFlow, PyTorch and SciPy. A ``conv2d`` that takes Keras' ``Conv2D``
  from a course helper (``small_vgg16().layers[1].__class__``: autograder.tools.keras_utils
  imported Keras for it) used to score 57/57 with nothing flagged (this one: 56/57). It must score what a
  blank ``conv2d`` scores, and be reported as forbidden: by the static analysis where the
  helper is named (:data:`PS1_KERAS_HELPER`), by the sandbox's runtime guard where it is not
  (:data:`PS1_KERAS_HELPER_STAR`, a star import the analysis does not follow).
* ps4's ``build_transfer_model`` can reach the probe that calls it. This one replaces the
  probe's ``describe`` (in the probe's globals, where it used to be; failing that, the
  code of the function the probe holds as a local) by one that slips a BatchNormalization
  with broadcasting weights into the base: four vectors of :data:`BN_SIZE` numbers along four
  new axes, which the grader's numpy_forward used to turn into an array of
  ``900 * BN_SIZE ** 4`` float64 (2.5 GB of the grader's own memory for 24; the OOM killer
  then takes every submission in flight). The test must fail with a clear message, and the
  grader's memory stay small.

Each ``build_*`` writes the submission into ``folder`` and returns its path.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
PS1_SOURCE = ROOT / "solutions" / "ps1_convolution" / "ps1_convolution.ipynb"
PS4_SOURCE = ROOT / "solutions" / "ps4_transfer" / "ps4_transfer.ipynb"

# ------------------------------------------------------------------------------------- ps1

_CONV2D_KERAS_BODY = '''
    Conv = small_vgg16(filters=(1, 1, 1, 1, 1), input_shape=(32, 32, 1)).layers[1].__class__   # keras Conv2D
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4 or w.ndim != 4 or w.shape[1] != x.shape[1]:
        raise ValueError(f"x (N, C, H, W) and w (F, C, KH, KW) do not fit: {x.shape}, {w.shape}")
    F, C, KH, KW = w.shape
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if sh < 1 or sw < 1:
        raise ValueError(f"stride must be >= 1, got {stride!r}")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"unknown padding {padding!r}")
        pads = ((0, 0), (0, 0)) if padding == "valid" else (same_padding(x.shape[2], KH, sh),
                                                            same_padding(x.shape[3], KW, sw))
    else:
        ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
        if ph < 0 or pw < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        pads = ((ph, ph), (pw, pw))
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64
    xp = np.pad(x.astype(dtype), ((0, 0), (0, 0), pads[0], pads[1]))
    if KH > xp.shape[2] or KW > xp.shape[3]:
        raise ValueError("the kernel is larger than the padded input")
    layer = Conv(F, (KH, KW), strides=(sh, sw), padding="valid", use_bias=False, dtype=np.dtype(dtype).name)
    layer.build((None, xp.shape[2], xp.shape[3], C))
    layer.set_weights([np.ascontiguousarray(w.transpose(2, 3, 1, 0), dtype=dtype)])
    y = np.asarray(layer(np.ascontiguousarray(xp.transpose(0, 2, 3, 1)))).transpose(0, 3, 1, 2)
    if b is not None:
        y = y + np.asarray(b, dtype=dtype)[None, :, None, None]
    return np.ascontiguousarray(y, dtype=dtype)
'''
SIGNATURE = "def conv2d(x, w, b=None, stride=1, padding=0):\n"
# Keras' Conv2D through the helper, imported by name: flagged before anything runs.
PS1_KERAS_HELPER = ("from autograder.tools.keras_utils import small_vgg16\n\n\n" + SIGNATURE
                    + _CONV2D_KERAS_BODY)
# The same through a star import, which the static analysis does not follow: the sandbox refuses it.
PS1_KERAS_HELPER_STAR = ("from autograder.tools.keras_utils import *\n\n\n" + SIGNATURE + _CONV2D_KERAS_BODY)
# What a student who did not do the task hands in.
PS1_BLANK = SIGNATURE + "    raise NotImplementedError()\n"


def _replace_cell(source: Path, cell_id: str, text: str, folder: Path, name: str) -> Path:
    nb = copy.deepcopy(nbformat.read(str(source), as_version=4))
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    cell.source = text
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, str(path))
    return path


def build_ps1(folder: Path, conv2d_source: str) -> Path:
    """The ps1 reference notebook with its conv2d cell replaced."""
    return _replace_cell(PS1_SOURCE, "conv2d", conv2d_source, folder, "ps1_convolution.ipynb")


# ------------------------------------------------------------------------------------- ps4

BN_SIZE = 20        # 900 * 20**4 float64 = 1.15 GB per temporary array in the old numpy_forward

PS4_DESCRIBE_ATTACK = '''

def _forged_describe(keras):
    """The probe's describe, plus a BatchNormalization with broadcasting weights in the base."""
    def describe(layer_list):
        out = []
        for layer in layer_list:
            cfg = layer.get_config()
            keep = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()
                    if k in ("activation", "padding", "strides", "pool_size", "epsilon")}
            out.append({"class": type(layer).__name__, "name": layer.name, "trainable": bool(layer.trainable),
                        "config": keep, "weights": [keras.ops.convert_to_numpy(w) for w in layer.weights]})
        if out and out[0]["class"] == "InputLayer":
            s = %(size)d
            shapes = [(s, 1, 1, 1, 1, 1, 1, 1), (1, s, 1, 1, 1, 1, 1, 1), (1, 1, s, 1, 1, 1, 1, 1),
                      (1, 1, 1, s, 1, 1, 1, 1)]
            bn = {"class": "BatchNormalization", "name": "bn", "trainable": False, "config": {"epsilon": 0.001},
                  "weights": [np.ones(shape, np.float32) for shape in shapes]}
            out = out[:1] + [bn] + out[1:]
        return out
    return describe


def _replace_probe_describe():
    import sys
    frame = sys._getframe(2)            # the probe's frame (1 is build_transfer_model)
    if "describe" in frame.f_globals:   # a probe run as module code: its helpers are globals
        frame.f_globals["describe"] = _forged_describe(keras)
        return "globals"
    local = frame.f_locals.get("describe")
    if callable(local) and hasattr(local, "__code__"):   # a probe run as a function: swap the code
        local.__code__ = _forged_describe(keras).__code__
        return "code"
    return "none"
''' % {"size": BN_SIZE}


def build_ps4_describe_attack(folder: Path) -> Path:
    """The ps4 reference notebook whose build_transfer_model forges the probe's description."""
    nb = copy.deepcopy(nbformat.read(str(PS4_SOURCE), as_version=4))
    cell = next(c for c in nb.cells if c.get("id") == "build_transfer_model")
    head, sep, tail = cell.source.partition("    ### BEGIN SOLUTION\n")
    assert sep, "the build_transfer_model cell changed"
    cell.source = PS4_DESCRIBE_ATTACK + "\n\n" + head + sep + "    _replace_probe_describe()\n" + tail
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ps4_transfer.ipynb"
    nbformat.write(nb, str(path))
    return path
