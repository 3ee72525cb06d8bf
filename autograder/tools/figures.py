"""Pictures of convolution for the exercises and the lectures.

Student-facing (ships with ``autograder.tools``); numpy and matplotlib only, never the
reference library. Notation as in the course: an input ``X`` of H x W pixels, a kernel
``K`` of kh x kw weights, zero padding p and stride s.

- :func:`conv_windows` lists the window of every output cell (pure numpy, testable).
- :func:`coverage_counts` says how many windows cover each input pixel.
- :func:`show_conv_windows` draws the kernel sliding over a zero-padded input with
  stride, and which output cell each window produces.
- :func:`show_coverage` draws the coverage counts as a heat map.
- :func:`show_matrices` draws small matrices with their numbers (X, K and the result).
- :func:`show_maps` draws images or feature maps side by side (e.g. a photo and its edges).

Every ``show_*`` function imports pyplot only when called and returns the Figure; in a
notebook end the call with ``;`` so the figure is drawn once.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "conv_windows",
    "coverage_counts",
    "show_conv_windows",
    "show_coverage",
    "show_matrices",
    "show_maps",
]


def _pair(value, name: str) -> tuple[int, int]:
    """An int ``v`` or a pair ``(a, b)`` of ints, as a pair of non-negative ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}.")
    if min(pair) < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}.")
    return pair


def _geometry(shape, k, stride, padding):
    """Validated ((H, W), (kh, kw), (sh, sw), (ph, pw), (H', W'))."""
    H, W = _pair(shape, "shape")
    kh, kw = _pair(k, "k")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    for name, v in (("shape", (H, W)), ("k", (kh, kw)), ("stride", (sh, sw))):
        if min(v) < 1:
            raise ValueError(f"{name} must be at least 1, got {v}.")
    if kh > H + 2 * ph or kw > W + 2 * pw:
        raise ValueError(
            f"the kernel ({kh}x{kw}) is larger than the padded input "
            f"({H + 2 * ph}x{W + 2 * pw}): no window fits."
        )
    out = ((H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)
    return (H, W), (kh, kw), (sh, sw), (ph, pw), out


def conv_windows(shape, k, stride=1, padding=0):
    """Where each output cell's window lies in the zero-padded input.

    Args:
        shape: (H, W) of the input (or an int for a square input).
        k: kernel size, int or (kh, kw).
        stride: int or (sh, sw).
        padding: int or (ph, pw), zeros added on each side.

    Returns:
        int array of shape (H', W', 2): ``[i, j] = (row, col)`` of the top-left corner of
        the window producing output cell (i, j), in padded coordinates (add -p for input
        coordinates). H' = floor((H + 2ph - kh) / sh) + 1, likewise W'.
    """
    _, _, (sh, sw), _, (Ho, Wo) = _geometry(shape, k, stride, padding)
    rows, cols = np.meshgrid(np.arange(Ho) * sh, np.arange(Wo) * sw, indexing="ij")
    return np.stack([rows, cols], axis=-1)


def coverage_counts(shape, k, stride=1, padding=0, *, padded=False):
    """How many kernel windows cover each pixel.

    Args:
        shape, k, stride, padding: as in :func:`conv_windows`.
        padded: if True, count over the padded input (H + 2ph, W + 2pw), padding included.

    Returns:
        int array (H, W) (or (H + 2ph, W + 2pw) with ``padded=True``). Corner pixels are
        covered least; with a stride larger than the kernel some pixels are never covered
        (count 0), and with a stride that does not tile the input the last rows/columns
        may be skipped.
    """
    (H, W), (kh, kw), _, (ph, pw), _ = _geometry(shape, k, stride, padding)
    counts = np.zeros((H + 2 * ph, W + 2 * pw), dtype=np.int64)
    for r, c in conv_windows(shape, k, stride, padding).reshape(-1, 2):
        counts[r:r + kh, c:c + kw] += 1
    if padded:
        return counts
    return counts[ph:ph + H, pw:pw + W]


_COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _grid(ax, nrows, ncols, x0=0.0, values=None, fills=None, fmt="{:g}", fontsize=10):
    """Draw an nrows x ncols grid of unit cells with its top-left corner at (x0, 0)."""
    from matplotlib.patches import Rectangle

    for i in range(nrows):
        for j in range(ncols):
            face = "white" if fills is None else fills[i][j]
            ax.add_patch(Rectangle((x0 + j, i), 1, 1, facecolor=face, edgecolor="0.55", lw=0.8))
            if values is not None:
                ax.text(x0 + j + 0.5, i + 0.5, fmt.format(values[i][j]), ha="center",
                        va="center", fontsize=fontsize)


def show_conv_windows(shape=(5, 5), k=3, stride=2, padding=1, *, cells=None, X=None, ax=None,
                      title=None):
    """Draw a kernel sliding over a zero-padded input, and the output cell of each window.

    Left: the padded input (padding cells grey, marked 0; input cells white, with the
    values of ``X`` if given). Coloured frames: the windows of the chosen output cells.
    Right: the output grid, each chosen cell filled with the colour of its window.

    Args:
        shape: (H, W) of the input (ignored when ``X`` is given).
        k, stride, padding: int or pair, as in :func:`conv_windows`.
        cells: output cells (i, j) to show; default: the first two of the first row and
            the first cell of the second row (or as many as exist), up to 8 cells.
        X: optional 2-D array (H, W) whose values are written in the input cells.
        ax: a matplotlib Axes to draw into (a new figure is made if None).
        title: optional title; by default it states n, k, p, s and the output size.

    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if X is not None:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (H, W), got shape {X.shape}.")
        shape = X.shape
    (H, W), (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = _geometry(shape, k, stride, padding)
    corners = conv_windows((H, W), (kh, kw), (sh, sw), (ph, pw))
    if cells is None:
        cells = [(0, 0), (0, 1), (1, 0)]
    cells = [tuple(int(v) for v in c) for c in cells if c[0] < Ho and c[1] < Wo][:len(_COLORS)]

    Hp, Wp = H + 2 * ph, W + 2 * pw
    fills = [["0.85" if (i < ph or i >= ph + H or j < pw or j >= pw + W) else "white"
              for j in range(Wp)] for i in range(Hp)]
    values = [["0" if fills[i][j] != "white" else
               ("" if X is None else f"{X[i - ph, j - pw]:g}") for j in range(Wp)]
              for i in range(Hp)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.55 * (Wp + Wo + 3) + 1, 0.55 * max(Hp, Ho) + 1.2))
    else:
        fig = ax.figure
    _grid(ax, Hp, Wp, values=values, fills=fills, fmt="{}", fontsize=9)
    x_out = Wp + 2
    out_fill = [["white"] * Wo for _ in range(Ho)]
    for n, (i, j) in enumerate(cells):
        color = _COLORS[n]
        r, c = corners[i, j]
        inset = 0.06 * (n + 1)
        ax.add_patch(Rectangle((c + inset, r + inset), kw - 2 * inset, kh - 2 * inset,
                               fill=False, edgecolor=color, lw=2.5))
        out_fill[i][j] = color
    _grid(ax, Ho, Wo, x0=x_out, fills=out_fill)
    for n, (i, j) in enumerate(cells):
        ax.text(x_out + j + 0.5, i + 0.5, f"{i},{j}", ha="center", va="center", fontsize=8,
                color="white")
    ax.text(Wp / 2, Hp + 0.4, f"padded input {Hp}x{Wp}", ha="center", va="top", fontsize=10)
    ax.text(x_out + Wo / 2, Ho + 0.4, f"output {Ho}x{Wo}", ha="center", va="top", fontsize=10)
    ax.set_xlim(-0.3, x_out + Wo + 0.3)
    ax.set_ylim(max(Hp, Ho) + 1.2, -0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is None:
        title = (f"n = {H}x{W}, k = {kh}x{kw}, p = {(ph, pw) if ph != pw else ph}, "
                 f"s = {(sh, sw) if sh != sw else sh}  ->  output {Ho}x{Wo}")
    ax.set_title(title, fontsize=11)
    return fig


def show_coverage(shape=(6, 6), k=3, stride=1, padding=0, *, ax=None, title=None):
    """Heat map of :func:`coverage_counts` over the input pixels, numbers written in.

    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    counts = coverage_counts(shape, k, stride, padding)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.5 * counts.shape[1] + 1.5, 0.5 * counts.shape[0] + 1))
    else:
        fig = ax.figure
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(int(counts.max()), 1))
    for (i, j), v in np.ndenumerate(counts):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if v > counts.max() / 2 else "black", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    kh, kw = _pair(k, "k")
    ax.set_title(title or f"coverage: k={kh}x{kw}, s={stride}, p={padding}", fontsize=10)
    return fig


