"""Known-wrong (and a few correct) implementations of ps2_shapes' graded functions.

A function named ``<target>__<what>`` replaces the solution cell of ``<target>`` (renamed
to ``<target>``). ``<what>`` starting with ``ok_`` marks a correct variant that must keep
full marks; ``forbidden_`` one that uses a forbidden module; anything else is wrong and
must lose points on ``<target>``'s own tests. Each mutant is self-contained apart from the
notebook's names (``np``, ``as_pair``, ``conv_output_size``, ``layer_output_shape``,
``layer_param_count``). ``EDITS`` are mutants made from the reference itself: small text
edits of the target's solution cell (the summarize mutants), so such a mutant differs from
the reference by its mistake alone.

This file is never collected by pytest (no ``test_`` prefix) and never imported by the
notebook: tests/mutants/ps2/harness.py reads it.
"""
# ruff: noqa
# flake8: noqa


# ----------------------------------------------------------------------- conv_output_size
def conv_output_size__ceil_valid(n, k, p=0, s=1, exact=False):
    """Rounds up instead of down: counts a last, incomplete window."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + 2 * p:
        raise ValueError("kernel larger than the padded input")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("the kernel does not fit")
    return -(-(n + 2 * p - k) // s) + 1


def conv_output_size__same_floor(n, k, p=0, s=1, exact=False):
    """'same' as n // s (floor) instead of ceil(n / s)."""
    if p == "same":
        return n // s
    p = 0 if p == "valid" else p
    if k > n + 2 * p:
        raise ValueError("kernel larger than the padded input")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("the kernel does not fit")
    return (n + 2 * p - k) // s + 1


def conv_output_size__no_plus_one(n, k, p=0, s=1, exact=False):
    """Lecture 2's formula as printed: (n + 2p - k) / s, without the +1."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + 2 * p:
        raise ValueError("kernel larger than the padded input")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("the kernel does not fit")
    return (n + 2 * p - k) // s


def conv_output_size__same_ignores_stride(n, k, p=0, s=1, exact=False):
    """'same' keeps the input size whatever the stride."""
    if p == "same":
        return n
    p = 0 if p == "valid" else p
    if k > n + 2 * p:
        raise ValueError("kernel larger than the padded input")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("the kernel does not fit")
    return (n + 2 * p - k) // s + 1


def conv_output_size__exact_ignored(n, k, p=0, s=1, exact=False):
    """Never raises for a kernel that does not fit."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + 2 * p:
        raise ValueError("kernel larger than the padded input")
    return (n + 2 * p - k) // s + 1


