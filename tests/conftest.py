"""Shared pytest set-up: keep every tool's files inside the repo's build/ folder."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "build" / "home"
_ENV = {
    "CNN_COURSE_DATA": str(ROOT / ".data"),
    "KERAS_HOME": str(HOME / "keras"),
    "MPLCONFIGDIR": str(HOME / "matplotlib"),
    "JUPYTER_CONFIG_DIR": str(HOME / "jupyter" / "config"),
    "JUPYTER_DATA_DIR": str(HOME / "jupyter" / "data"),
    "JUPYTER_RUNTIME_DIR": str(HOME / "jupyter" / "runtime"),
    "IPYTHONDIR": str(HOME / "ipython"),
    "TORCH_HOME": str(HOME / "torch"),
    "XDG_CACHE_HOME": str(HOME / "cache"),
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "MPLBACKEND": "Agg",
}
for _k, _v in _ENV.items():
    os.environ.setdefault(_k, _v)
HOME.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT
