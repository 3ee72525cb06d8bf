"""Plotting helpers and a progress bar for the lectures and exercises.

Every function accepts numpy arrays, torch tensors (on any device, with or without
grad) and TensorFlow/Keras tensors, and returns the matplotlib ``Figure`` it drew
(in a notebook the figure is shown at the end of the cell). Image layouts:

* ``show_images``: (N, H, W), (N, H, W, C) channels-last (Keras) or (N, C, H, W)
  channels-first (PyTorch), C in {1, 3}; guessed, or set ``channels="first"/"last"``.
* ``show_filters``: (F, C, kh, kw) PyTorch layout or (kh, kw, C, F) Keras layout; a
  ``torch.nn.Conv2d`` or a Keras ``Conv2D`` layer works too.
* ``show_feature_maps``: (C, H, W) / (1, C, H, W) channels-first or (H, W, C) /
  (1, H, W, C) channels-last; a dict ``{stage name: maps}`` draws one block per stage.
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

__all__ = ["plot_history", "plot_confusion_matrix", "confusion_matrix", "show_images",
           "show_filters", "show_feature_maps", "progress", "to_numpy"]


# ----------------------------------------------------------------------- helpers
def to_numpy(x) -> np.ndarray:
    """numpy array from a numpy array, list, torch tensor or TF/Keras tensor."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and callable(x.numpy):  # tf.Tensor / tf.Variable
        return np.asarray(x.numpy())
    return np.asarray(x)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _plt():
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND") and not _in_notebook():
        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")     # a Jupyter kernel has imported it; importing it
    if ipython is None:                      # here would cost 0.1-0.5 s for nothing
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _grid(n: int, ncols: int):
    ncols = max(1, min(int(ncols), n))
    return math.ceil(n / ncols), ncols