def conv_output_size__pad_one_side(n, k, p=0, s=1, exact=False):
    """Pads one side only: n + p instead of n + 2p."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + p:
        raise ValueError("kernel larger than the padded input")
    if exact and (n + p - k) % s:
        raise ValueError("the kernel does not fit")
    return (n + p - k) // s + 1


def conv_output_size__ok_math(n, k, p=0, s=1, exact=False):
    """Correct, written with math.floor / math.ceil."""
    import math

    if p == "same":
        return math.ceil(n / s)
    if p == "valid":
        p = 0
    if not isinstance(p, int) or p < 0:
        raise ValueError(f"bad padding {p!r}")
    if k > n + 2 * p:
        raise ValueError("the kernel is larger than the padded input")
    if exact and (n + 2 * p - k) % s != 0:
        raise ValueError("the kernel does not fit")
    return math.floor((n + 2 * p - k) / s) + 1


# --------------------------------------------------------------------- layer_output_shape
def _mut_shape(input_shape, layer, *, pool_default_stride=True, same_uses_stride=True, flatten_channels=True,
               dense_last_axis=True, swap_pairs=False, conv_filters=True, check=True):
    """A configurable layer_output_shape; each mutant switches one rule off."""
    kind = layer.get("type")
    shape = tuple(input_shape)
    need = {"conv": ["filters", "kernel_size"], "pool": ["pool_size"], "dense": ["units"],
            "flatten": [], "dropout": [], "batchnorm": []}
    if check:
        if kind not in need:
            raise ValueError(f"unknown layer type {kind!r}")
        for key in need[kind]:
            if key not in layer:
                raise ValueError(f"the {kind} layer is missing {key!r}")
    if kind in ("conv", "pool"):
        if check and len(shape) != 3:
            raise ValueError(f"{kind} needs (H, W, C)")
        H, W, C = shape
        size = layer["kernel_size" if kind == "conv" else "pool_size"]
        kh, kw = as_pair(size)
        default = (layer["pool_size"] if pool_default_stride else 1) if kind == "pool" else 1
        strides = layer.get("strides")
        sh, sw = as_pair(default if strides is None else strides)
        if swap_pairs:
            kh, kw = kw, kh
            sh, sw = sw, sh
        pad = layer.get("padding", "valid")
        ph, pw = (pad, pad) if isinstance(pad, str) else as_pair(pad)
        out = []
        for n, k, p, s in ((H, kh, ph, sh), (W, kw, pw, sw)):
            if p == "same" and not same_uses_stride:
                out.append(n)
                continue
            try:
                out.append(conv_output_size(n, k, p, s))
            except ValueError as exc:
                raise ValueError(f"{kind}: {exc}") from None
        return (out[0], out[1], layer["filters"] if kind == "conv" and conv_filters else C)
    if kind == "flatten":
        return (int(np.prod(shape if flatten_channels else shape[:2])),)
    if kind == "dense":
        return shape[:-1] + (layer["units"],) if dense_last_axis else (layer["units"],)
    return shape


def layer_output_shape__pool_stride_one(input_shape, layer):
    """Pool strides default to 1 instead of pool_size."""
    return _mut_shape(input_shape, layer, pool_default_stride=False)


def layer_output_shape__same_ignores_stride(input_shape, layer):
    """'same' keeps H and W whatever the stride."""
    return _mut_shape(input_shape, layer, same_uses_stride=False)


def layer_output_shape__flatten_drops_channels(input_shape, layer):
    """Flatten multiplies H and W only."""
    return _mut_shape(input_shape, layer, flatten_channels=False)


def layer_output_shape__dense_flattens(input_shape, layer):
    """Dense on an image returns (units,) instead of acting on the last axis."""
    return _mut_shape(input_shape, layer, dense_last_axis=False)


def layer_output_shape__pairs_swapped(input_shape, layer):
    """(kh, kw) and (sh, sw) read as (along W, along H)."""
    return _mut_shape(input_shape, layer, swap_pairs=True)


def layer_output_shape__conv_keeps_channels(input_shape, layer):
    """A conv layer keeps C channels instead of producing `filters` maps."""
    return _mut_shape(input_shape, layer, conv_filters=False)


def layer_output_shape__no_errors(input_shape, layer):
    """No checks: a missing key is a KeyError, an unknown type passes through."""
    return _mut_shape(input_shape, layer, check=False)


def layer_output_shape__ok_inline_formula(input_shape, layer):
    """Correct, with the formula written inline instead of calling conv_output_size."""
    kind = layer.get("type")
    if kind not in ("conv", "pool", "flatten", "dense", "dropout", "batchnorm"):
        raise ValueError(f"unknown layer type {kind!r}")
    for key in {"conv": ("filters", "kernel_size"), "pool": ("pool_size",), "dense": ("units",)}.get(kind, ()):
        if key not in layer:
            raise ValueError(f"{kind}: missing {key}")
    if kind in ("conv", "pool"):
        if len(input_shape) != 3:
            raise ValueError(f"{kind} needs an image")
        key = "kernel_size" if kind == "conv" else "pool_size"
        ks = as_pair(layer[key])
        st = layer.get("strides")
        ss = as_pair((1 if kind == "conv" else layer[key]) if st is None else st)
        pad = layer.get("padding", "valid")
        ps = (pad, pad) if isinstance(pad, str) else as_pair(pad)
        out = []
        for n, k, s, p in zip(input_shape[:2], ks, ss, ps):
            if p == "same":
                out.append(-(-n // s))
                continue
            p = 0 if p == "valid" else p
            if n + 2 * p < k:
                raise ValueError(f"{kind}: output size below 1")
            out.append((n + 2 * p - k) // s + 1)
        return (out[0], out[1], layer["filters"] if kind == "conv" else input_shape[2])
    if kind == "flatten":
        size = 1
        for d in input_shape:
            size *= d
        return (size,)
    if kind == "dense":
        return tuple(input_shape[:-1]) + (layer["units"],)
    return tuple(input_shape)


# ---------------------------------------------------------------------- layer_param_count
def _mut_params(input_shape, layer, *, conv_bias=True, dense_bias=True, bn=(2, 2), conv_c_in=True,
                dense_last_axis=True):
    kind = layer.get("type")
    C = input_shape[-1]
    if kind == "conv":
        kh, kw = as_pair(layer["kernel_size"])
        F = layer["filters"]
        bias = F if (layer.get("use_bias", True) or not conv_bias) else 0
        return (kh * kw * (C if conv_c_in else 1) * F + bias, 0)
    if kind == "dense":
        n = C if dense_last_axis else int(np.prod(input_shape))
        units = layer["units"]
        return (n * units + (units if (layer.get("use_bias", True) or not dense_bias) else 0), 0)
    if kind == "batchnorm":
        return (bn[0] * C, bn[1] * C)
    if kind in ("pool", "flatten", "dropout"):
        return (0, 0)
    raise ValueError(f"unknown layer type {kind!r}")


def layer_param_count__conv_bias_always(input_shape, layer):
    """Conv layers always count their biases (use_bias ignored)."""
    return _mut_params(input_shape, layer, conv_bias=False)


def layer_param_count__dense_bias_always(input_shape, layer):
    """Dense layers always count their biases (use_bias ignored)."""
    return _mut_params(input_shape, layer, dense_bias=False)


def layer_param_count__bn_all_trainable(input_shape, layer):
    """Batch norm: all 4C numbers counted as trainable."""
    return _mut_params(input_shape, layer, bn=(4, 0))


def layer_param_count__bn_two_c(input_shape, layer):
    """Batch norm: only gamma and beta counted (the moving statistics forgotten)."""
    return _mut_params(input_shape, layer, bn=(2, 0))


def layer_param_count__conv_no_c_in(input_shape, layer):
    """Conv kernels counted as kh x kw, forgetting that they span the C input channels."""
    return _mut_params(input_shape, layer, conv_c_in=False)


def layer_param_count__dense_all_inputs(input_shape, layer):
    """Dense on an image counted with H*W*C inputs instead of C (the last axis)."""
    return _mut_params(input_shape, layer, dense_last_axis=False)


def layer_param_count__forbidden_keras(input_shape, layer):
    """Asks Keras: correct numbers, but the exercise forbids it."""
    import keras

    if layer.get("type") not in ("conv", "dense", "batchnorm"):
        return (0, 0)
    if layer["type"] == "conv":
        lay = keras.layers.Conv2D(layer["filters"], layer["kernel_size"], padding="same",
                                  use_bias=layer.get("use_bias", True))
    elif layer["type"] == "dense":
        lay = keras.layers.Dense(layer["units"], use_bias=layer.get("use_bias", True))
    else:
        lay = keras.layers.BatchNormalization()
    lay.build((None, *input_shape))
    return (sum(int(np.prod(w.shape)) for w in lay.trainable_weights),
            sum(int(np.prod(w.shape)) for w in lay.non_trainable_weights))


# ---------------------------------------------------------------- the lectures' networks
def practice_layers__bias_ignored(use_bias=True):
    """use_bias not passed on: the conv layers always have biases."""
    return [{"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5},
            {"type": "pool", "pool_size": 2},
            {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "padding": 2}]


def practice_layers__no_pool(use_bias=True):
    """The max pooling is forgotten."""
    return [{"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5, "use_bias": use_bias},
            {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "padding": 2, "use_bias": use_bias}]


def practice_layers__conv2_unpadded(use_bias=True):
    """The second conv without its padding of 2 (5x5 instead of 7x7)."""
    return [{"type": "conv", "filters": 5, "kernel_size": 3, "strides": 5, "use_bias": use_bias},
            {"type": "pool", "pool_size": 2},
            {"type": "conv", "filters": 3, "kernel_size": 5, "strides": 2, "use_bias": use_bias}]


def mnist_cnn_layers__dense_64():
    """Dense 64 instead of 128."""
    return [{"type": "conv", "filters": 32, "kernel_size": 3}, {"type": "conv", "filters": 64, "kernel_size": 3},
            {"type": "pool", "pool_size": 2}, {"type": "dropout", "rate": 0.25}, {"type": "flatten"},
            {"type": "dense", "units": 64}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}]


def mnist_cnn_layers__no_pool():
    """The max pooling is forgotten (the dense layer gets 36,864 inputs)."""
    return [{"type": "conv", "filters": 32, "kernel_size": 3}, {"type": "conv", "filters": 64, "kernel_size": 3},
            {"type": "dropout", "rate": 0.25}, {"type": "flatten"},
            {"type": "dense", "units": 128}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}]


def mnist_cnn_layers__same_padding():
    """Both convs with padding 'same'."""
    return [{"type": "conv", "filters": 32, "kernel_size": 3, "padding": "same"},
            {"type": "conv", "filters": 64, "kernel_size": 3, "padding": "same"},
            {"type": "pool", "pool_size": 2}, {"type": "dropout", "rate": 0.25}, {"type": "flatten"},
            {"type": "dense", "units": 128}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}]


def _mut_bn_cnn(conv1_padding="same", bn=True, bn_before_dense=False):
    layers = [{"type": "conv", "filters": 40, "kernel_size": 5, "padding": conv1_padding},
              {"type": "pool", "pool_size": 2}, {"type": "dropout", "rate": 0.25},
              {"type": "conv", "filters": 32, "kernel_size": 3},
              {"type": "pool", "pool_size": 2}, {"type": "dropout", "rate": 0.25}, {"type": "flatten"}]
    if bn_before_dense:
        layers += [{"type": "batchnorm"}, {"type": "dense", "units": 64}]
    else:
        layers += [{"type": "dense", "units": 64}] + ([{"type": "batchnorm"}] if bn else [])
    return layers + [{"type": "dropout", "rate": 0.25}, {"type": "dense", "units": 10}]


def bn_cnn_layers__no_batchnorm():
    """The batch normalization layer is forgotten."""
    return _mut_bn_cnn(bn=False)


def bn_cnn_layers__conv1_valid():
    """The first conv without padding='same'."""
    return _mut_bn_cnn(conv1_padding="valid")


def bn_cnn_layers__bn_before_dense():
    """Batch norm on the 1152 flattened values instead of the 64 dense units."""
    return _mut_bn_cnn(bn_before_dense=True)


def _mut_lenet(mode="avg", c1_padding="valid", c5_dense=False):
    layers = [{"type": "conv", "filters": 6, "kernel_size": 5, "padding": c1_padding},
              {"type": "pool", "pool_size": 2, "mode": mode},
              {"type": "conv", "filters": 16, "kernel_size": 5},
              {"type": "pool", "pool_size": 2, "mode": mode}]
    if c5_dense:
        layers += [{"type": "flatten"}, {"type": "dense", "units": 120}]
    else:
        layers += [{"type": "conv", "filters": 120, "kernel_size": 5}, {"type": "flatten"}]
    return layers + [{"type": "dense", "units": 84}, {"type": "dense", "units": 10}]


def lenet5_layers__max_pooling():
    """Max pooling instead of LeNet's average pooling (same counts, other layer names)."""
    return _mut_lenet(mode="max")


def lenet5_layers__c5_as_dense():
    """C5 written as flatten + dense 120 (same parameters, but no 1x1x120 feature map)."""
    return _mut_lenet(c5_dense=True)


def lenet5_layers__c1_same():
    """C1 with padding 'same' (LeNet's 32x32 input is already padded)."""
    return _mut_lenet(c1_padding="same")


def _mut_vgg(include_top=True, last_units=1000, padding="same", flatten_always=False):
    layers = []
    for n_convs, filters in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        layers += [{"type": "conv", "filters": filters, "kernel_size": 3, "padding": padding}] * n_convs
        layers.append({"type": "pool", "pool_size": 2})
    if include_top or flatten_always:
        layers.append({"type": "flatten"})
    if include_top:
        layers += [{"type": "dense", "units": 4096}, {"type": "dense", "units": 4096},
                   {"type": "dense", "units": last_units}]
    return layers


def vgg16_layers__last_dense_4096(include_top=True):
    """Lecture 2's erratum: the last dense layer with 4096 units instead of 1000."""
    return _mut_vgg(include_top, last_units=4096)


def vgg16_layers__valid_padding(include_top=True):
    """The 3x3 convs without padding."""
    return _mut_vgg(include_top, padding="valid")


def vgg16_layers__notop_keeps_flatten(include_top=True):
    """include_top=False still ends with the flatten layer."""
    return _mut_vgg(include_top, flatten_always=True)


