"""Static checks of the lecture notebooks in course/ (no execution: `make lectures` runs them).

- course/README.md indexes every lecture, and every indexed lecture exists;
- each lecture names the exercise(s) it pairs with in the index;
- notebooks are valid nbformat 4 and committed without outputs;
- no lecture imports the reference library (students do not have it);
- no lecture downloads anything at run time (dataset loaders, pretrained weights, URLs,
  scikit-image data that is not shipped with the package);
- every erratum of the source lectures is corrected where the index says it is;
- lectures 01-07 state their measured full-mode time and how to turn fast mode on, and the
  index lists the measured times.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "course"
README = COURSE / "README.md"
MAX_NOTEBOOK_BYTES = 250_000  # outputs are stripped, so a lecture is text only

pytestmark = pytest.mark.xdist_group("lectures_static")


def _index() -> dict[str, list[str]]:
    """{lecture stem: [exercise names]} from the README's lecture table."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*\d\d\s*\|\s*\[`(\d\d_\w+)`\]\((\d\d_\w+)\.ipynb\)\s*\|(.*)\|(.*)\|\s*$", line)
        if m:
            stem, link, _, exercises = m.groups()
            assert stem == link, f"README row links {link}.ipynb but names {stem}"
            rows[stem] = re.findall(r"`(ps\d_\w+)`", exercises)
    return rows


INDEX = _index()
NOTEBOOKS = sorted(COURSE.glob("*.ipynb"))


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_index_has_the_seven_lectures():
    first_seven = [s for s in INDEX if s[:2] <= "07"]
    assert len(first_seven) == 7, f"course/README.md should index lectures 01-07, found {sorted(INDEX)}"
    assert sorted(INDEX) == list(INDEX), "lectures in course/README.md should be listed in order"


def test_every_notebook_is_indexed():
    missing = [p.stem for p in NOTEBOOKS if p.stem not in INDEX]
    assert not missing, f"notebooks not listed in course/README.md: {missing}"


@pytest.mark.parametrize("stem", sorted(INDEX))
def test_indexed_lecture_exists(stem):
    assert (COURSE / f"{stem}.ipynb").is_file(), f"course/README.md lists {stem}, but course/{stem}.ipynb is missing"


@pytest.mark.parametrize("stem", sorted(INDEX))
def test_lecture_names_its_exercise(stem):
    path = COURSE / f"{stem}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path.name} missing (reported by test_indexed_lecture_exists)")
    text = _text(_read(path))
    for ex in INDEX[stem]:
        assert (ROOT / "solutions" / ex).is_dir(), f"README pairs {stem} with {ex}, which is not an assignment in solutions/"
        assert ex in text, f"{stem} pairs with {ex} (course/README.md) but never names it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_valid_and_without_outputs(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name} is {path.stat().st_size} bytes: strip its outputs"
    nb = _read(path)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; commit it stripped"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_does_not_use_reference_library(path):
    code = _code(_read(path))
    hits = re.findall(r"^\s*(?:import solutions\b|from solutions\b).*", code, flags=re.M)
    assert not hits, f"{path.name} imports the reference library, which students do not have: {hits}"


DOWNLOADS = {
    r"\bload_data\s*\(": "keras.datasets.*.load_data() downloads",
    r"weights\s*=\s*['\"]imagenet['\"]": "pretrained ImageNet weights are downloaded",
    r"\bget_file\s*\(": "keras.utils.get_file downloads",
    r"\bfetch_\w+\s*\(": "sklearn.datasets.fetch_* downloads",
    r"\burllib\b|\brequests\.|\bwget\b|\bcurl\b": "network access",
    r"https?://": "a URL in code",
    r"\btorchvision\b": "torchvision is not available",
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_downloads(path):
    code = _code(_read(path))
    found = [f"{why} ({m.group(0)!r})" for pattern, why in DOWNLOADS.items() for m in re.finditer(pattern, code)]
    assert not found, f"{path.name} would need the network at run time: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skimage_data_is_shipped(path):
    code = _code(_read(path))
    if "skimage" not in code:
        return
    import skimage.data

    shipped = {p.stem for p in Path(skimage.data.__file__).parent.iterdir()}
    used = set(re.findall(r"\bdata\.(\w+)\s*\(", code))
    fetched = sorted(name for name in used if name not in shipped and not name.startswith("_"))
    assert not fetched, f"{path.name} uses skimage.data images that are downloaded on first use: {fetched}"


# erratum -> (lecture that corrects it, strings its text must contain)
ERRATA = {
    "output size has +1 and floor (63x25)": ("02_padding_stride_shapes", ["63x25", "62x24", "+1"]),
    "pooling average 19.5": ("03_channels_pooling_activations", ["19.5", "Erratum"]),
    "kernel bank C_out x C_in x K x K": ("03_channels_pooling_activations", ["C_\\text{out} \\times C_\\text{in} \\times K \\times K", "width"]),
    "dropout: retaining": ("03_channels_pooling_activations", ["retaining"]),
    "flip: true convolution vs cross-correlation": ("03_channels_pooling_activations", ["flip", "cross-correlation", "true convolution"]),
    "same padding: TF bottom/right, PyTorch symmetric": ("02_padding_stride_shapes", ["bottom", "symmetric", 'padding="same"', "stride > 1"]),
    "VGG16 138 million": ("06_architectures", ["million"]),
    ".h5 is HDF5": ("04_mnist_cnn_keras", ["HDF5", "to_categorical"]),
    "one 9x9 kernel is four 3x3 layers, not two": ("06_architectures", ["9x9", "**four**", "[3, 3, 3, 3]"]),
    "shear_range is degrees, RandomShear a factor": ("07_transfer_learning", ["angle in degrees", "shear **factor**",
                                                                              "make_augmenter"]),
    "AlexNet: 224 with padding 2 gives 55, 'same' cannot": ("06_architectures", ["padding=2", "cannot give 55"]),
}


@pytest.mark.parametrize("erratum", sorted(ERRATA))
def test_erratum_corrected(erratum):
    stem, needles = ERRATA[erratum]
    path = COURSE / f"{stem}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path.name} missing (reported by test_indexed_lecture_exists)")
    text = _text(_read(path))
    missing = [n for n in needles if n not in text]
    assert not missing, f"{stem} should correct '{erratum}' but does not mention {missing}"


FIRST_SEVEN = [p for p in NOTEBOOKS if p.stem[:2] <= "07"]


@pytest.mark.parametrize("path", FIRST_SEVEN, ids=lambda p: p.stem)
def test_states_full_mode_time_and_fast_mode(path):
    """The first cell says how long full mode took (measured) and how to start Jupyter in fast mode."""
    first = _read(path).cells[0].source
    assert "CNN_COURSE_FAST=1 jupyter lab" in first, f"{path.name}: say how to turn fast mode on"
    assert re.search(r"[Ff]ull mode[^.]*measured[^.]*\d+(\.\d+)? min", first), (
        f"{path.name}: state the measured full-mode time (e.g. 'Full mode: measured 3.7 min ...')")
    readme = README.read_text(encoding="utf-8")
    assert "CNN_COURSE_FAST=1 jupyter lab" in readme and "make lectures-full" in readme
    row = next((line for line in readme.splitlines() if line.startswith("| ") and f"`{path.stem}`" in line
                and "min" in line), None)
    assert row, f"course/README.md should list the measured full-mode time of {path.stem}"
