"""Output shapes and parameter counts of whole networks: the reference for ps2_shapes.

A network is described as plain data, a list of layer dicts, and an input shape.

Shapes are **channels-last without the batch axis**, as in Keras' ``model.summary()``:
an image is ``(H, W, C)``; after ``flatten`` (or for a dense-only network) it is ``(n,)``.

Layer dicts (keys not listed raise ``ValueError``, which catches typos such as ``"stride"``):

=============  ===========================================================================
``type``       keys (defaults)
=============  ===========================================================================
``"conv"``     ``filters``, ``kernel_size`` (int or (kh, kw)), ``strides=1`` (int or pair),
               ``padding="valid"`` (``"valid"``, ``"same"``, or explicit zero padding: an
               int ``p`` or a pair ``(ph, pw)``, added on both sides), ``use_bias=True``,
               ``activation=None``, ``name``
``"pool"``     ``pool_size`` (int or pair), ``strides=None`` (= ``pool_size``),
               ``padding="valid"`` (``"valid"`` or ``"same"``), ``mode="max"`` (or ``"avg"``),
               ``name``
``"flatten"``  ``name``
``"dense"``    ``units``, ``use_bias=True``, ``activation=None``, ``name``; on a 3-D input
               it acts on the last axis (as Keras' ``Dense`` does)
``"dropout"``  ``rate=0.5`` (in [0, 1]), ``name``
``"batchnorm"``  ``name``; normalises the last axis: 4*C parameters, of which gamma and beta
               (2*C) are trainable and the moving mean and variance (2*C) are not
=============  ===========================================================================

Sizes follow Keras/TensorFlow: ``floor((n + 2p - k) / s) + 1`` for ``"valid"`` (p = 0)
and explicit padding, ``ceil(n / s)`` for ``"same"``; the formula is
:func:`solutions.conv.conv_output_size` and the conv count :func:`solutions.conv.conv_param_count`.
``activation`` is accepted and ignored for shapes (it has no parameters).

Row names in :func:`summarize` are the names a freshly started Keras session gives:
``conv2d``, ``conv2d_1``, ..., ``max_pooling2d``, ``average_pooling2d``, ``flatten``,
``dense``, ``dropout``, ``batch_normalization``, each type counted on its own; a ``"name"``
key overrides the automatic name. Explicit integer padding, which Keras' ``Conv2D`` cannot
express, is one row in :func:`summarize`; :func:`build_keras_model` builds it as a
``ZeroPadding2D`` layer named ``<conv name>_pad`` (0 parameters) followed by a ``"valid"``
``Conv2D``.

Errors: an unknown type, a missing or unknown key, a bad value, an input of the wrong rank
(conv/pool need (H, W, C)) and an output size below 1 raise ``ValueError`` naming the layer
as ``layer <index> (<type>)`` and what was wrong.

>>> summarize((28, 28, 1), [{"type": "conv", "filters": 32, "kernel_size": 3}])["rows"]
[('conv2d', (26, 26, 32), 320)]
"""
from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections import OrderedDict

from .conv import conv_output_size, conv_param_count

__all__ = [
    "layer_output_shape",
    "layer_param_count",
    "summarize",
    "build_keras_model",
    "build_torch_model",
    "keras_summary",
    "torch_summary",
    "KERAS_NAMES",
    "random_architecture",
    "example_network",
]

#: layer type -> (required keys, optional keys with their defaults)
_SPEC = {
    "conv": (("filters", "kernel_size"),
             {"strides": 1, "padding": "valid", "use_bias": True, "activation": None, "name": None}),
    "pool": (("pool_size",), {"strides": None, "padding": "valid", "mode": "max", "name": None}),
    "flatten": ((), {"name": None}),
    "dense": (("units",), {"use_bias": True, "activation": None, "name": None}),
    "dropout": ((), {"rate": 0.5, "name": None}),
    "batchnorm": ((), {"name": None}),
}

