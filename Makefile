# cnn-course: every target installs what is missing first (see `make install`).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Everything the tools write goes under build/ (never the user's home); tests also keep
# their temporary files there (TMPDIR, --basetemp).
export CNN_COURSE_DATA ?= $(CURDIR)/.data
export KERAS_HOME := $(CURDIR)/build/home/keras
export MPLCONFIGDIR := $(CURDIR)/build/home/matplotlib
export JUPYTER_CONFIG_DIR := $(CURDIR)/build/home/jupyter/config
export JUPYTER_DATA_DIR := $(CURDIR)/build/home/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/build/home/jupyter/runtime
export IPYTHONDIR := $(CURDIR)/build/home/ipython
export TORCH_HOME := $(CURDIR)/build/home/torch
export XDG_CACHE_HOME := $(CURDIR)/build/home/cache
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# pyproject's requires-python (>=3.11,<3.13), said in one line before pip starts.
PYCHECK = $(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 11) <= v[:2] < (3, 13) else \
  f"cnn-course needs Python 3.11 or 3.12; $(PYTHON) is {sys.version.split()[0]}: run make $(if $(filter $(STAMP),$@),install,$@) PYTHON=python3.11")'

.PHONY: help install install-student student-wheel data test lectures lectures-full bench demo release clean

help:
	@echo "make demo      set up, release the exercises, grade the sample submissions, write a report"
	@echo "make test      set up, then run every test (unit, grading, mutation, lectures)"
	@echo "make install   create .venv with the project (editable) and prepare offline data"
	@echo "make install-student  create .venv-student: what a student gets (no reference library)"
	@echo "make student-wheel    build build/dist/cnn_course-*.whl without solutions/, to hand out to students"
	@echo "make bench     print speed ratios measured in one run"
	@echo "make release   run each solutions/<ps>/build_notebook.py, then regenerate exercises/ from solutions/"
	@echo "make lectures  execute every lecture notebook in course/"
	@echo "make clean     remove build outputs"

install: $(STAMP) data

$(STAMP): pyproject.toml setup.py requirements.lock
	@test -x $(BIN)/python || { $(PYCHECK) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[test]'
	@mkdir -p build/home
	@touch $@

data: $(STAMP)
	@$(BIN)/python -m autograder.tools.data prepare

install-student:
	@test -x .venv-student/bin/python || { $(PYCHECK) && $(PYTHON) -m venv .venv-student; }
	.venv-student/bin/python -m pip install -q --upgrade pip
	.venv-student/bin/python -m pip install -q torch==2.13.0
	CNN_COURSE_STUDENT=1 .venv-student/bin/python -m pip install -q -c requirements.lock .
	.venv-student/bin/python -m autograder.tools.data prepare
	@echo "Student environment ready: .venv-student (no reference library inside)."

# The student package (autograder + cnn-course CLI, no solutions/): students run
# `pip install torch==2.13.0 && pip install -c requirements.lock cnn_course-0.1.0-py3-none-any.whl`.
student-wheel: $(STAMP)
	@rm -rf build/student-wheel && mkdir -p build/student-wheel build/dist
	@git ls-files -z autograder setup.py pyproject.toml README.md | xargs -0 cp --parents -t build/student-wheel
	cd build/student-wheel && CNN_COURSE_STUDENT=1 $(BIN)/python -m pip wheel -q --no-deps --no-build-isolation . -w $(CURDIR)/build/dist
	@$(BIN)/python -c 'import glob, sys, zipfile; w = sorted(glob.glob("build/dist/cnn_course-*.whl"))[-1]; \
	  bad = [n for n in zipfile.ZipFile(w).namelist() if n.startswith("solutions/")]; \
	  sys.exit(f"{w} contains solutions/") if bad else print(f"{w}: the student package (no solutions/ inside)")'


test: install
	@mkdir -p build/tmp
	TMPDIR=$(CURDIR)/build/tmp OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist worksteal --basetemp=build/pytest tests
	$(MAKE) --no-print-directory lectures

lectures: install
	@mkdir -p build/tmp
	TMPDIR=$(CURDIR)/build/tmp CNN_COURSE_FAST=1 $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax course

# Every lecture in full mode (CNN_COURSE_FAST unset), one at a time; not part of `make test`.
lectures-full: install
	@mkdir -p build/tmp build/lectures-full
	@for nb in course/0*.ipynb; do echo "== $$nb (full mode)"; \
	  ( time env -u CNN_COURSE_FAST TMPDIR=$(CURDIR)/build/tmp $(BIN)/jupyter nbconvert --to notebook --execute \
	    --ExecutePreprocessor.timeout=1200 --output-dir build/lectures-full $$nb ) || exit 1; done

bench: install
	@for f in tests/bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

release: install
	@for f in solutions/*/build_notebook.py; do $(BIN)/python $$f || exit 1; done
	$(BIN)/cnn-course release

demo: install
	$(BIN)/cnn-course demo

clean:
	rm -rf build .pytest_cache gradebook.db
	find . -name __pycache__ -type d -prune -not -path './.venv*' -exec rm -rf {} +
