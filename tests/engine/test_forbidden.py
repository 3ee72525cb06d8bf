"""Forbidden-API analysis (autograder/forbidden.py): dynamic code that could reach a forbidden
API without naming it is flagged, for the function it is in, or for every function when it
runs at top level; ordinary numpy code, and the reference solutions, are not flagged."""
from __future__ import annotations

import ast

import pytest

from autograder.forbidden import analyze
from autograder.notebook import extract_student_code, parse_notebook

MODULES = ("scipy", "torch")
NAMES = ("numpy.convolve", "numpy.correlate")


def flagged(src, modules=MODULES, names=NAMES):
    return analyze(ast.parse(src).body, modules, names)


# Each defines f; each could reach scipy or numpy.correlate/convolve at run time.
DYNAMIC = {
    "exec after meta_path": ("import sys\ndef f(x):\n    sys.meta_path[:] = []\n    ns = {}\n"
                             "    exec('import sci' + 'py.signal as s', ns)\n    return ns['s'].correlate(x, x)\n",
                             "exec"),
    "exec alias": ("def f(x):\n    e = exec\n    e('import scipy')\n", "exec"),
    "exec as default argument": ("def f(x, run=exec):\n    run('import scipy')\n", "exec"),
    "eval": ("def f(x):\n    return eval('__imp' + 'ort__')('scipy')\n", "eval"),
    "compile": ("def f(x):\n    return compile('1', '<s>', 'eval')\n", "compile"),
    "getattr join on numpy internals": ("import numpy as np\ndef f(x):\n"
                                        "    return getattr(np._core.multiarray, ''.join(['corr', 'elate2']))(x, x, 0)\n",
                                        "getattr"),
    "getattr computed on numpy": ("import numpy as np\ndef f(x, name='conv'):\n    return getattr(np, name + 'olve')(x, x)\n",
                                  "getattr"),
    "getattr passed as a value": ("import functools\nimport numpy as np\ndef f(x):\n"
                                  "    return functools.reduce(getattr, ['convolve'], np)(x, x)\n", "getattr"),
    "builtins dict": ("import builtins\ndef f(x):\n    return builtins.__dict__['ex' + 'ec']('1')\n", "__dict__"),
    "getattr on __builtins__": ("def f(x):\n    return getattr(__builtins__, 'ex' + 'ec')\n", "__builtins__"),
    "numpy dict": ("import numpy as np\ndef f(x):\n    return np.__dict__['conv' + 'olve'](x, x)\n", "__dict__"),
    "vars of numpy": ("import numpy as np\ndef f(x):\n    return vars(np)['convolve'](x, x)\n", "vars"),
    "globals": ("def f(x):\n    return globals()['__builtins__']\n", "globals"),
    "importlib computed": ("import importlib\ndef f(x, m='sci'):\n    return importlib.import_module(m + 'py')\n",
                           "import"),
    "importlib from-import alias": ("from importlib import import_module as im\ndef f(x, m='py'):\n"
                                    "    return im('sci' + m)\n", "import"),
    "dunder import computed": ("def f(x, m='py'):\n    return __import__('sci' + m)\n", "__import__"),
    "attrgetter": ("import operator\nimport numpy as np\ndef f(x):\n"
                   "    return operator.attrgetter('convolve')(np)(x, x)\n", "attrgetter"),
    "sys.modules": ("import sys\ndef f(x):\n    return sys.modules['num' + 'py'].convolve(x, x)\n", "sys.modules"),
    "sys.modules from-import": ("from sys import modules as m\ndef f(x):\n    return m['numpy']\n", "sys.modules"),
    "sys alias": ("import sys\ndef f(x):\n    s = sys\n    return s.modules\n", "sys.modules"),
    "sys in a list": ("import sys\ndef f(x):\n    return [sys][0].modules\n", "sys"),
    "numpy in a list": ("import numpy as np\ndef f(x):\n    return [np][0].convolve(x, x)\n", "numpy"),
    "frame globals": ("def f(x):\n    import sys\n    return sys._getframe().f_globals['np']\n", "f_globals"),
    "builtins exec": ("import builtins\ndef f(x):\n    return builtins.exec('import scipy')\n", "builtins.exec"),
    "builtins changed": ("import builtins\ndef f(x):\n    builtins.range = lambda *a: [0]\n", "changing builtins.range"),
    "setattr on builtins": ("import builtins\ndef f(x):\n    setattr(builtins, 'len', lambda v: 0)\n", "setattr on builtins"),
    "builtins in a list": ("import builtins\ndef f(x):\n    return [builtins][0].exec\n", "builtins"),
    "traceback frame": ("def f(x):\n    try:\n        1 / 0\n    except Exception as e:\n"
                        "        return e.__traceback__.tb_frame.f_globals\n", "__traceback__"),
    "subclasses": ("def f(x):\n    return ().__class__.__base__.__subclasses__()\n", "__subclasses__"),
    "pickle": ("import pickle\ndef f(x):\n    return pickle.loads(b'cnumpy\\nconvolve\\n.')\n", "pickle"),
    "np.load with pickles": ("import numpy as np\ndef f(x):\n    return np.load('w.npy', allow_pickle=True)\n",
                             "allow_pickle"),
    "string formatter": ("import string\nimport numpy as np\ndef f(x):\n"
                         "    return string.Formatter().get_field('0.convolve', [np], {})\n", "Formatter"),
    "pydoc locate": ("import pydoc\ndef f(x):\n    return pydoc.locate('numpy.convolve')\n", "pydoc"),
    "numpy private module": ("import numpy as np\ndef f(x):\n    return np._core.multiarray.correlate2(x, x, 0)\n",
                             "numpy internals"),
    "method of a class": ("import numpy as np\nclass f:\n    def run(self, x, n):\n        return getattr(np, n)(x, x)\n",
                          "getattr"),
}


@pytest.mark.parametrize("case", list(DYNAMIC))
def test_dynamic_code_is_flagged_with_a_reason(case):
    src, reason = DYNAMIC[case]
    out = flagged(src)
    assert "f" in out, f"{case}: not flagged"
    assert any(reason.lower() in r.lower() for r in out["f"]), f"{case}: expected a reason naming {reason!r}, got {out['f']}"


def test_dynamic_code_through_a_helper_flags_its_callers():
    out = flagged("def _h(s):\n    return eval(s)\ndef f(x):\n    return _h('x')\ndef ok(x):\n    return x\n")
    assert set(out) == {"_h", "f"} and "via _h" in out["f"][0]


def test_top_level_dynamic_code_flags_every_function():
    out = flagged("import sys\n_ = sys.meta_path.clear()\ndef f(x):\n    return x\nclass G:\n    pass\n")
    assert set(out) == {"f", "G"}
    assert all("top level" in r and "meta_path" in r for r in out["f"]), out["f"]


@pytest.mark.parametrize("src", [
    "def relu(x):\n    return x\nclass G:\n    _ = __import__('sys').meta_path.clear()\n",
    "@(lambda f: exec('import builtins') or f)\ndef G(x):\n    return x\ndef relu(x):\n    return x\n",
    "def G(x, _=globals()):\n    return x\ndef relu(x):\n    return x\n",
])
def test_dynamic_code_run_while_loading_flags_every_function(src):
    out = flagged(src)
    assert set(out) == {"G", "relu"}, out
    assert all("load time" in r for r in out["relu"]), out["relu"]


def test_top_level_alias_through_an_expression_flags_its_users():
    out = flagged("import numpy as np\ncv = [np.convolve][0]\ndef f(x):\n    return cv(x, x)\ndef g(x):\n    return x\n")
    assert "numpy.convolve (via cv)" in out["f"] and "g" not in out


def test_nothing_is_flagged_when_nothing_is_forbidden():
    assert flagged("def f(x):\n    return eval(x)\n", modules=(), names=()) == {}