#: the automatic Keras name of each layer type (pooling: by mode)
KERAS_NAMES = {
    "conv": "conv2d",
    "pool": {"max": "max_pooling2d", "avg": "average_pooling2d"},
    "flatten": "flatten",
    "dense": "dense",
    "dropout": "dropout",
    "batchnorm": "batch_normalization",
}


# ---------------------------------------------------------------------------
# checking and normalising one layer
# ---------------------------------------------------------------------------
def _where(index, kind=None) -> str:
    at = "layer" if index is None else f"layer {index}"
    return f"{at} ({kind})" if kind else at


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pos_int(v, key, where, minimum=1) -> int:
    if not _is_int(v) or v < minimum:
        raise ValueError(f"{where}: {key!r} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _pair(v, key, where, minimum=1) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2 or not all(_is_int(q) and q >= minimum for q in v):
            raise ValueError(f"{where}: {key!r} must be an int >= {minimum} or a pair of them (along H, along W), got {v!r}")
        return int(v[0]), int(v[1])
    if not _is_int(v) or v < minimum:
        raise ValueError(f"{where}: {key!r} must be an int >= {minimum} or a pair of them (along H, along W), got {v!r}")
    return int(v), int(v)


def _check_input_shape(shape, name="input_shape") -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise ValueError(f"{name} must be a tuple (H, W, C) or (n,), got {shape!r}")
    if len(shape) not in (1, 3) or not all(_is_int(s) and s >= 1 for s in shape):
        raise ValueError(f"{name} must be a tuple of positive ints, (H, W, C) or (n,), got {tuple(shape)!r}")
    return tuple(int(s) for s in shape)


def _parse(layer, index=None) -> dict:
    """Check one layer dict; return it normalised (pairs for sizes, defaults filled in)."""
    if not isinstance(layer, dict):
        raise ValueError(f"{_where(index)}: a layer must be a dict with a 'type' key, got {type(layer).__name__} {layer!r}")
    if "type" not in layer:
        raise ValueError(f"{_where(index)}: missing key 'type' (one of {sorted(_SPEC)}) in {layer!r}")
    kind = layer["type"]
    if kind not in _SPEC:
        raise ValueError(f"{_where(index)}: unknown layer type {kind!r}, expected one of {sorted(_SPEC)}")
    where = _where(index, kind)
    required, optional = _SPEC[kind]
    missing = [k for k in required if k not in layer]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; a {kind} layer needs {list(required)}")
    unknown = sorted(k for k in layer if k != "type" and k not in required and k not in optional)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {list(required) + list(optional)}")
    spec = {"type": kind, **optional, **{k: v for k, v in layer.items() if k != "type"}}
    name = spec["name"]
    if name is not None and (not isinstance(name, str) or not name or "/" in name or "." in name):
        raise ValueError(f"{where}: 'name' must be a non-empty string without '/' or '.', got {name!r}")
    if kind == "conv":
        spec["filters"] = _pos_int(spec["filters"], "filters", where)
        spec["kernel_size"] = _pair(spec["kernel_size"], "kernel_size", where)
        spec["strides"] = _pair(spec["strides"], "strides", where)
        pad = spec["padding"]
        if isinstance(pad, str):
            if pad not in ("valid", "same"):
                raise ValueError(f"{where}: 'padding' must be 'valid', 'same', an int >= 0 or a pair of them, got {pad!r}")
        else:
            spec["padding"] = _pair(pad, "padding", where, minimum=0)
            if spec["padding"] == (0, 0):
                spec["padding"] = "valid"
        _check_bool(spec, "use_bias", where)
        _check_activation(spec, where)
    elif kind == "pool":
        spec["pool_size"] = _pair(spec["pool_size"], "pool_size", where)
        strides = spec["strides"]
        spec["strides"] = spec["pool_size"] if strides is None else _pair(strides, "strides", where)
        if spec["padding"] not in ("valid", "same"):
            raise ValueError(f"{where}: 'padding' must be 'valid' or 'same', got {spec['padding']!r}")
        if spec["mode"] not in ("max", "avg"):
            raise ValueError(f"{where}: 'mode' must be 'max' or 'avg', got {spec['mode']!r}")
    elif kind == "dense":
        spec["units"] = _pos_int(spec["units"], "units", where)
        _check_bool(spec, "use_bias", where)
        _check_activation(spec, where)
    elif kind == "dropout":
        rate = spec["rate"]
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
            raise ValueError(f"{where}: 'rate' must be a number in [0, 1], got {rate!r}")
    return spec


def _check_bool(spec, key, where):
    if not isinstance(spec[key], bool):
        raise ValueError(f"{where}: {key!r} must be True or False, got {spec[key]!r}")


def _check_activation(spec, where):
    act = spec["activation"]
    if act is not None and not isinstance(act, str):
        raise ValueError(f"{where}: 'activation' must be None or a name such as 'relu', got {act!r}")


def _apply(shape, spec, where) -> tuple[tuple[int, ...], int, int]:
    """(output shape, trainable, non-trainable) of one parsed layer on ``shape``."""
    kind = spec["type"]
    if kind in ("conv", "pool"):
        if len(shape) != 3:
            raise ValueError(
                f"{where}: needs an image input (H, W, C), got shape {shape}; "
                f"{kind} layers cannot come after flatten"
            )
        H, W, C = shape
        (kh, kw) = spec["kernel_size"] if kind == "conv" else spec["pool_size"]
        sh, sw = spec["strides"]
        pad = spec["padding"]
        ph, pw = (pad, pad) if isinstance(pad, str) else pad
        sizes = []
        for axis, n, k, p, s in (("height", H, kh, ph, sh), ("width", W, kw, pw, sw)):
            try:
                size = conv_output_size(n, k, p, s)
            except ValueError as exc:
                raise ValueError(f"{where}: output {axis} would be below 1 ({exc})") from None
            sizes.append(size)
        if kind == "pool":
            return (sizes[0], sizes[1], C), 0, 0
        F = spec["filters"]
        return (sizes[0], sizes[1], F), conv_param_count((kh, kw), C, F, bias=spec["use_bias"]), 0
    if kind == "flatten":
        return (math.prod(shape),), 0, 0
    if kind == "dense":
        units = spec["units"]
        return shape[:-1] + (units,), shape[-1] * units + (units if spec["use_bias"] else 0), 0
    if kind == "dropout":
        return shape, 0, 0
    if kind == "batchnorm":
        C = shape[-1]
        return shape, 2 * C, 2 * C
    raise AssertionError(kind)  # unreachable: _parse checked the type


# ---------------------------------------------------------------------------
# the public functions
# ---------------------------------------------------------------------------
def layer_output_shape(input_shape, layer) -> tuple[int, ...]:
    """Output shape of one layer.

    input_shape: (H, W, C) or (n,), channels last, without the batch axis.
    layer: a layer dict (see the module docstring).
    Returns a tuple of ints: (H', W', F) for conv, (H', W', C) for pool, (H*W*C,) for
    flatten, input_shape[:-1] + (units,) for dense, input_shape for dropout and batchnorm.

    >>> layer_output_shape((128, 128, 3), {"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5})
    (26, 26, 5)
    """
    shape = _check_input_shape(input_shape)
    spec = _parse(layer)
    return _apply(shape, spec, _where(None, spec["type"]))[0]


def layer_param_count(input_shape, layer) -> tuple[int, int]:
    """Parameters of one layer on an input of shape (H, W, C) or (n,): ``(trainable, non_trainable)``.

    conv: kh*kw*C*filters weights (+ filters biases); dense: C*units (+ units), C = last axis;
    batchnorm: (2*C, 2*C) (gamma, beta / moving mean, moving variance); others (0, 0).
    """
    shape = _check_input_shape(input_shape)
    spec = _parse(layer)
    _, trainable, frozen = _apply(shape, spec, _where(None, spec["type"]))
    return trainable, frozen


def _auto_name(spec) -> str:
    base = KERAS_NAMES[spec["type"]]
    return base[spec["mode"]] if isinstance(base, dict) else base


def _walk(input_shape, layers):
    """Check a whole network; yield (index, spec, name, output shape, trainable, non-trainable)."""
    shape = _check_input_shape(input_shape)
    if isinstance(layers, (dict, str)) or not isinstance(layers, (list, tuple)):
        raise ValueError(f"layers must be a list of layer dicts, got {type(layers).__name__}")
    specs = [_parse(layer, i) for i, layer in enumerate(layers)]
    taken = {s["name"] for s in specs if s["name"] is not None}
    if len(taken) != sum(s["name"] is not None for s in specs):
        raise ValueError(f"layer names must be unique, got {[s['name'] for s in specs if s['name']]}")
    counters: dict[str, int] = {}
    out = []
    for i, spec in enumerate(specs):
        name = spec["name"]
        if name is None:  # Keras: conv2d, conv2d_1, conv2d_2, ... per type
            base = _auto_name(spec)
            while True:
                n = counters.get(base, 0)
                counters[base] = n + 1
                name = base if n == 0 else f"{base}_{n}"
                if name not in taken:
                    break
            taken.add(name)
        shape, trainable, frozen = _apply(shape, spec, _where(i, spec["type"]))
        out.append((i, spec, name, shape, trainable, frozen))
    return out


def summarize(input_shape, layers) -> dict:
    """What ``model.summary()`` reports in Keras, computed from the formulas.

    input_shape: (H, W, C) or (n,), channels last, without the batch axis.
    layers: a list of layer dicts (see the module docstring).
    Returns ``{"rows": [(name, output_shape, params), ...], "total": int,
    "trainable": int, "non_trainable": int}``: one row per layer dict, output shapes
    without the batch axis (Keras prints ``(None, 26, 26, 32)``, here ``(26, 26, 32)``),
    params = trainable + non-trainable parameters of that layer.

    >>> s = summarize((28, 28, 1), [{"type": "conv", "filters": 32, "kernel_size": 3},
    ...                             {"type": "flatten"}, {"type": "dense", "units": 10}])
    >>> s["rows"][-1], s["total"]
    (('dense', (10,), 216330), 216650)
    """
    rows, trainable, frozen = [], 0, 0
    for _, _, name, shape, t, f in _walk(input_shape, layers):
        rows.append((name, shape, t + f))
        trainable += t
        frozen += f
    return {"rows": rows, "total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


# ---------------------------------------------------------------------------
# real models built from the same description
# ---------------------------------------------------------------------------
def build_keras_model(input_shape, layers):
    """The Keras 3 ``Sequential`` model described by ``layers`` (imports keras lazily).

    Layer names are :func:`summarize`'s row names; a conv with explicit integer padding
    becomes ``ZeroPadding2D`` (named ``<name>_pad``) + ``Conv2D(padding="valid")``.
    The model takes (batch, *input_shape), channels last.
    """
    walk = _walk(input_shape, layers)
    import keras

    L = keras.layers
    model_layers = [keras.Input(shape=_check_input_shape(input_shape))]
    for _, spec, name, _, _, _ in walk:
        kind = spec["type"]
        if kind == "conv":
            pad = spec["padding"]
            if not isinstance(pad, str):
                model_layers.append(L.ZeroPadding2D(padding=pad, name=f"{name}_pad"))
                pad = "valid"
            model_layers.append(L.Conv2D(spec["filters"], spec["kernel_size"], strides=spec["strides"],
                                         padding=pad, use_bias=spec["use_bias"],
                                         activation=spec["activation"], name=name))
        elif kind == "pool":
            cls = L.MaxPooling2D if spec["mode"] == "max" else L.AveragePooling2D
            model_layers.append(cls(spec["pool_size"], strides=spec["strides"], padding=spec["padding"], name=name))
        elif kind == "flatten":
            model_layers.append(L.Flatten(name=name))
        elif kind == "dense":
            model_layers.append(L.Dense(spec["units"], use_bias=spec["use_bias"],
                                        activation=spec["activation"], name=name))
        elif kind == "dropout":
            model_layers.append(L.Dropout(spec["rate"], name=name))
        elif kind == "batchnorm":
            model_layers.append(L.BatchNormalization(name=name))
    return keras.Sequential(model_layers)


def _torch_activation(name, where, channel_dim):
    from torch import nn

    table = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "gelu": nn.GELU,
             "softmax": lambda: nn.Softmax(dim=channel_dim), "linear": None}
    if name is None or name == "linear":
        return None
    if name not in table:
        raise ValueError(f"{where}: activation {name!r} has no PyTorch counterpart here; use one of {sorted(table)}")
    return table[name]()


def build_torch_model(input_shape, layers):
    """The PyTorch ``nn.Sequential`` equivalent of :func:`build_keras_model`.

    It takes channels-first input: (N, C, H, W) for an image input_shape (H, W, C), or
    (N, n) for (n,); internally activations stay channels-first, but ``flatten`` first
    moves channels last and ``dense`` on an image acts on the channel axis, so the model
    computes the same function as the Keras one (given the same weights, transposed).
    Batch norm uses Keras' eps=1e-3 and momentum (torch momentum 0.01 = Keras 0.99); its
    moving statistics are buffers, not parameters.

    Raises ValueError where PyTorch cannot express the spec: conv ``padding="same"`` with
    a stride > 1 (PyTorch refuses it; TensorFlow's extra pixel at the bottom/right has no
    integer-padding equivalent) and pooling with ``padding="same"`` (PyTorch pools have no
    'same'), and for activations without a counterpart.
    """
    walk = _walk(input_shape, layers)
    import torch
    from torch import nn

    class ChannelsLast(nn.Module):
        """Apply ``inner`` to the channel axis of an (N, C, H, W) tensor."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class FlattenChannelsLast(nn.Module):
        """(N, C, H, W) -> (N, H*W*C) in Keras' (H, W, C) order; (N, n) unchanged."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)

    shape = _check_input_shape(input_shape)
    modules = OrderedDict()
    for i, spec, name, out_shape, _, _ in walk:
        where = _where(i, spec["type"])
        kind = spec["type"]
        image = len(shape) == 3
        if kind == "conv":
            pad = spec["padding"]
            if pad == "same" and spec["strides"] != (1, 1):
                raise ValueError(
                    f"{where}: PyTorch's padding='same' does not support strides {spec['strides']} > 1 "
                    f"(use explicit integer padding, or stride 1)"
                )
            torch_pad = 0 if pad == "valid" else pad
            modules[name] = nn.Conv2d(shape[-1], spec["filters"], spec["kernel_size"], stride=spec["strides"],
                                      padding=torch_pad, bias=spec["use_bias"])
            act = _torch_activation(spec["activation"], where, channel_dim=1)
            if act is not None:
                modules[f"{name}_act"] = act
        elif kind == "pool":
            if spec["padding"] != "valid":
                raise ValueError(f"{where}: PyTorch pooling has no padding='same'; use 'valid'")
            cls = nn.MaxPool2d if spec["mode"] == "max" else nn.AvgPool2d
            modules[name] = cls(spec["pool_size"], stride=spec["strides"])
        elif kind == "flatten":
            modules[name] = FlattenChannelsLast()
        elif kind == "dense":
            linear = nn.Linear(shape[-1], spec["units"], bias=spec["use_bias"])
            act = _torch_activation(spec["activation"], where, channel_dim=-1 if image else 1)
            inner = linear if act is None else nn.Sequential(linear, act)
            modules[name] = ChannelsLast(inner) if image else inner
        elif kind == "dropout":
            modules[name] = nn.Dropout(float(spec["rate"]))
        elif kind == "batchnorm":
            cls = nn.BatchNorm2d if image else nn.BatchNorm1d
            modules[name] = cls(shape[-1], eps=1e-3, momentum=0.01)
        shape = out_shape
    del torch
    return nn.Sequential(modules)


# ---------------------------------------------------------------------------
# what the frameworks report (memoised: grading a class builds each model once)
# ---------------------------------------------------------------------------
_FRAMEWORK_CACHE: dict = {}


def _cache_key(kind, input_shape, layers):
    return kind, repr(tuple(input_shape)), repr(layers)


def keras_summary(input_shape, layers) -> dict:
    """:func:`summarize`'s dict, read off the real Keras model :func:`build_keras_model` builds.

    Rows come from ``model.layers`` (``ZeroPadding2D`` layers left out: they have no
    parameters and :func:`summarize` folds them into their conv row); ``total`` is
    ``model.count_params()``, ``trainable`` / ``non_trainable`` add up the sizes of
    ``model.trainable_weights`` / ``model.non_trainable_weights``. Results are memoised
    per (input_shape, layers); the model itself is discarded.
    """
    key = _cache_key("keras", input_shape, layers)
    if key not in _FRAMEWORK_CACHE:
        model = build_keras_model(input_shape, layers)
        rows = [(layer.name, tuple(int(d) for d in layer.output.shape[1:]), int(layer.count_params()))
                for layer in model.layers if type(layer).__name__ != "ZeroPadding2D"]
        trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
        frozen = sum(math.prod(w.shape) for w in model.non_trainable_weights)
        _FRAMEWORK_CACHE[key] = {"rows": rows, "total": int(model.count_params()),
                                 "trainable": int(trainable), "non_trainable": int(frozen)}
        del model  # no keras.backend.clear_session(): the grader may be building other models in other threads
    return copy.deepcopy(_FRAMEWORK_CACHE[key])


def torch_summary(input_shape, layers) -> dict:
    """What the PyTorch module of :func:`build_torch_model` holds and outputs.

    Returns ``{"trainable": parameters with requires_grad, "non_trainable": buffer entries
    (batch-norm running mean and variance; the ``num_batches_tracked`` counters are left
    out), "output_shape": the output of a forward pass on zeros, channels last}``.
    Raises ValueError where PyTorch cannot express the spec. Memoised like :func:`keras_summary`.
    """
    key = _cache_key("torch", input_shape, layers)
    if key not in _FRAMEWORK_CACHE:
        import torch

        net = build_torch_model(input_shape, layers).eval()
        shape = _check_input_shape(input_shape)
        x = torch.zeros((1, shape[2], shape[0], shape[1]) if len(shape) == 3 else (1, *shape))
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "padding='same' with even kernel lengths ..."
            out = tuple(int(d) for d in net(x).shape[1:])
        _FRAMEWORK_CACHE[key] = {
            "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad),
            "non_trainable": sum(b.numel() for name, b in net.named_buffers()
                                 if not name.endswith("num_batches_tracked")),
            "output_shape": (out[1], out[2], out[0]) if len(out) == 3 else out,
        }
    return copy.deepcopy(_FRAMEWORK_CACHE[key])


# ---------------------------------------------------------------------------
# random valid architectures (for differential tests and hidden tests)
# ---------------------------------------------------------------------------
def random_architecture(rng, torch_compatible=False, max_side=40):
    """A random valid ``(input_shape, layers)`` pair, small enough to build quickly.

    rng: a ``numpy.random.Generator``. Covers every layer type and option: non-square
    inputs, kernels, strides and pools (int or pair), "valid"/"same"/explicit padding,
    pool strides left to default, use_bias False, dense on an image, batchnorm on images
    and vectors, networks with and without flatten. ``torch_compatible=True`` leaves out
    what :func:`build_torch_model` refuses (conv "same" with stride > 1, pool "same").
    """
    def size_or_pair(lo, hi):
        a = int(rng.integers(lo, hi + 1))
        return a if rng.random() < 0.6 else (a, int(rng.integers(lo, hi + 1)))

    shape = (int(rng.integers(6, max_side + 1)), int(rng.integers(6, max_side + 1)), int(rng.integers(1, 5)))
    input_shape, layers = shape, []

    def push(layer):
        nonlocal shape
        try:
            new = _apply(shape, _parse(layer), "random")[0]
        except ValueError:
            return False
        layers.append(layer)
        shape = new
        return True

    for _ in range(int(rng.integers(1, 5))):
        if rng.random() < 0.65:
            layer = {"type": "conv", "filters": int(rng.integers(1, 9)), "kernel_size": size_or_pair(1, 5)}
            if rng.random() < 0.7:
                layer["strides"] = size_or_pair(1, 3)
            pads = ["valid", "same", int(rng.integers(0, 3)), (int(rng.integers(0, 3)), int(rng.integers(0, 3)))]
            pad = pads[int(rng.integers(0, 4))]
            if torch_compatible and pad == "same" and _pair(layer.get("strides", 1), "strides", "") != (1, 1):
                pad = "valid"
            if pad != "valid" or rng.random() < 0.5:
                layer["padding"] = pad
            if rng.random() < 0.3:
                layer["use_bias"] = False
            if rng.random() < 0.5:
                layer["activation"] = "relu"
        else:
            layer = {"type": "pool", "pool_size": size_or_pair(1, 3)}
            if rng.random() < 0.5:
                layer["strides"] = size_or_pair(1, 3)
            if not torch_compatible and rng.random() < 0.4:
                layer["padding"] = "same"
            if rng.random() < 0.4:
                layer["mode"] = "avg"
        push(layer)
        if rng.random() < 0.25:
            push({"type": "batchnorm"})
        if rng.random() < 0.2:
            push({"type": "dropout", "rate": 0.25})
    if len(shape) == 3 and rng.random() < 0.2:
        push({"type": "dense", "units": int(rng.integers(1, 6)), "use_bias": bool(rng.random() < 0.7)})
    if rng.random() < 0.85:
        push({"type": "flatten"})
        for _ in range(int(rng.integers(1, 3))):
            push({"type": "dense", "units": int(rng.integers(1, 17)), "use_bias": bool(rng.random() < 0.8)})
            if rng.random() < 0.3:
                push({"type": "batchnorm"})
            if rng.random() < 0.3:
                push({"type": "dropout"})
    return input_shape, layers


# ---------------------------------------------------------------------------
# the networks of the lectures
# ---------------------------------------------------------------------------
def lenet5_layers():
    """Layer dicts of LeNet-5 (input (32, 32, 1)), average pooling, full C3 connectivity (ps2's solution cell)."""
    return [
        {"type": "conv", "filters": 6, "kernel_size": 5, "activation": "tanh"},
        {"type": "pool", "pool_size": 2, "mode": "avg"},
        {"type": "conv", "filters": 16, "kernel_size": 5, "activation": "tanh"},
        {"type": "pool", "pool_size": 2, "mode": "avg"},
        {"type": "conv", "filters": 120, "kernel_size": 5, "activation": "tanh"},
        {"type": "flatten"},
        {"type": "dense", "units": 84, "activation": "tanh"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]


def vgg16_layers(include_top=True):
    """Layer dicts of VGG16 (input (224, 224, 3)); without the flatten and dense top when include_top is False."""
    layers = []
    for n_convs, filters in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        for _ in range(n_convs):
            layers.append({"type": "conv", "filters": filters, "kernel_size": 3, "padding": "same", "activation": "relu"})
        layers.append({"type": "pool", "pool_size": 2})
    if include_top:
        layers += [{"type": "flatten"},
                   {"type": "dense", "units": 4096, "activation": "relu"},
                   {"type": "dense", "units": 4096, "activation": "relu"},
                   {"type": "dense", "units": 1000, "activation": "softmax"}]
    return layers


def alexnet_layers(c1_padding="valid"):
    """Layer dicts of AlexNet (one tower); C1 uses c1_padding.

    With the 3x3 / stride 2 max pooling S8 after C7, which lecture 004's table leaves out
    (6x6x256 inputs to the first dense layer).
    """
    return [
        {"type": "conv", "filters": 96, "kernel_size": 11, "strides": 4, "padding": c1_padding, "activation": "relu"},
        {"type": "pool", "pool_size": 3, "strides": 2},
        {"type": "conv", "filters": 256, "kernel_size": 5, "padding": "same", "activation": "relu"},
        {"type": "pool", "pool_size": 3, "strides": 2},
        {"type": "conv", "filters": 384, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "conv", "filters": 384, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "conv", "filters": 256, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "pool", "pool_size": 3, "strides": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dense", "units": 4096, "activation": "relu"},
        {"type": "dense", "units": 1000, "activation": "softmax"},
    ]


def example_network(name):
    """``(input_shape, layers)`` of a network from the lectures.

    ``"practice"`` / ``"practice_no_bias"`` (lecture 000's practice problem, 128x128x3),
    ``"mnist_cnn"`` (000's Keras model), ``"bn_cnn"`` (004's Keras model with batch norm),
    ``"lenet5"`` (004's table: average pooling, full C3 connectivity, 61,706 parameters),
    ``"vgg16"`` / ``"vgg16_notop"`` (as ``keras.applications.VGG16``),
    ``"alexnet"`` (004's table, one tower, with the 227x227 input its 55x55 C1 needs, and the
    3x3 / stride 2 max pooling after C7 that the table leaves out: 6x6x256 = 9216 inputs to the
    first dense layer, 62,378,344 parameters) and
    ``"alexnet_224_same"`` (the table's 224x224 input with C1 padding "same": 56x56).
    Returns fresh lists (safe to modify).
    """
    relu = {"activation": "relu"}
    nets = {
        "practice": lambda: ((128, 128, 3), [
            {"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5},
            {"type": "pool", "pool_size": 2},
            {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "padding": 2}]),
        "mnist_cnn": lambda: ((28, 28, 1), [
            {"type": "conv", "filters": 32, "kernel_size": (3, 3), **relu},
            {"type": "conv", "filters": 64, "kernel_size": (3, 3), **relu},
            {"type": "pool", "pool_size": (2, 2)},
            {"type": "dropout", "rate": 0.25},
            {"type": "flatten"},
            {"type": "dense", "units": 128, **relu},
            {"type": "dropout", "rate": 0.5},
            {"type": "dense", "units": 10, "activation": "softmax"}]),
        "bn_cnn": lambda: ((28, 28, 1), [
            {"type": "conv", "filters": 40, "kernel_size": 5, "padding": "same", **relu},
            {"type": "pool", "pool_size": 2},
            {"type": "dropout", "rate": 0.25},
            {"type": "conv", "filters": 32, "kernel_size": 3, **relu},
            {"type": "pool", "pool_size": 2},
            {"type": "dropout", "rate": 0.25},
            {"type": "flatten"},
            {"type": "dense", "units": 64, **relu},
            {"type": "batchnorm"},
            {"type": "dropout", "rate": 0.25},
            {"type": "dense", "units": 10, "activation": "softmax"}]),
        "lenet5": lambda: ((32, 32, 1), lenet5_layers()),
        "vgg16": lambda: ((224, 224, 3), vgg16_layers(True)),
        "vgg16_notop": lambda: ((224, 224, 3), vgg16_layers(False)),
        "alexnet": lambda: ((227, 227, 3), alexnet_layers("valid")),
        "alexnet_224_same": lambda: ((224, 224, 3), alexnet_layers("same")),
    }
    if name == "practice_no_bias":
        shape, layers = nets["practice"]()
        return shape, [{**layer, "use_bias": False} if layer["type"] == "conv" else layer for layer in layers]
    if name not in nets:
        raise ValueError(f"unknown network {name!r}, expected one of {sorted(nets) + ['practice_no_bias']}")
    return nets[name]()
