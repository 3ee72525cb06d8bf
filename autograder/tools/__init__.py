"""What students import: data loaders, plotting helpers and the test-cell assertions.

This package ships to students (the reference library ``solutions`` does not) and
works without it. Heavy modules load lazily.
"""
from importlib import import_module

from .checks import (  # noqa: F401  (cheap, numpy only)
    assert_close,
    assert_equal,
    assert_finite,
    assert_not_modified,
    assert_raises,
    assert_shape,
    expect_array,
    run_probe,
    run_student,
)

_LAZY = {
    "load_mnist": "autograder.tools.data",
    "load_digits_images": "autograder.tools.data",
    "sample_photo": "autograder.tools.data",
    "plot_history": "autograder.tools.plots",
    "plot_confusion_matrix": "autograder.tools.plots",
    "show_images": "autograder.tools.plots",
    "show_filters": "autograder.tools.plots",
    "show_feature_maps": "autograder.tools.plots",
    "progress": "autograder.tools.plots",
}


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'autograder.tools' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
