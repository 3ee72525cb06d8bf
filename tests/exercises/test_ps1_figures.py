"""autograder.tools.figures: the convolution pictures used by ps1 and the lectures."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autograder.tools.figures import (conv_windows, coverage_counts, show_conv_windows,  # noqa: E402
                                      show_coverage, show_maps, show_matrices)

pytestmark = pytest.mark.xdist_group("ps1_figures")


def test_conv_windows_corners_follow_stride_and_output_size():
    c = conv_windows((5, 7), k=3, stride=(2, 3), padding=1)
    # H' = (5 + 2 - 3) // 2 + 1 = 3, W' = (7 + 2 - 3) // 3 + 1 = 3
    assert c.shape == (3, 3, 2)
    assert c[0, 0].tolist() == [0, 0] and c[2, 1].tolist() == [4, 3] and c[1, 2].tolist() == [2, 6]


def test_coverage_counts():
    cov = coverage_counts((4, 4), 3, stride=1, padding=1)
    assert cov.tolist() == [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]
    # 7x7, k=3, stride 3: the kernel does not fit, the last row and column are never seen
    cov = coverage_counts((7, 7), 3, stride=3)
    assert cov[:6, :6].min() == 1 and cov[6].max() == 0 and cov[:, 6].max() == 0
    # the total equals (number of windows) * k^2
    cov = coverage_counts((6, 9), (2, 3), stride=(2, 1), padding=(1, 2), padded=True)
    assert cov.sum() == (((6 + 2 - 2) // 2 + 1) * ((9 + 4 - 3) // 1 + 1)) * 6
    assert cov.shape == (8, 13)


@pytest.mark.parametrize("kwargs, word", [
    ({"shape": (3, 3), "k": 5}, "larger than the padded input"),
    ({"shape": (5, 5), "k": 3, "stride": 0}, "stride"),
    ({"shape": (5, 5), "k": 3, "padding": -1}, "padding"),
    ({"shape": (5, 5), "k": 2.5}, "k must be an int"),
])
def test_bad_arguments_name_the_problem(kwargs, word):
    with pytest.raises((ValueError, TypeError), match=word):
        coverage_counts(**kwargs)


def test_pictures_draw_windows_and_cells():
    fig = show_conv_windows((5, 5), k=3, stride=2, padding=1, cells=[(0, 0), (2, 2), (9, 9)])
    ax = fig.axes[0]
    frames = [p for p in ax.patches if not p.get_fill()]
    assert len(frames) == 2                          # (9, 9) is outside the 3x3 output and skipped
    assert len(ax.patches) == 49 + 9 + 2             # padded grid, output grid, two frames
    assert "output 3x3" in ax.get_title()
    fig2 = show_conv_windows(X=np.arange(12).reshape(3, 4), k=(2, 3), padding=(0, 1))
    assert any(t.get_text() == "11" for t in fig2.axes[0].texts)
    fig3 = show_coverage((6, 6), 3, padding=1)
    assert [t.get_text() for t in fig3.axes[0].texts][:3] == ["4", "6", "6"]
    fig4 = show_matrices([np.eye(2), np.ones((3, 3))], ["A", "B"], ops=["*"])
    assert {"A", "B", "*"} <= {t.get_text() for t in fig4.axes[0].texts}
    with pytest.raises(ValueError, match="2-D"):
        show_matrices([np.ones(3)])
    fig5 = show_maps(np.zeros((3, 4, 5)), ["a", "b", "c"], symmetric=True)
    assert [ax.get_title() for ax in fig5.axes] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="titles has 1 entries for 2 maps"):
        show_maps([np.ones((2, 2))] * 2, ["x"])
    plt.close("all")