@pytest.mark.parametrize("src", [
    "import numpy as np\ndef f(x):\n    return np.lib.stride_tricks.sliding_window_view(x, 3)\n",
    "def f(x, vars=3, compile=None):\n    return x + vars\n",
    "import re\ndef f(x):\n    return re.compile('a+').match(x)\n",
    "def f(x):\n    return getattr(x, 'shape', None), hasattr(x, 'ndim')\n",
    "class f:\n    def __init__(self):\n        super().__init__()\n        self.name = type(self).__name__ + self.__class__.__name__\n",
    "import numpy as np\ndef f(x):\n    return np.einsum('ij,ij->', x, x), np.asarray(x).__array__()\n",
    "import importlib\ndef f(x):\n    return importlib.import_module('numpy.linalg').norm(x)\n",
    "import numpy as np\nnp_alias = np\ndef f(x):\n    return np_alias.sum(x)\n",
    "import numpy as np\ndef f(x):\n    return np.load('w.npy', allow_pickle=False)\n",
    "import sys\ndef f(x):\n    return sys.version_info >= (3, 8) and sys.float_info.epsilon\n",
    "import builtins, sys\ndef f(x):\n    return builtins.range(3), sys._getframe(1).f_code.co_filename\n",
])
def test_ordinary_code_is_not_flagged(src):
    assert flagged(src) == {}, src


def test_analysis_of_extracted_code_names_the_cell():
    cells = parse_notebook(('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": ['
                            '{"cell_type": "code", "metadata": {}, "source": "import numpy as np\\ndef f(x):\\n    return x\\n"},'
                            '{"cell_type": "code", "metadata": {}, "source": "T = {}\\nfor k in [1]:\\n    T[k] = eval(\'np\')\\n"}'
                            ']}').encode())
    code = extract_student_code(cells)
    out = analyze(code.nodes, MODULES, NAMES)
    assert out["f"] == ["dynamic code at top level (the cell starting `T = {}`, line 2: eval (code built at run time))"], out


# ----------------------------------------------------------------------------- course helpers

@pytest.mark.parametrize("src", [
    "from autograder.tools.keras_utils import small_vgg16\ndef f(x):\n    return small_vgg16().layers[1].__class__\n",
    "import autograder.tools.keras_utils as ku\ndef f(x):\n    return ku.get_vgg16()\n",
    "def f(x):\n    from autograder.tools import keras_utils\n    return keras_utils.small_vgg16()\n",
    "import autograder.tools as T\ndef f(x):\n    return T.keras_utils.small_vgg16()\n",
])
def test_a_helper_that_hands_out_a_forbidden_library_is_flagged(src):
    out = flagged(src, modules=("torch", "tensorflow", "keras", "scipy"))
    assert out == {"f": ["autograder.tools.keras_utils (a course helper that uses keras)"]}, out


def test_helpers_are_flagged_only_where_what_they_need_is_forbidden():
    src = "from autograder.tools.keras_utils import small_vgg16\ndef f(x):\n    return small_vgg16()\n"
    assert flagged(src, modules=("torch",)) == {}
    assert flagged(src, modules=("tensorflow",)) == {
        "f": ["autograder.tools.keras_utils (a course helper that uses tensorflow)"]}
    photo = "from autograder.tools import sample_photo\ndef f():\n    return sample_photo('camera')\n"
    assert flagged(photo) == {"f": ["autograder.tools.sample_photo (a course helper that uses scipy)"]}
    plain = "from autograder.tools import load_mnist, assert_close, load_digits_images\ndef f():\n    return load_mnist()\n"
    assert flagged(plain, modules=("torch", "tensorflow", "keras", "scipy")) == {}


def test_ps1_forbids_every_library_that_convolves(root):
    from autograder.assignment import load_assignment
    modules = set(load_assignment("ps1_convolution", source_dir=root / "solutions").forbidden["modules"])
    assert {"torch", "tensorflow", "keras", "scipy", "jax"} <= modules, modules