def _panels(n: int, ncols: int, size: float, title) -> tuple:
    """A figure of ``n`` square panels of ``size`` inches, ``ncols`` a row (room above for a
    ``title``), every axis off: ``(fig, its first n axes)``."""
    rows, cols = _grid(n, ncols)
    fig, axes = _plt().subplots(rows, cols, figsize=(size * cols, size * rows + (0.4 if title else 0)),
                                squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes.ravel()[:n]


# ---------------------------------------------------------------------- progress
def progress(iterable=None, desc: str | None = None, total: int | None = None, leave: bool = True, **kwargs):
    """A tqdm progress bar that suits where the code runs.

    In Jupyter (with ipywidgets installed) it is the notebook widget; elsewhere the
    text bar on stderr, redrawn at most twice a second so logs stay short. Set
    ``CNN_COURSE_NO_PROGRESS=1`` (or ``disable=True``) to hide it. Use it like tqdm:
    ``for X, y in progress(loader, desc="epoch 1"):`` and ``bar.set_postfix(loss=...)``.
    """
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", True)
    if os.environ.get("CNN_COURSE_NO_PROGRESS") == "1":
        kwargs["disable"] = True
    bar_cls = None
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as bar_cls
        except Exception:
            bar_cls = None
    if bar_cls is None:
        from tqdm.std import tqdm as bar_cls
        kwargs.setdefault("file", sys.stderr)
    return bar_cls(iterable, desc=desc, total=total, leave=leave, **kwargs)


# ----------------------------------------------------------------------- history
_PREFIXES = ("val_", "valid_", "test_", "train_")


def _history_dict(history) -> dict[str, np.ndarray]:
    if hasattr(history, "history") and isinstance(history.history, dict):  # keras History
        history = history.history
    if isinstance(history, (list, tuple)):  # list of per-epoch dicts
        if not all(isinstance(r, dict) for r in history):
            raise TypeError("history must be a dict of lists, a list of per-epoch dicts or a Keras History; "
                            f"got a {type(history).__name__} of {sorted({type(r).__name__ for r in history})}.")
        keys = list(dict.fromkeys(k for r in history for k in r))
        history = {k: [r.get(k, np.nan) for r in history] for k in keys}
    if not isinstance(history, dict):
        raise TypeError("history must be a dict of lists (e.g. {'loss': [...], 'val_loss': [...]}), "
                        f"a list of per-epoch dicts or a Keras History; got {type(history).__name__}.")
    out = {}
    for k, v in history.items():
        arr = np.asarray([float(to_numpy(e)) for e in v], dtype=np.float64) if len(v) else np.zeros(0)
        out[str(k)] = arr
    if not out:
        raise ValueError("history is empty: there is nothing to plot.")
    return out


def _base_name(key: str) -> str:
    for p in _PREFIXES:
        if key.startswith(p):
            return key[len(p):]
    return key


def plot_history(history, metrics=None, title: str | None = None, figsize=None):
    """Training curves, one panel per metric, training and validation on the same axes.

    ``history``: a dict of per-epoch lists (``{"loss": [...], "val_loss": [...],
    "accuracy": [...]}``; ``train_``/``val_``/``valid_``/``test_`` prefixes are grouped),
    a list of per-epoch dicts, or a Keras ``History``. ``metrics``: base names to draw
    (default: all, in order). Returns the Figure.
    """
    h = _history_dict(history)
    groups: dict[str, list[str]] = {}
    for key in h:
        groups.setdefault(_base_name(key), []).append(key)
    if metrics is not None:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in metrics if m not in groups]
        if unknown:
            raise ValueError(f"metrics {unknown} are not in the history; it has {sorted(groups)}.")
        groups = {m: groups[m] for m in metrics}
    plt = _plt()
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=figsize or (4.5 * n, 3.4), squeeze=False)
    for ax, (base, keys) in zip(axes[0], groups.items()):
        for key in keys:
            y = h[key]
            epochs = np.arange(1, len(y) + 1)
            ax.plot(epochs, y, marker="o" if len(y) <= 30 else None, ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(base)
        ax.set_title(base)
        ax.grid(alpha=0.3)
        if max(len(h[k]) for k in keys) <= 20:
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- confusion matrix
def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts ``cm[i, j]`` of samples of true class i predicted as j: (K, K) int64."""
    t = to_numpy(y_true).astype(np.int64).ravel()
    p = to_numpy(y_pred)
    if p.ndim == 2:  # scores or probabilities (N, K): take the arg max
        p = p.argmax(axis=1)
    p = p.astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}.")
    if t.size and (t.min() < 0 or p.min() < 0):
        raise ValueError("labels must be non-negative integers (class indices).")
    k = int(max(t.max(initial=-1), p.max(initial=-1)) + 1) if num_classes is None else int(num_classes)
    if t.size and max(t.max(), p.max()) >= k:
        raise ValueError(f"num_classes is {k} but the labels go up to {max(t.max(), p.max())}.")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize: bool = False,
                          title: str | None = None, cmap: str = "Blues", figsize=None):
    """Confusion matrix as a heat map with the count (or row fraction) in each cell.

    ``y_true`` (N,) labels; ``y_pred`` (N,) labels or (N, K) scores. ``normalize=True``
    divides each row by its total (per-class recall on the diagonal). The title shows the
    accuracy. Returns the Figure; the matrix is ``fig.confusion_matrix`` (K, K).
    """
    k = None if class_names is None else len(class_names)
    cm = confusion_matrix(y_true, y_pred, num_classes=k)
    k = cm.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    plt = _plt()
    fig, ax = plt.subplots(figsize=figsize or (0.55 * k + 2.5, 0.55 * k + 2.0))
    im = ax.imshow(shown, cmap=cmap, vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2 if shown.size else 0
    if k <= 20:
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if normalize else str(cm[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > threshold else "black")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"accuracy {acc:.2%} ({np.trace(cm)}/{cm.sum()})")
    fig.tight_layout()
    fig.confusion_matrix = cm
    return fig


# ------------------------------------------------------------------------ images
def _array_and_origin(values, channels: str | None) -> tuple[np.ndarray, bool]:
    """``(values as a numpy array, whether they came from torch)``, once ``channels`` is checked."""
    if channels not in (None, "first", "last"):
        raise ValueError(f"channels must be None, 'first' or 'last', got {channels!r}.")
    torch_like = _is_torch(values)
    return to_numpy(values), torch_like


def _images_nhwc(images, channels: str | None) -> np.ndarray:
    """(N, H, W, C) float array with C in {1, 3} from any supported layout."""
    x, torch_like = _array_and_origin(images, channels)
    if x.ndim == 2:  # one gray image
        x = x[None, ..., None]
    elif x.ndim == 3:
        # (N, H, W) gray images; with channels given, ONE image (C, H, W) or (H, W, C)
        x = x[None] if channels is not None else x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W); got {x.shape}.")
    if channels == "first" or (channels is None and x.shape[1] in (1, 3)
                               and (x.shape[-1] not in (1, 3) or torch_like)):
        x = np.moveaxis(x, 1, -1)
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels; got shape {x.shape} (read as N, H, W, C). "
                         "Pass channels='first' or 'last' if the guess is wrong.")
    return x


def _display_range(img: np.ndarray) -> np.ndarray:
    integer = img.dtype.kind in "ui"
    img = img.astype(np.float64)
    if integer or img.max(initial=0) > 1.0 or img.min(initial=0) < 0.0:
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img


def show_images(images, labels=None, preds=None, class_names=None, ncols: int = 8,
                channels: str | None = None, cmap: str = "gray", title: str | None = None,
                max_images: int = 64, size: float = 1.4):
    """A grid of images with their labels (and predictions: wrong ones in red).

    ``images``: (N, H, W), (N, H, W, C) or (N, C, H, W), C in {1, 3} (a 3-D array with
    ``channels`` set is ONE image, (C, H, W) or (H, W, C)), any dtype (uint8
    0-255, floats in [0, 1], or normalised floats, rescaled for display). ``labels`` and
    ``preds``: (N,) ints (``preds`` may be (N, K) scores). Shows at most ``max_images``.
    Returns the Figure.
    """
    x = _images_nhwc(images, channels)[:max_images]
    n = len(x)
    if n == 0:
        raise ValueError("images is empty: there is nothing to show.")
    lab = None if labels is None else to_numpy(labels).ravel()[:n]
    prd = None
    if preds is not None:
        prd = to_numpy(preds)
        prd = (prd.argmax(axis=1) if prd.ndim == 2 else prd.ravel())[:n]
    name = (lambda c: str(class_names[int(c)])) if class_names is not None else (lambda c: str(int(c)))
    fig, axes = _panels(n, ncols, size, title)
    for i, ax in enumerate(axes):
        img = x[i]
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap=cmap)
        else:
            ax.imshow(np.clip(_display_range(img), 0, 1))
        if lab is not None and prd is not None:
            ok = int(lab[i]) == int(prd[i])
            ax.set_title(f"{name(prd[i])} ({name(lab[i])})" if not ok else name(prd[i]),
                         color="black" if ok else "red", fontsize=9)
        elif lab is not None:
            ax.set_title(name(lab[i]), fontsize=9)
        elif prd is not None:
            ax.set_title(name(prd[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _filters_fchw(weights, layout: str | None) -> np.ndarray:
    if layout not in (None, "torch", "keras"):
        raise ValueError(f"layout must be None, 'torch' or 'keras', got {layout!r}.")
    w = weights
    if hasattr(w, "weight") and not isinstance(w, np.ndarray) and hasattr(w.weight, "shape"):  # nn.Conv2d
        w, layout = w.weight, layout or "torch"
    elif hasattr(w, "get_weights") and callable(w.get_weights):  # keras Conv2D layer
        params = w.get_weights()
        if not params:
            raise ValueError("the Keras layer has no weights yet: build it (call it once) first.")
        w, layout = params[0], layout or "keras"
    if layout is None and _is_torch(w):
        layout = "torch"
    w = to_numpy(w)
    if w.ndim != 4:
        raise ValueError(f"weights must be 4-D, (F, C, kh, kw) or (kh, kw, C, F); got shape {w.shape}.")
    if layout is None:
        # PyTorch puts the (square, small) kernel last, Keras first.
        layout = "keras" if (w.shape[0] == w.shape[1] and w.shape[2] != w.shape[3]) else "torch"
    return np.transpose(w, (3, 2, 0, 1)) if layout == "keras" else w


def show_filters(weights, ncols: int = 8, layout: str | None = None, channel="mean",
                 cmap: str = "gray", title: str | None = None, size: float = 1.2, max_filters: int = 64):
    """The kernels of a convolution layer, one small image per filter.

    ``weights``: (F, C, kh, kw) PyTorch layout, (kh, kw, C, F) Keras layout, a
    ``torch.nn.Conv2d`` or a Keras ``Conv2D``. With C == 3 each filter is drawn in colour
    (rescaled to [0, 1]); otherwise as a gray image of input channel ``channel`` (an int)
    or of the mean over input channels (``"mean"``). Each filter has its own colour scale
    (light = large weights). Returns the Figure.
    """
    w = _filters_fchw(weights, layout)[:max_filters]
    f, c = w.shape[:2]
    fig, axes = _panels(f, ncols, size, title)
    for i, ax in enumerate(axes):
        k = w[i]
        if c == 3 and channel == "mean":
            ax.imshow(_display_range(np.moveaxis(k, 0, -1)) if np.ptp(k) > 0 else np.zeros(k.shape[1:] + (3,)))
        else:
            if channel == "mean":
                img = k.mean(axis=0)
            elif isinstance(channel, (int, np.integer)) and 0 <= channel < c:
                img = k[int(channel)]
            else:
                raise ValueError(f"channel must be 'mean' or an int in [0, {c}), got {channel!r}.")
            ax.imshow(img, cmap=cmap)
        ax.set_title(str(i), fontsize=8)
    fig.suptitle(title or f"{f} filters, {w.shape[2]}x{w.shape[3]}" + (f", {c} input channels" if c > 1 else ""))
    fig.tight_layout()
    return fig


def _maps_chw(maps, channels: str | None) -> np.ndarray:
    x, torch_like = _array_and_origin(maps, channels)
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"feature maps of ONE image are expected: (C, H, W) or (1, C, H, W); got {x.shape}. "
                             "Select an image first, e.g. maps[0].")
        x = x[0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 1:  # a dense layer or C5's (120,) output: one row of 1x1 maps
        x = x[:, None, None]
    if x.ndim != 3:
        raise ValueError(f"feature maps must have shape (C, H, W) or (H, W, C); got {x.shape}.")
    if channels is None:
        if torch_like:
            channels = "first"
        elif x.shape[1] == x.shape[2] and x.shape[0] != x.shape[1]:
            channels = "first"
        elif x.shape[0] == x.shape[1] and x.shape[2] != x.shape[0]:
            channels = "last"
        else:
            channels = "first"
    return np.moveaxis(x, -1, 0) if channels == "last" else x


def show_feature_maps(maps, ncols: int = 8, channels: str | None = None, cmap: str = "viridis",
                      title: str | None = None, size: float = 1.3, max_maps: int = 32):
    """Activation maps of one image, one panel per channel.

    ``maps``: (C, H, W) or (1, C, H, W) channels-first (PyTorch), (H, W, C) or
    (1, H, W, C) channels-last (Keras): guessed from the shape, or set ``channels``.
    A dict ``{"C1": maps, "S2": maps, ...}`` (or a list of (name, maps) pairs) draws one
    row block per stage. Shows the first ``max_maps`` channels. Returns the Figure.
    """
    if isinstance(maps, dict):
        stages = list(maps.items())
    elif isinstance(maps, (list, tuple)) and maps and all(isinstance(s, tuple) and len(s) == 2 for s in maps):
        stages = list(maps)
    else:
        stages = [(None, maps)]
    stages = [(name, _maps_chw(m, channels)) for name, m in stages]
    layout = []  # (first row, rows, cols) of each stage
    total_rows, width = 0, 1
    for name, m in stages:
        if m.shape[1] * m.shape[2] == 1:  # 1x1 maps (C5): one strip of C values
            rows, cols = 1, ncols
        else:
            rows, cols = _grid(min(len(m), max_maps), ncols)
        layout.append((total_rows, rows, cols))
        total_rows += rows
        width = max(width, cols)
    plt = _plt()
    fig = plt.figure(figsize=(size * width, size * total_rows + 0.4))
    gs = fig.add_gridspec(total_rows, width)
    for (name, m), (r0, rows, cols) in zip(stages, layout):
        c, h, w = m.shape
        if h * w == 1:
            ax = fig.add_subplot(gs[r0, :])
            ax.imshow(m.reshape(1, c), cmap=cmap, aspect="auto")
            ax.set_yticks([])
            ax.set_title(f"{name + ': ' if name else ''}{c} maps of size 1x1 (one value each)", fontsize=8)
            continue
        for i in range(min(c, max_maps)):
            ax = fig.add_subplot(gs[r0 + i // cols, i % cols])
            ax.imshow(m[i], cmap=cmap)
            ax.axis("off")
            label = f"#{i}" if not name else (f"{name} {h}x{w} #0" if i == 0 else f"{name} #{i}")
            ax.set_title(label, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
