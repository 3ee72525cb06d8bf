"""Known-wrong (and a few known-right) implementations of the ps6_modern_cnn functions.

A function named ``<target>__<what>`` replaces the solution cell of ``<target>`` in a copy of
the source notebook (renamed to ``<target>``); ``__ok_`` variants are correct alternatives and
must keep full marks; ``__forbidden_`` variants compute the right values with torch, which
part 1 forbids (only the grading engine catches them). The first nine wrong mutants are the
bugs used to validate solutions/modern.py (issue 21).

Mutants run in the notebook's namespace: ``np``, ``torch``, ``nn``, the given ``pair``,
``conv2d`` and the notebook's other functions are available.

``CELL_MUTANTS``: whole solution cells (the PyTorch classes), ``{name: source}``.
``ANSWER_MUTANTS``: wrong predictions, a line appended to the reference answer cell.
"""
# ruff: noqa
import numpy as np


def _mut_bn_stats(x, gamma, beta, eps):
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    xhat = (x - mean[None, :, None, None]) / np.sqrt(var + eps)[None, :, None, None]
    out = np.asarray(gamma, dtype=float)[None, :, None, None] * xhat + np.asarray(beta, dtype=float)[None, :, None, None]
    return x, mean, var, xhat, out


# ---------------------------------------------------------------------- batch norm
def batchnorm2d_forward__biased_running_var(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """The biased batch variance enters the running variance (PyTorch uses the unbiased one)."""
    x, mean, var, xhat, out = _mut_bn_stats(x, gamma, beta, eps)
    return out, {"xhat": xhat, "mean": mean, "var": var,
                 "running_mean": (1 - momentum) * np.asarray(running_mean) + momentum * mean,
                 "running_var": (1 - momentum) * np.asarray(running_var) + momentum * var}


def batchnorm2d_forward__n_not_m(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """The unbiased correction counts N images instead of M = N * H * W values."""
    x, mean, var, xhat, out = _mut_bn_stats(x, gamma, beta, eps)
    N = x.shape[0]
    return out, {"xhat": xhat, "mean": mean, "var": var,
                 "running_mean": (1 - momentum) * np.asarray(running_mean) + momentum * mean,
                 "running_var": (1 - momentum) * np.asarray(running_var) + momentum * var * N / max(N - 1, 1)}


def batchnorm2d_forward__per_image(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Statistics over H, W of each image instead of over the batch."""
    x, mean, var, _, _ = _mut_bn_stats(x, gamma, beta, eps)
    xhat = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps)
    out = np.asarray(gamma)[None, :, None, None] * xhat + np.asarray(beta)[None, :, None, None]
    M = x.shape[0] * x.shape[2] * x.shape[3]
    return out, {"xhat": xhat, "mean": mean, "var": var,
                 "running_mean": (1 - momentum) * np.asarray(running_mean) + momentum * mean,
                 "running_var": (1 - momentum) * np.asarray(running_var) + momentum * var * M / (M - 1)}


def batchnorm2d_forward__ok_einsum(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Correct, written with sums and einsum."""
    x = np.asarray(x, dtype=float)
    N, C, H, W = x.shape
    M = N * H * W
    mean = np.einsum("nchw->c", x) / M
    centred = x - mean[None, :, None, None]
    var = np.einsum("nchw,nchw->c", centred, centred) / M
    xhat = centred / np.sqrt(var + eps)[None, :, None, None]
    out = np.asarray(gamma)[None, :, None, None] * xhat + np.asarray(beta)[None, :, None, None]
    return out, {"xhat": xhat, "mean": mean, "var": var,
                 "running_mean": (1 - momentum) * np.asarray(running_mean, dtype=float) + momentum * mean,
                 "running_var": (1 - momentum) * np.asarray(running_var, dtype=float) + momentum * var * M / (M - 1)}


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


def batchnorm2d_backward__n_not_m(dout, x, gamma, eps=1e-5):
    """The closed form with N where M = N * H * W belongs."""
    x, dout, gamma = np.asarray(x, dtype=float), np.asarray(dout, dtype=float), np.asarray(gamma, dtype=float)
    N = x.shape[0]
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
    dbeta, dgamma = dout.sum(axis=(0, 2, 3)), (dout * xhat).sum(axis=(0, 2, 3))
    dx = (gamma * inv / N)[None, :, None, None] * (N * dout - dbeta[None, :, None, None] - xhat * dgamma[None, :, None, None])
    return dx, dgamma, dbeta


def batchnorm2d_backward__no_stat_grad(dout, x, gamma, eps=1e-5):
    """dx treats the batch statistics as constants (eval-mode gradient in training mode)."""
    x, dout, gamma = np.asarray(x, dtype=float), np.asarray(dout, dtype=float), np.asarray(gamma, dtype=float)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
    return (gamma * inv)[None, :, None, None] * dout, (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def batchnorm2d_backward__dgamma_no_xhat(dout, x, gamma, eps=1e-5):
    """dgamma sums dout alone (forgets x-hat)."""
    x, dout, gamma = np.asarray(x, dtype=float), np.asarray(dout, dtype=float), np.asarray(gamma, dtype=float)
    N, C, H, W = x.shape
    M = N * H * W
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
    dbeta, dgamma = dout.sum(axis=(0, 2, 3)), (dout * xhat).sum(axis=(0, 2, 3))
    dx = (gamma * inv / M)[None, :, None, None] * (M * dout - dbeta[None, :, None, None] - xhat * dgamma[None, :, None, None])
    return dx, dbeta.copy(), dbeta


# ---------------------------------------------------------------------- dropout
def dropout_forward__inverted_mask(x, p, seed):
    """The mask marks the dropped values instead of the kept ones."""
    x = np.asarray(x, dtype=float)
    mask = np.random.default_rng(seed).random(x.shape) < p
    return x * mask / (1 - p), mask


def dropout_forward__no_scale(x, p, seed):
    """Kept values are not scaled by 1 / (1 - p)."""
    x = np.asarray(x, dtype=float)
    mask = np.random.default_rng(seed).random(x.shape) >= p
    return x * mask, mask


def dropout_forward__global_rng(x, p, seed):
    """Ignores the seed: the mask comes from the global generator."""
    x = np.asarray(x, dtype=float)
    mask = np.random.random(x.shape) >= p
    return x * mask / (1 - p), mask


def dropout_backward__no_scale(dout, mask, p):
    """The gradient is not scaled by 1 / (1 - p)."""
    return np.asarray(dout, dtype=float) * np.asarray(mask)


def dropout_backward__scaled_by_keep(dout, mask, p):
    """Scaled by 1 - p instead of 1 / (1 - p)."""
    return np.asarray(dout, dtype=float) * np.asarray(mask) * (1 - p)


# ---------------------------------------------------------------------- im2col / col2im
def im2col__channels_last(x, kernel_size, stride=1, padding=0):
    """Columns in (u, v, c) order instead of (c, u, v)."""
    x = np.asarray(x, dtype=float)
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    cols = np.zeros((N, Ho, Wo, KH, KW, C))
    for u in range(KH):
        for v in range(KW):
            cols[:, :, :, u, v, :] = xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw].transpose(0, 2, 3, 1)
    return cols.reshape(N * Ho * Wo, C * KH * KW)


def im2col__no_padding(x, kernel_size, stride=1, padding=0):
    """Ignores the padding."""
    x = np.asarray(x, dtype=float)
    (KH, KW), (sh, sw) = pair(kernel_size), pair(stride)
    N, C, H, W = x.shape
    Ho, Wo = (H - KH) // sh + 1, (W - KW) // sw + 1
    cols = np.zeros((N, Ho, Wo, C, KH, KW))
    for u in range(KH):
        for v in range(KW):
            cols[:, :, :, :, u, v] = x[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw].transpose(0, 2, 3, 1)
    return cols.reshape(N * Ho * Wo, C * KH * KW)


def col2im__assign(cols, x_shape, kernel_size, stride=1, padding=0):
    """`=` instead of `+=`: overlapping windows overwrite each other."""
    cols = np.asarray(cols, dtype=float)
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    blocks = cols.reshape(N, Ho, Wo, C, KH, KW)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for u in range(KH):
        for v in range(KW):
            xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw] = blocks[:, :, :, :, u, v].transpose(0, 3, 1, 2)
    return xp[:, :, ph:ph + H, pw:pw + W]


def col2im__padding_kept(cols, x_shape, kernel_size, stride=1, padding=0):
    """Crops the padding from the wrong side (the top/left only)."""
    cols = np.asarray(cols, dtype=float)
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    blocks = cols.reshape(N, Ho, Wo, C, KH, KW)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for u in range(KH):
        for v in range(KW):
            xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw] += blocks[:, :, :, :, u, v].transpose(0, 3, 1, 2)
    return xp[:, :, 2 * ph:2 * ph + H, 2 * pw:2 * pw + W] if ph or pw else xp


def conv2d_im2col__bad_reshape(x, w, b=None, stride=1, padding=0):
    """Reshapes the product straight to (N, F, H', W') (the values land in the wrong places)."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    out = im2col(x, (KH, KW), stride, padding) @ w.reshape(F, -1).T
    if b is not None:
        out = out + np.asarray(b, dtype=float)
    return out.reshape(N, F, Ho, Wo)


def conv2d_im2col__no_bias(x, w, b=None, stride=1, padding=0):
    """Forgets the bias."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    out = im2col(x, (KH, KW), stride, padding) @ w.reshape(F, -1).T
    return out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)


