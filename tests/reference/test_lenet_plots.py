"""Plotting helpers and the progress bar (autograder/tools/plots.py) used by ps3 and the lectures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from autograder.tools import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_confusion_matrix_counts_and_errors():
    cm = plots.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 2]]
    scores = np.eye(3)[[0, 2, 2, 2, 1]]
    assert np.array_equal(plots.confusion_matrix([0, 1, 2, 2, 1], scores), cm)
    assert plots.confusion_matrix(torch.tensor([0, 1]), torch.tensor([1, 1]), num_classes=4).shape == (4, 4)
    with pytest.raises(ValueError, match="same length.*3 and 2"):
        plots.confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="num_classes is 2 but the labels go up to 5"):
        plots.confusion_matrix([0, 5], [0, 1], num_classes=2)


def test_plot_confusion_matrix_title_and_matrix():
    y = np.array([0, 1, 2, 2, 1, 0, 0, 1])
    p = np.array([0, 1, 2, 1, 1, 0, 2, 1])
    fig = plots.plot_confusion_matrix(y, p, class_names=["a", "b", "c"])
    assert fig.confusion_matrix.tolist() == [[2, 0, 1], [0, 3, 0], [0, 1, 1]]
    ax = fig.axes[0]
    assert "75.00%" in ax.get_title() and "(6/8)" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["2", "0", "1"]
    fig = plots.plot_confusion_matrix(y, p, normalize=True)
    assert fig.axes[0].texts[0].get_text() == "0.67"


def test_plot_history_groups_train_and_validation():
    fig = plots.plot_history({"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6],
                              "accuracy": [0.5, 0.8, 0.9], "val_accuracy": [0.4, 0.7, 0.8]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["loss", "val_loss"]
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [1.1, 0.7, 0.6])
    # torch-style names, list of per-epoch dicts, Keras History-like objects
    fig = plots.plot_history([{"train_loss": 2.0, "test_accuracy": 0.5}, {"train_loss": 1.0, "test_accuracy": 0.7}])
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]

    class History:
        history = {"loss": [torch.tensor(1.0), torch.tensor(0.5)]}

    assert len(plots.plot_history(History()).axes) == 1
    fig = plots.plot_history({"loss": [1, 2], "accuracy": [0, 1]}, metrics="accuracy")
    assert [ax.get_title() for ax in fig.axes] == ["accuracy"]
    with pytest.raises(ValueError, match=r"\['acc'\] are not in the history.*'accuracy'"):
        plots.plot_history({"loss": [1], "accuracy": [1]}, metrics=["acc"])
    with pytest.raises(TypeError, match="history must be"):
        plots.plot_history(3)


@pytest.mark.parametrize("images, n, cmap", [
    (np.zeros((5, 28, 28), np.uint8), 5, True),                      # (N, H, W)
    (np.zeros((4, 28, 28, 1)), 4, True),                              # channels-last gray
    (np.random.default_rng(0).random((3, 32, 32, 3)), 3, False),      # channels-last RGB
    (torch.rand(6, 3, 16, 16), 6, False),                             # channels-first RGB (torch)
    (torch.rand(2, 1, 28, 28), 2, True),                              # channels-first gray
])
def test_show_images_layouts(images, n, cmap):
    fig = plots.show_images(images, ncols=4)
    axes = _image_axes(fig)
    assert len(axes) == n
    arr = axes[0].images[0].get_array()
    assert (arr.ndim == 2) == cmap


def test_show_images_titles_mark_wrong_predictions_in_red():
    fig = plots.show_images(np.zeros((3, 8, 8)), labels=[1, 2, 3], preds=[1, 0, 3])
    titles = [(ax.get_title(), ax.title.get_color()) for ax in _image_axes(fig)]
    assert titles[0] == ("1", "black") and titles[1] == ("0 (2)", "red")
    fig = plots.show_images(np.zeros((2, 8, 8)), labels=[0, 1], class_names=["cat", "dog"])
    assert [ax.get_title() for ax in _image_axes(fig)] == ["cat", "dog"]
    # one image given with its channel layout
    assert len(_image_axes(plots.show_images(np.zeros((3, 9, 9)), channels="first"))) == 1
    with pytest.raises(ValueError, match="1 or 3 channels"):
        plots.show_images(np.zeros((2, 5, 8, 8)), channels="first")
    with pytest.raises(ValueError, match="channels must be"):
        plots.show_images(np.zeros((2, 8, 8)), channels="middle")


def test_show_filters_torch_keras_and_modules():
    conv = torch.nn.Conv2d(1, 6, 5)
    fig = plots.show_filters(conv)
    axes = _image_axes(fig)
    assert len(axes) == 6 and axes[0].images[0].get_array().shape == (5, 5)
    np.testing.assert_allclose(axes[2].images[0].get_array(), conv.weight[2, 0].detach().numpy(), rtol=1e-6)
    w = np.random.default_rng(0).standard_normal((3, 3, 3, 16))          # Keras (kh, kw, C, F)
    axes = _image_axes(plots.show_filters(w))
    assert len(axes) == 16 and axes[0].images[0].get_array().shape == (3, 3, 3)
    axes = _image_axes(plots.show_filters(torch.randn(4, 6, 5, 5), channel=2))
    assert len(axes) == 4 and axes[0].images[0].get_array().shape == (5, 5)
    with pytest.raises(ValueError, match="4-D"):
        plots.show_filters(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"channel must be 'mean' or an int in \[0, 6\)"):
        plots.show_filters(torch.randn(4, 6, 5, 5), channel=9)


def test_show_feature_maps_stages_and_layouts():
    maps = {"C1": torch.randn(1, 6, 28, 28), "S2": torch.randn(6, 14, 14), "C5": torch.randn(1, 120, 1, 1)}
    fig = plots.show_feature_maps(maps)
    axes = _image_axes(fig)
    assert len(axes) == 6 + 6 + 1          # C5's 1x1 maps are one strip
    assert axes[-1].images[0].get_array().shape == (1, 120)
    assert axes[0].get_title().startswith("C1 28x28")
    last = _image_axes(plots.show_feature_maps(np.random.default_rng(0).random((10, 10, 16))))
    assert len(last) == 16 and last[0].images[0].get_array().shape == (10, 10)     # channels-last guessed
    with pytest.raises(ValueError, match="ONE image"):
        plots.show_feature_maps(torch.randn(2, 6, 28, 28))


def test_progress_bar(monkeypatch, capsys):
    assert list(plots.progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    bar = plots.progress(total=3)
    bar.update(3)
    bar.close()
    assert "3/3" in capsys.readouterr().err
    monkeypatch.setenv("CNN_COURSE_NO_PROGRESS", "1")
    assert list(plots.progress([1, 2])) == [1, 2]
    assert capsys.readouterr().err == ""