def _mut_alexnet(c1_padding="valid", s8=True, c3_padding="same"):
    conv = lambda f, k, **kw: {"type": "conv", "filters": f, "kernel_size": k, **kw}
    layers = [conv(96, 11, strides=4, padding=c1_padding), {"type": "pool", "pool_size": 3, "strides": 2},
              conv(256, 5, padding=c3_padding), {"type": "pool", "pool_size": 3, "strides": 2},
              conv(384, 3, padding="same"), conv(384, 3, padding="same"), conv(256, 3, padding="same")]
    if s8:
        layers.append({"type": "pool", "pool_size": 3, "strides": 2})
    return layers + [{"type": "flatten"}, {"type": "dense", "units": 4096}, {"type": "dense", "units": 4096},
                     {"type": "dense", "units": 1000}]


def alexnet_layers__no_s8(c1_padding="valid"):
    """The lecture's table taken literally: no pooling after C7 (177M weights in F9)."""
    return _mut_alexnet(c1_padding, s8=False)


def alexnet_layers__c1_padding_ignored(c1_padding="valid"):
    """C1 always unpadded."""
    return _mut_alexnet("valid")


def alexnet_layers__c3_valid(c1_padding="valid"):
    """C3 without its 'same' padding."""
    return _mut_alexnet(c1_padding, c3_padding="valid")