def _two_d(arrays, what: str, shape: str = "") -> list[np.ndarray]:
    """Each of ``arrays`` as a numpy array; a ValueError names the first that is not 2-D."""
    out = [np.asarray(a) for a in arrays]
    for i, a in enumerate(out):
        if a.ndim != 2:
            raise ValueError(f"{what}[{i}] must be 2-D{shape}, got shape {a.shape}.")
    return out


def show_matrices(matrices, titles=None, *, ops=None, fmt="{:g}", figsize=None):
    """Draw small 2-D matrices side by side with their values, e.g. ``X``, ``K`` and the result.

    Args:
        matrices: a list of 2-D arrays (each at most about 12 x 12 to stay readable).
        titles: optional list of titles, one per matrix.
        ops: optional list of strings drawn between consecutive matrices (e.g. ["*", "="]).
        fmt: format of each value.

    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    mats = _two_d(matrices, "matrices")
    widths = [m.shape[1] for m in mats]
    height = max(m.shape[0] for m in mats)
    gap = 1.5
    total = sum(widths) + gap * (len(mats) - 1)
    fig, ax = plt.subplots(figsize=figsize or (0.5 * total + 1, 0.5 * height + 1))
    x0 = 0.0
    for i, m in enumerate(mats):
        _grid(ax, m.shape[0], m.shape[1], x0=x0, values=m, fmt=fmt, fontsize=9)
        if titles:
            ax.text(x0 + m.shape[1] / 2, -0.3, titles[i], ha="center", va="bottom", fontsize=10)
        if ops and i < len(mats) - 1 and i < len(ops):
            ax.text(x0 + m.shape[1] + gap / 2, height / 2, ops[i], ha="center", va="center",
                    fontsize=16)
        x0 += m.shape[1] + gap
    ax.set_xlim(-0.3, total + 0.3)
    ax.set_ylim(height + 0.3, -1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def show_maps(maps, titles=None, *, cmap="gray", size=3.2, symmetric=False):
    """Draw 2-D arrays (an image, feature maps) side by side in one row.

    Args:
        maps: a list of 2-D arrays (H, W), or one array (M, H, W).
        titles: optional list of M titles.
        cmap: matplotlib colour map.
        size: width in inches of each panel.
        symmetric: centre the colour scale of each map on 0 (for signed responses).

    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    maps = _two_d(maps, "maps", " (H, W)")
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"titles has {len(titles)} entries for {len(maps)} maps.")
    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps), size * 1.1), squeeze=False)
    for i, (ax, m) in enumerate(zip(axes[0], maps)):
        lim = float(np.abs(m).max()) or 1.0
        ax.imshow(m, cmap=cmap, **({"vmin": -lim, "vmax": lim} if symmetric else {}))
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig
