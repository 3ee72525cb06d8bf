"""Known-wrong (and a few known-right) variants of the ps6_modern_cnn solutions.

Most mutants are small edits of the reference: ``EDITS = {"<target>__<what>": [(old, new), ...]}``
replaces text in the target's solution cell of the source notebook (tests/mutants/harness.py,
``Assignment.load_mutants``), so a mutant differs from the reference by its mistake alone.
A function named ``<target>__<what>`` is a whole replacement (renamed to ``<target>``), kept for
variants that are not an edit (torch, a constant). ``__ok_`` variants are correct alternatives and
must keep full marks; ``__forbidden_`` variants compute the right values with torch, which part 1
forbids (only the grading engine catches them). The first nine wrong mutants are the bugs used
to validate solutions/modern.py (issue 21).

Mutants run in the notebook's namespace: ``np``, ``torch``, ``nn``, the given ``pair``,
``conv2d`` and the notebook's other functions are available.

``ANSWER_MUTANTS``: wrong predictions, a line appended to the reference answer cell.
"""
# ruff: noqa
import numpy as np

_BN_RUNNING_VAR = "momentum * var * M / (M - 1)"
_BN_XHAT = "xhat = (x - mean[None, :, None, None]) / np.sqrt(var + eps)[None, :, None, None]"
_SHORTCUT = "nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))"
_BOTTLENECK_RETURN = "return torch.relu(f + self.shortcut(x))"
_BASIC_RETURN = "return torch.relu(self.F(x) + self.shortcut(x)) if"

EDITS = {
    # ------------------------------------------------------------------ batch norm
    # the biased batch variance enters the running variance (PyTorch uses the unbiased one)
    "batchnorm2d_forward__biased_running_var": [(_BN_RUNNING_VAR, "momentum * var")],
    # the unbiased correction counts N images instead of M = N * H * W values
    "batchnorm2d_forward__n_not_m": [(_BN_RUNNING_VAR, "momentum * var * N / max(N - 1, 1)")],
    # statistics over H, W of each image instead of over the batch
    "batchnorm2d_forward__per_image": [(_BN_XHAT, "xhat = (x - x.mean(axis=(2, 3), keepdims=True)) / "
                                                  "np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps)")],
    # correct, written with einsum
    "batchnorm2d_forward__ok_einsum": [
        ("mean = x.mean(axis=(0, 2, 3))", 'mean = np.einsum("nchw->c", x) / M'),
        ("var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))",
         'centred = x - mean[None, :, None, None]\n    var = np.einsum("nchw,nchw->c", centred, centred) / M')],
    # the closed form with N where M = N * H * W belongs
    "batchnorm2d_backward__n_not_m": [("M = N * H * W", "M = N")],
    # dx treats the batch statistics as constants (eval-mode gradient in training mode)
    "batchnorm2d_backward__no_stat_grad": [("    return dx,", "    dx = (gamma * inv_std)[None, :, None, None] * dout\n"
                                                             "    return dx,")],
    # dgamma sums dout alone (forgets x-hat)
    "batchnorm2d_backward__dgamma_no_xhat": [("return dx, dgamma, dbeta", "return dx, dbeta.copy(), dbeta")],
    # ------------------------------------------------------------------ dropout
    # the mask marks the dropped values instead of the kept ones
    "dropout_forward__inverted_mask": [(".random(x.shape) >= p", ".random(x.shape) < p")],
    # kept values are not scaled by 1 / (1 - p)
    "dropout_forward__no_scale": [("x * mask / (1 - p)", "x * mask")],
    # ignores the seed: the mask comes from the global generator
    "dropout_forward__global_rng": [("np.random.default_rng(seed).random(", "np.random.random(")],
    # the gradient is not scaled by 1 / (1 - p)
    "dropout_backward__no_scale": [(" / (1 - p)", "")],
    # scaled by 1 - p instead of 1 / (1 - p)
    "dropout_backward__scaled_by_keep": [(" / (1 - p)", " * (1 - p)")],
    # ------------------------------------------------------------------ im2col / col2im
    # columns in (u, v, c) order instead of (c, u, v)
    "im2col__channels_last": [("np.zeros((N, Ho, Wo, C, KH, KW))", "np.zeros((N, Ho, Wo, KH, KW, C))"),
                              ("cols[:, :, :, :, u, v] =", "cols[:, :, :, u, v, :] =")],
    # ignores the padding
    "im2col__no_padding": [("pair(padding)", "pair(0)")],
    # `=` instead of `+=`: overlapping windows overwrite each other
    "col2im__assign": [("] += blocks", "] = blocks")],
    # crops the padding from the wrong place
    "col2im__padding_kept": [("return xp[:, :, ph:ph + H, pw:pw + W]",
                              "return xp[:, :, 2 * ph:2 * ph + H, 2 * pw:2 * pw + W] if ph or pw else xp")],
    # reshapes the product straight to (N, F, H', W') (the values land in the wrong places)
    "conv2d_im2col__bad_reshape": [("out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)", "out.reshape(N, F, Ho, Wo)")],
    # forgets the bias
    "conv2d_im2col__no_bias": [("if b is not None:", "if False:")],
    # ------------------------------------------------------------------ transposed convolution
    # ignores output_padding
    "conv_transpose2d__no_output_padding": [("pair(output_padding)", "pair(0)")],
    # reads w as Conv2d's (C_out, C_in, KH, KW): the channel axes are swapped
    "conv_transpose2d__conv_layout": [("np.asarray(w, dtype=float)\n", "np.asarray(w, dtype=float).transpose(1, 0, 2, 3)\n"),
                                      ("_, Cout, KH, KW = w.shape", "Cout, _, KH, KW = w.shape")],
    # forgets the bias
    "conv_transpose2d__no_bias": [("if b is not None:", "if False:")],
    # ------------------------------------------------------------------ PyTorch classes
    "BottleneckBlock__no_projection_bn": [(_SHORTCUT, "nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))")],
    # the three convolutions of the residual branch have a bias (the projection keeps none)
    "BottleneckBlock__conv_bias": [("c_mid, 1, bias=False", "c_mid, 1, bias=True"),
                                   ("padding=1, bias=False", "padding=1, bias=True"),
                                   ("c_out, 1, bias=False", "c_out, 1, bias=True")],
    "BottleneckBlock__no_shortcut": [(_BOTTLENECK_RETURN, "return torch.relu(f)")],
    "BottleneckBlock__no_final_relu": [(_BOTTLENECK_RETURN, "return f + self.shortcut(x)")],
    "BottleneckBlock__ok_functional_relu": [("f = torch.relu(self.bn1(", "f = nn.functional.relu(self.bn1(")],
    "BasicBlock__conv_bias": [("padding=1, bias=False", "padding=1, bias=True")],
    "BasicBlock__no_shortcut": [(_BASIC_RETURN, "return torch.relu(self.F(x)) if")],
    "BasicBlock__shortcut_after_relu": [(_BASIC_RETURN, "return torch.relu(self.F(x)) + self.shortcut(x) if")],
    "DigitsResNet__max_pool": [("nn.AdaptiveAvgPool2d(1)", "nn.AdaptiveMaxPool2d(1)")],
    "train_epoch__no_zero_grad": [("        optimizer.zero_grad()\n", "")],
    # its own random order instead of the given one
    "train_epoch__own_shuffle": [("order = torch.as_tensor(np.asarray(order), dtype=torch.int64)",
                                  "order = torch.randperm(len(order))")],
    # the convolutions never learn
    "train_epoch__frozen_conv": [("    model.train()\n", """    model.train()
    for name, p in model.named_parameters():
        if "conv" in name or name in ("stem.0.weight", "block.shortcut.0.weight"):
            p.requires_grad_(False)
""")],
}