# ------------------------------------------------------------ predict-before-run answers
# wrong answers to the questions: {"<answer name>__<what>": source of the value}
ANSWERS = {
    "answer_c1_padding_224__lecture_55": "2",
    "answer_c1_padding_224__three": "3",
    "answer_c1_padding_224__none": "0",
    "answer_c1_padding_224__tf_total": "7",
    "answer_c1_padding_224__not_smallest": "5",
    "answer_c1_same_pads__split_of_224": "(3, 4)",
    "answer_c1_same_pads__extra_at_bottom": "(3, 5)",
    "answer_c1_same_pads__valid": "(0, 0)",
    "answer_c1_same_pads__symmetric": "(5, 5)",
    "answer_c1_same_pads__one_number": "8",
    "answer_vgg16_fc1__no_bias": "(102_760_448, 2_097_152)",
    "answer_vgg16_fc1__gap_per_pixel": "(102_764_544, 102_764_544)",
    "answer_vgg16_fc1__swapped": "(2_101_248, 102_764_544)",
    "answer_stack_params__one_layer": "(36_928, 102_464)",
    "answer_stack_params__no_c_in": "(1_280, 1_664)",
    "answer_stack_params__equal": "(102_464, 102_464)",
    "answer_mnist_pool_first__unchanged": "1_199_882",
    "answer_mnist_pool_first__dense_only": "991_360",
    "answer_mnist_pool_first__none": "None",
}


# edits of the reference (tests/mutants/harness.py, Assignment.load_mutants: each (old, new)
# replaces text in the target's solution cell of the source notebook)
EDITS = {
    # every conv is 'conv2d', every dense 'dense': no _1, _2 suffixes
    "summarize__names_not_numbered": [('name = base if count == 0 else f"{base}_{count}"', "name = base")],
    # suffixes count all layers, not each kind: conv2d, conv2d_1, max_pooling2d_2, ...
    "summarize__names_global_counter": [("count = seen.get(base, 0)\n", "count = i\n")],
    # every layer gets the network's input shape instead of the previous layer's output
    "summarize__not_chained": [("        shape = out\n", "")],
    # errors pass through without naming the layer's position
    "summarize__error_without_index": [('raise ValueError(f"layer {i} ({kind}): {exc}") from None', "raise")],
    # a row's params leave out the non-trainable ones (batch norm shows 2C)
    "summarize__rows_trainable_only": [("rows.append((name, out, t + nt))", "rows.append((name, out, t))")],
    # batch norm's moving mean and variance counted as trainable in the totals
    "summarize__bn_all_trainable": [("        trainable += t\n        non_trainable += nt\n", "        trainable += t + nt\n")],
    # average pooling named max_pooling2d
    "summarize__pool_mode_ignored": [('"average_pooling2d" if layer.get("mode", "max") == "avg" else "max_pooling2d"',
                                      '"max_pooling2d"')],
    # correct, with rows and shapes as lists instead of tuples (accepted)
    "summarize__ok_lists": [("rows.append((name, out, t + nt))", "rows.append([name, list(out), t + nt])")],
}
