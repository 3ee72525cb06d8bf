"""The course a command acts on: its folders, gradebook and data, resolved once.

A course folder is one with an ``nbgrader_config.py`` (nbgrader's own marker). Every
``cnn-course`` command resolves a :class:`Course` where it starts (``autograder.cli.main``,
the only caller of :meth:`Course.locate`), from ``--course DIR``, else the folder it is run
in (or the nearest parent holding ``nbgrader_config.py``), else the checkout the package was
installed from, and passes it (or its folders) down: release, assignment loading, the
gradebook, the Gradescope zip and the sandbox's hidden folders all take the folder as a
required argument; nothing below the command line guesses a path of its own
(tests/engine/test_paths.py checks it).

Errors a user can fix (a bad ``grading.toml``, an unknown assignment, a course folder that
is not one) are :class:`ConfigError`: the command line prints them as one line naming the
file, the key and the fix, with exit status 2.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Where the package's code is (its checkout, or a site-packages): only Course.locate's last
# fallback reads it, so that `cnn-course` run from anywhere finds the checkout it came from.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
CONFIG_NAME = "nbgrader_config.py"
COURSE_ID = "cnn-course"


class ConfigError(ValueError):
    """A mistake the user can fix; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Course:
    root: Path
    course_id: str
    source: Path          # nbgrader's source folder: instructor notebooks (solutions/)
    release: Path         # nbgrader's release folder: student notebooks (exercises/)
    submitted: Path
    autograded: Path      # nbgrader's autograded notebooks, which formgrader shows
    feedback: Path
    build: Path           # everything cnn-course writes (grades, demo, similarity)
    db_url: str
    config_file: Path | None

    @property
    def grades(self) -> Path:
        """Where ``grade`` writes by default: ``build/grades/<assignment>``."""
        return self.build / "grades"

    @property
    def data(self) -> Path:
        """The offline data folder (the same one the student-side tools and the sandbox use)."""
        from autograder.tools.data import data_dir

        return data_dir()

    def grades_for(self, assignment: str) -> Path:
        return self.grades / assignment

    def ensure_db_folder(self) -> str:
        """The gradebook URL, its sqlite folder created (sqlite cannot create folders)."""
        if self.db_url.startswith("sqlite:///"):
            Path(self.db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        return self.db_url

    # ------------------------------------------------------------------ finding it

    @classmethod
    def at(cls, root: Path | str) -> "Course":
        """The course whose folder is ``root`` (its ``nbgrader_config.py`` read, if any)."""
        root = Path(root).resolve()
        cfg_file = root / CONFIG_NAME
        values: dict = {}
        if cfg_file.is_file():
            values = _read_config(cfg_file)

        def folder(key: str, default: str) -> Path:
            value = values.get(key) or default
            return (root / value).resolve() if not os.path.isabs(value) else Path(value)

        build = root / "build"
        db_url = values.get("db_url") or "sqlite:///" + str(build / "gradebook.db")
        return cls(root=root, course_id=values.get("course_id") or COURSE_ID,
                   source=folder("source_directory", "solutions"), release=folder("release_directory", "exercises"),
                   submitted=folder("submitted_directory", "submitted"),
                   autograded=folder("autograded_directory", "autograded"),
                   feedback=folder("feedback_directory", "feedback"), build=build, db_url=db_url,
                   config_file=cfg_file if cfg_file.is_file() else None)

    @classmethod
    def locate(cls, explicit: Path | str | None = None, cwd: Path | str | None = None) -> "Course":
        """``--course DIR``, else the folder run in (or a parent) with ``nbgrader_config.py``,
        else the checkout cnn-course was installed from, else the folder run in."""
        if explicit is not None:
            root = Path(explicit)
            if not root.is_dir():
                raise ConfigError(f"--course {explicit}: no such folder (expected a course folder holding "
                                  f"{CONFIG_NAME}).")
            if not (root / CONFIG_NAME).is_file() and not (root / "solutions").is_dir():
                raise ConfigError(f"--course {explicit}: not a course folder (it has neither {CONFIG_NAME} nor "
                                  "solutions/); point --course at the folder holding nbgrader_config.py.")
            return cls.at(root)
        here = Path(cwd or os.getcwd()).resolve()
        for folder in [here, *here.parents]:
            if (folder / CONFIG_NAME).is_file():
                return cls.at(folder)
        if (PACKAGE_ROOT / CONFIG_NAME).is_file():
            return cls.at(PACKAGE_ROOT)
        return cls.at(here)


def _read_config(path: Path) -> dict:
    """The CourseDirectory values of an ``nbgrader_config.py``."""
    try:
        from traitlets.config.loader import PyFileConfigLoader

        cfg = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    except Exception as exc:  # noqa: BLE001 - a broken config file is the user's to fix
        raise ConfigError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); fix the file or remove it.") from None
    cd = cfg.get("CourseDirectory", {})
    keys = ("course_id", "source_directory", "release_directory", "submitted_directory",
            "autograded_directory", "feedback_directory", "db_url")
    return {k: cd.get(k) for k in keys if isinstance(cd.get(k), str) and cd.get(k)}