def batchnorm2d_forward__forbidden_torch(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Right values from torch.nn.functional.batch_norm (torch is forbidden in part 1)."""
    import torch
    rm = torch.tensor(np.array(running_mean, dtype=float))
    rv = torch.tensor(np.array(running_var, dtype=float))
    xt = torch.tensor(np.asarray(x, dtype=float))
    out = torch.nn.functional.batch_norm(xt, rm, rv, torch.tensor(np.asarray(gamma, dtype=float)),
                                         torch.tensor(np.asarray(beta, dtype=float)), True, momentum, eps)
    x = np.asarray(x, dtype=float)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    return out.numpy(), {"xhat": None, "mean": mean, "var": var, "running_mean": rm.numpy(), "running_var": rv.numpy()}


def conv_transpose2d__forbidden_torch(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Right values from F.conv_transpose2d (torch is forbidden in part 1)."""
    import torch
    bt = None if b is None else torch.tensor(np.asarray(b, dtype=float))
    return torch.nn.functional.conv_transpose2d(torch.tensor(np.asarray(x, dtype=float)),
                                                torch.tensor(np.asarray(w, dtype=float)), bt, stride, padding,
                                                output_padding).numpy()


def train_epoch__reports_only(model, optimizer, x, y, order, batch_size=32):
    """Reports a small loss and trains nothing."""
    return 0.01


ANSWER_MUTANTS = {
    "predict_bn__biased_running": ("predict_bn", "answer_bn_running_var = 1.0"),
    "predict_bn__xhat_mean": ("predict_bn", "answer_bn_out_mean = [0.0, 0.0]"),
    "predict_dropout__no_scale": ("predict_dropout", "answer_dropout_kept = 2.0"),
    "predict_im2col__transposed": ("predict_im2col", "answer_cols_shape = (27, 50)"),
    "predict_conv_transpose__no_output_padding": ("predict_conv_transpose", "answer_convT_shape = (1, 2, 9, 9)"),
    "predict_bottleneck__no_projection_bn": ("predict_bottleneck", "answer_bottleneck_params = 8064 - 192"),
    "predict_bottleneck__all_full_size": ("predict_bottleneck",
                                          "answer_bottleneck_macs = 14 * 14 * (48 * 12 + 9 * 12 * 12 + 12 * 96 + 48 * 96)"),
}
