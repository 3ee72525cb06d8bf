"""ps3_lenet source notebook: every cell runs top to bottom in fast mode (in-process, no kernel).

This covers what the grader skips: the training cell, the plots (curves, confusion matrix,
filters, feature maps) and the public tests run in the student's own namespace.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "ps3_lenet" / "ps3_lenet.ipynb"


@pytest.mark.slow
def test_source_notebook_runs_in_fast_mode(monkeypatch, capsys):
    import torch

    monkeypatch.setenv("CNN_COURSE_FAST", "1")
    monkeypatch.setenv("CNN_COURSE_NO_PROGRESS", "1")
    monkeypatch.chdir(SOURCE.parent)          # as Jupyter does: run_probe reads grading.toml there
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # run_student executes in __main__'s namespace: give the notebook a module of its own.
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    nb = nbformat.read(str(SOURCE), as_version=4)
    figures = 0
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            exec(compile(cell.source, f"<cell {cell.get('id')}>", "exec"), main.__dict__)
            figures += len(plt.get_fignums())
            plt.close("all")
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert out.count("public test passed") == 5, out
    assert "fast mode: True" in out and "train: (4000, 28, 28)" in out
    ns = main.__dict__
    assert ns["FAST"] and len(ns["history"]["test_accuracy"]) == 1
    # one epoch of Adam on 4,000 images: about 85% on the 1,000 test images
    assert ns["history"]["test_accuracy"][0] > 0.75, ns["history"]
    assert figures >= 6      # samples, curves, confusion, misclassified, filters, feature maps
    assert ns["y_pred"].shape == (1000,)
