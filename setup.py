"""Package selection only; all metadata lives in pyproject.toml.

``CNN_COURSE_STUDENT=1 pip install .`` builds the student distribution: the
``autograder`` package (self-check, data loaders, plotting helpers) without the
``solutions`` reference library.
"""
import os

from setuptools import find_packages, setup

include = ["autograder", "autograder.*"]
if os.environ.get("CNN_COURSE_STUDENT") != "1":
    include += ["solutions", "solutions.*"]
setup(packages=find_packages(include=include))
