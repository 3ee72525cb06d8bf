"""One implementation each: the build scripts take solution regions from the reference library.

``autograder.authoring.code_of`` reads a library function's body (inspect.getsource) for a
solution cell; these tests pin what it keeps and drops, and that the committed source notebooks
hold the library's code in the cells built from it (so an edit of either one shows up here,
not as two implementations drifting apart).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import solutions.lenet as lenet_ref
import solutions.shapes as shapes_ref
import solutions.transfer as transfer_ref
from autograder.authoring import code_of

ROOT = Path(__file__).resolve().parents[2]


def _sample(x, size=3):
    """A docstring that the solution region does not repeat."""
    if size < 1:
        raise ValueError("size")
    y = x * size                 # a comment kept with its line
    return y


class _Block:
    def __init__(self, n):
        super().__init__()
        self.n = n
        self.m = [
            n,
            n + 1,
        ]


def test_code_of_drops_signature_and_docstring_and_keeps_layout():
    assert code_of(_sample) == ('    if size < 1:\n        raise ValueError("size")\n'
                                "    y = x * size                 # a comment kept with its line\n"
                                "    return y")
    assert code_of(_sample, indent=0).startswith("if size < 1:\n")


def test_code_of_after_skips_through_the_named_statement():
    assert code_of(_Block.__init__, after="super().__init__()", indent=8) == (
        "        self.n = n\n        self.m = [\n            n,\n            n + 1,\n        ]")
    assert code_of(_sample, after='if size < 1:\n        raise ValueError("size")', indent=0) == (
        "y = x * size                 # a comment kept with its line\nreturn y")


def test_code_of_refuses_a_missing_statement_or_an_empty_body():
    with pytest.raises(ValueError, match="no statement"):
        code_of(_sample, after="return x")
    with pytest.raises(ValueError, match="no code"):
        code_of(_sample, after="return y")
    with pytest.raises(TypeError):
        code_of(_Block)


def _cell(ps: str, cid: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / ps / f"{ps}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.get("id") == cid)


def _cell_by_def(ps: str, name: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / ps / f"{ps}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.source.lstrip().startswith(f"def {name}(")
                or f"\ndef {name}(" in c.source)


@pytest.mark.parametrize("ps, function, after, indent", [
    ("ps2_shapes", shapes_ref.lenet5_layers, None, 4),
    ("ps2_shapes", shapes_ref.vgg16_layers, None, 4),
    ("ps2_shapes", shapes_ref.alexnet_layers, None, 4),
    ("ps4_transfer", transfer_ref.prepare_images, "from keras.applications.vgg16 import preprocess_input", 4),
    ("ps4_transfer", transfer_ref.build_source_cnn, "from keras import layers", 4),
])
def test_source_notebook_functions_hold_the_library_code(ps, function, after, indent):
    assert code_of(function, after=after, indent=indent) in _cell_by_def(ps, function.__name__)


def test_source_notebook_classes_hold_the_library_code():
    import solutions.modern as modern_ref
    import solutions.modern_capstone as cap

    assert code_of(lenet_ref.LeNet5.__init__, after="self.modern = bool(modern)", indent=8) in _cell("ps3_lenet", "LeNet5")
    for cls, cid, after in [(modern_ref.BasicBlock, "BasicBlock", "super().__init__()"),
                            (modern_ref.BottleneckBlock, "BottleneckBlock", 'stride = _int(stride, "stride", 1)'),
                            (cap.digits_resnet_class(), "DigitsResNet", "super().__init__()")]:
        cell = _cell("ps6_modern_cnn", cid)
        assert code_of(cls.forward, indent=8) in cell
        assert code_of(cls.__init__, after=after, indent=8) in cell