# ---------------------------------------------------------------------- transposed convolution
def conv_transpose2d__no_output_padding(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Ignores output_padding."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    N, Cin, H, W = x.shape
    _, Cout, KH, KW = w.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    Hout, Wout = (H - 1) * sh - 2 * ph + KH, (W - 1) * sw - 2 * pw + KW
    cols = x.transpose(0, 2, 3, 1).reshape(N * H * W, Cin) @ w.reshape(Cin, Cout * KH * KW)
    out = col2im(cols, (N, Cout, Hout, Wout), (KH, KW), (sh, sw), (ph, pw))
    if b is not None:
        out = out + np.asarray(b, dtype=float)[None, :, None, None]
    return out


def conv_transpose2d__conv_layout(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Reads w as Conv2d's (C_out, C_in, KH, KW): the channel axes are swapped."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float).transpose(1, 0, 2, 3)
    N, Cin, H, W = x.shape
    Cout, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    (sh, sw), (ph, pw), (oh, ow) = pair(stride), pair(padding), pair(output_padding)
    Hout, Wout = (H - 1) * sh - 2 * ph + KH + oh, (W - 1) * sw - 2 * pw + KW + ow
    cols = x.transpose(0, 2, 3, 1).reshape(N * H * W, Cin) @ w.reshape(Cin, Cout * KH * KW)
    out = col2im(cols, (N, Cout, Hout, Wout), (KH, KW), (sh, sw), (ph, pw))
    if b is not None:
        out = out + np.asarray(b, dtype=float)[None, :, None, None]
    return out


def conv_transpose2d__no_bias(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Forgets the bias."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    N, Cin, H, W = x.shape
    _, Cout, KH, KW = w.shape
    (sh, sw), (ph, pw), (oh, ow) = pair(stride), pair(padding), pair(output_padding)
    Hout, Wout = (H - 1) * sh - 2 * ph + KH + oh, (W - 1) * sw - 2 * pw + KW + ow
    cols = x.transpose(0, 2, 3, 1).reshape(N * H * W, Cin) @ w.reshape(Cin, Cout * KH * KW)
    return col2im(cols, (N, Cout, Hout, Wout), (KH, KW), (sh, sw), (ph, pw))


def conv_transpose2d__forbidden_torch(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Right values from F.conv_transpose2d (torch is forbidden in part 1)."""
    import torch
    bt = None if b is None else torch.tensor(np.asarray(b, dtype=float))
    return torch.nn.functional.conv_transpose2d(torch.tensor(np.asarray(x, dtype=float)),
                                                torch.tensor(np.asarray(w, dtype=float)), bt, stride, padding,
                                                output_padding).numpy()


# ---------------------------------------------------------------------- PyTorch classes (whole cells)
_BOTTLENECK = '''
class BottleneckBlock(nn.Module):
    def __init__(self, c_in, c_mid, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=BIAS)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride=stride, padding=1, bias=BIAS)
        self.bn2 = nn.BatchNorm2d(c_mid)
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=BIAS)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = SHORTCUT

    def forward(self, x):
        f = torch.relu(self.bn1(self.conv1(x)))
        f = torch.relu(self.bn2(self.conv2(f)))
        f = self.bn3(self.conv3(f))
        return RETURN
'''
_PROJ = "nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))"


def _bottleneck(bias="False", shortcut=_PROJ, ret="torch.relu(f + self.shortcut(x))"):
    return _BOTTLENECK.replace("BIAS", bias).replace("SHORTCUT", shortcut).replace("RETURN", ret)


_BASIC = '''
class BasicBlock(nn.Module):
    residual = True

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.F = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=BIAS), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=BIAS), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return RETURN
'''


def _basic(bias="False", ret="torch.relu(self.F(x) + self.shortcut(x)) if self.residual else torch.relu(self.F(x))"):
    return _BASIC.replace("BIAS", bias).replace("RETURN", ret)


CELL_MUTANTS = {
    "BottleneckBlock__no_projection_bn": ("BottleneckBlock", _bottleneck(
        shortcut="nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))")),
    "BottleneckBlock__conv_bias": ("BottleneckBlock", _bottleneck(bias="True")),
    "BottleneckBlock__no_shortcut": ("BottleneckBlock", _bottleneck(ret="torch.relu(f)")),
    "BottleneckBlock__no_final_relu": ("BottleneckBlock", _bottleneck(ret="f + self.shortcut(x)")),
    "BottleneckBlock__ok_functional_relu": ("BottleneckBlock", _bottleneck().replace(
        "        f = torch.relu(self.bn1(self.conv1(x)))\n", "        f = nn.functional.relu(self.bn1(self.conv1(x)))\n")),
    "BasicBlock__conv_bias": ("BasicBlock", _basic(bias="True")),
    "BasicBlock__no_shortcut": ("BasicBlock", _basic(ret="torch.relu(self.F(x))")),
    "BasicBlock__shortcut_after_relu": ("BasicBlock", _basic(
        ret="torch.relu(self.F(x)) + self.shortcut(x) if self.residual else torch.relu(self.F(x))")),
    "DigitsResNet__max_pool": ("DigitsResNet", '''
class DigitsResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.block = BottleneckBlock(16, 8, 32, stride=2)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))
'''),
    "train_epoch__no_zero_grad": ("train_epoch", '''
def train_epoch(model, optimizer, x, y, order, batch_size=32):
    model.train()
    losses = []
    order = torch.as_tensor(np.asarray(order), dtype=torch.int64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
'''),
    "train_epoch__own_shuffle": ("train_epoch", '''
def train_epoch(model, optimizer, x, y, order, batch_size=32):
    model.train()
    losses = []
    order = torch.randperm(len(order))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
'''),
    "train_epoch__frozen_conv": ("train_epoch", '''
def train_epoch(model, optimizer, x, y, order, batch_size=32):
    model.train()
    for name, p in model.named_parameters():
        if "conv" in name or name in ("stem.0.weight", "block.shortcut.0.weight"):
            p.requires_grad_(False)
    losses = []
    order = torch.as_tensor(np.asarray(order), dtype=torch.int64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
'''),
    "train_epoch__reports_only": ("train_epoch", '''
def train_epoch(model, optimizer, x, y, order, batch_size=32):
    return 0.01
'''),
}

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