# ----------------------------------------------------------------------------- the sandbox's runtime guard

GUARD_SCRIPT = r"""
import sys, types
import numpy as np
import scipy.special                                  # preloaded before the guard, as a template may
holder = types.ModuleType("holder")                   # an allowed module that kept references to it
holder.sp, holder.expit = scipy, scipy.special.expit
sys.modules["holder"] = holder
from autograder import worker as W
W.install_forbidden(["scipy", "keras", "tensorflow"], ["numpy.correlate"])
W.install_notebook_stubs()
out = {"purged": sorted(k for k in sys.modules if k == "scipy" or k.startswith("scipy."))}
def attempt(label, src):
    try:
        exec(compile(src, "<cell 1>", "exec"), {"np": np})
        out[label] = "allowed"
    except W.ForbiddenError as exc:
        out[label] = "refused"
        out[label + " says"] = str(exc)
attempt("import", "import scipy")
attempt("exec", "exec('import sci' + 'py')")
attempt("importlib", "import importlib\nimportlib.import_module('scipy.signal')")
attempt("internal alias", "np._core.numeric.correlate(np.ones(3), np.ones(2))")
attempt("display and magics", "display(1)\nget_ipython().run_line_magic('time', 'x = 1')")
attempt("kept module", "import holder\nholder.sp.signal")
attempt("kept function", "import holder\nholder.expit(0.0)")
attempt("helper", "from autograder.tools.keras_utils import small_vgg16\nsmall_vgg16()")
attempt("optional import", "try:\n    import scipy\nexcept ImportError:\n    pass")
from autograder.tools.data import load_digits_images   # reads scikit-learn's CSV, imports neither
images, labels = load_digits_images()
out["digits"] = str(images.shape)
print(out)
"""


def test_runtime_guard_refuses_forbidden_modules_for_everyone():
    """The student's imports, a course helper's (small_vgg16 needs Keras: it fails saying so),
    and what was imported before the guard (purged from sys.modules, and refused where an
    allowed module kept it). A refused import is an ImportError, so optional imports fall back."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", GUARD_SCRIPT], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    says = {k: out.pop(k) for k in [k for k in out if k.endswith(" says")]}
    assert out == {"purged": [], "import": "refused", "exec": "refused", "importlib": "refused",
                   "internal alias": "refused", "display and magics": "allowed", "kept module": "refused",
                   "kept function": "refused", "helper": "refused", "optional import": "allowed",
                   "digits": "(1797, 8, 8)"}, out
    assert says["helper says"] == ("importing keras is not allowed in this assignment (autograder.tools.keras_utils."
                                   "small_vgg16 needs it, so that course helper cannot be used here)"), says
    assert "scipy" in says["kept module says"] and "scipy.special" in says["kept function says"], says


RUN_SCRIPT = r"""
import sys
from autograder.protocol import NoResult
from autograder.worker import run_checked_code
def student(n):
    caller = sys._getframe(1)
    seen = sorted(k for k in ("describe", "x") if k in caller.f_globals)
    caller.f_globals["describe"] = lambda v: "forged"
    return n * 2, seen
G = {"__builtins__": __builtins__, "student": student, "len": lambda v: -1}
code = "def describe(v):\n    return [len([1, 2]), v]\ny, seen = student(x)\nresult = [describe(y), seen]\n"
out = {"result": run_checked_code(code, {"x": 3}, G)}
try:
    run_checked_code("z = 1\n", {}, G)
except NoResult as exc:
    out["no result"] = str(exc)
print(out)
"""


def test_probe_code_runs_where_the_students_functions_cannot_replace_its_helpers():
    """A probe's helpers and inputs are locals of a function made for the call: the student's
    function finds neither in its caller's globals, and writing there changes nothing; the
    probe's builtins are Python's, not the notebook's."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", RUN_SCRIPT], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert out == {"result": [[2, 6], []], "no result": "the checked code did not set `result`"}, out
