"""Benchmark: extracting a student's code from a near-cap notebook (about 380,000 characters of
code in 527 cells), against Python's own ``ast.parse`` of the same code, both in this run.

The tests bound extraction's work by counting calls (linear in the notebook); this prints
how long it takes. No assertions on time.
"""
import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nbformat  # noqa: E402

from autograder.notebook import CAPS, extract_student_code, parse_notebook  # noqa: E402
from timing import median_time  # noqa: E402


def near_cap_cells() -> list[str]:
    body = "".join(f"    v{j} = np.maximum(x, {j}) * w + b / (1 + j{j % 7})\n" for j in range(14))
    cells, total = [], 0
    while True:
        src = f"def f{len(cells)}(x, w=1.0, b=0.0, j0=1, j1=2, j2=3, j3=4, j4=5, j5=6, j6=7):\n{body}    return v13\n"
        if total + len(src) > CAPS["code_chars"] * 0.95 or len(cells) >= CAPS["cells"] - 1:
            return cells
        cells.append(src)
        total += len(src)


def main():
    cells = ["import numpy as np\n", *near_cap_cells()]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in cells]
    data = nbformat.writes(nb).encode()
    source = "".join(cells)
    t_ast = median_time(lambda: ast.parse(source), repeat=5, warmup=1)
    t_ext = median_time(lambda: extract_student_code(parse_notebook(data)), repeat=3, warmup=1)
    print(f"extraction of a near-cap notebook: {len(cells):,} cells, {len(source):,} characters of code")
    print(f"  ast.parse of the code (baseline)      : {t_ast * 1e3:8.1f} ms")
    print(f"  parse_notebook + extract_student_code : {t_ext * 1e3:8.1f} ms")
    print(f"  ratio extraction / ast.parse          : {t_ext / t_ast:8.1f}x")


if __name__ == "__main__":
    main()
