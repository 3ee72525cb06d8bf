"""The process that runs a student's code, inside the sandbox (see sandbox.py).

It loads the student's definitions, then serves requests from the grader over a
pipe pair (protocol.py): call a function, get an attribute, run a snippet. It
never receives expected values and never sends pickles. Run as
``python -m autograder.worker IN_FD OUT_FD CONFIG_JSON``.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import io
import json
import keyword
import linecache
import os
import random
import sys
import types
import zlib

import numpy as np

from autograder import protocol as P

MAIN_PID = os.getpid()
VALUE_BYTES = 1 << 20   # student globals up to this size are sent as values; larger ones stay remote
MAX_NAMES = 200         # names, errors and shadowed builtins listed in the load answer
STUDENT_FILE_PREFIXES = ("<cell ", "<run_student>")


class ForbiddenError(Exception):
    """Raised when the student's code uses an API the assignment forbids."""


# ----------------------------------------------------------------------------- output

class LimitedText(io.TextIOBase):
    """sys.stdout / sys.stderr replacement: keeps the first ``limit`` bytes (UTF-8) written,
    counts and drops the rest, so a print loop can neither fill the memory nor flood the
    grader. Both streams share one instance: :meth:`take` gives what the student's code
    printed, interleaved as printed, and starts afresh."""

    def __init__(self, limit: int):
        self.limit = max(0, int(limit))
        self.kept = bytearray()
        self.dropped = 0       # bytes written past the limit
        self.written = 0       # characters written in all

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        self.written += len(s)
        data = s.encode("utf-8", "replace")
        room = self.limit - len(self.kept)
        if not self.dropped and len(data) <= room:
            self.kept += data
            return len(s)
        cut = max(0, room) if not self.dropped else 0   # once full, nothing more: a prefix is kept
        while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:
            cut -= 1                                    # not inside a UTF-8 character
        self.kept += data[:cut]
        self.dropped += len(data) - cut
        return len(s)

    def take(self) -> dict:
        """``{"text": what was kept, "dropped": bytes dropped}``; the store is emptied."""
        out = {"text": self.kept.decode("utf-8", "ignore"), "dropped": self.dropped}
        self.kept = bytearray()
        self.dropped = 0
        return out

    def flush(self):
        pass

    def isatty(self):
        return False


# ----------------------------------------------------------------------------- forbidden APIs

_HELPERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools") + os.sep


class ForbiddenImportError(ForbiddenError, ImportError):
    """An import the assignment forbids. Also an ``ImportError``, so library code that falls
    back when an optional module is missing (``try: import scipy except ImportError``) still
    works; the grader reports it as a forbidden API either way."""


def _forbidden(name: str, modules) -> bool:
    """Whether module ``name`` is one of ``modules`` or inside one of them (``scipy.signal``
    is inside ``scipy``)."""
    return any(name == m or name.startswith(m + ".") for m in modules)


def _helper_in_stack(frame) -> str | None:
    """The course helper (``autograder.tools``) on the way to an import, if any, as
    ``module.function``: the refusal then says which helper cannot be used."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_HELPERS_DIR):
            module = frame.f_globals.get("__name__")
            return f"{module}.{code.co_name}" if isinstance(module, str) else code.co_name
        frame = frame.f_back
    return None


class _ForbiddenImporter:
    """Meta-path finder refusing the assignment's forbidden modules, whoever imports them: the
    student's code, a library, or a course helper (autograder.tools) the student calls. A
    helper must not hand a forbidden library to the student's code (``small_vgg16()`` builds
    Keras layers: their classes are Keras), so a helper that needs one fails here, saying so."""

    def __init__(self, modules):
        self.modules = tuple(modules)

    def find_spec(self, fullname, path=None, target=None):
        if _forbidden(fullname, self.modules):
            helper = _helper_in_stack(sys._getframe(1))
            why = f" ({helper} needs it, so that course helper cannot be used here)" if helper else ""
            raise ForbiddenImportError(f"importing {fullname} is not allowed in this assignment{why}")
        return None


class _ForbiddenModule(types.ModuleType):
    """What stays where an allowed module held a forbidden module (``somelib.scipy``) once the
    forbidden modules are removed: every attribute access refuses."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_forbidden_name"] = name

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise ForbiddenError(f"{self.__dict__['_forbidden_name']} is not allowed in this assignment")


def _stub(dotted: str):
    def forbidden(*args, **kwargs):
        raise ForbiddenError(f"{dotted} is not allowed in this assignment")
    forbidden.__name__ = dotted.rsplit(".", 1)[-1]
    forbidden.__qualname__ = forbidden.__name__
    return forbidden


class _Refused:
    """What stays where an allowed module held a class, function or object of a forbidden
    module: calling it or reading an attribute refuses."""

    __slots__ = ("_what",)

    def __init__(self, what: str):
        object.__setattr__(self, "_what", what)

    def _refuse(self, *args, **kwargs):
        raise ForbiddenError(f"{object.__getattribute__(self, '_what')} is not allowed in this assignment")

    __call__ = _refuse

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        self._refuse()

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_what')}: not allowed in this assignment>"


def _origin(value) -> str | None:
    """The module a value comes from: a module's own name, a class's or a function's
    ``__module__``, else the module of its type (a Keras model, a SciPy distribution...).
    Read without running any of the value's own code (no lazy loader, no property)."""
    try:
        if isinstance(value, types.ModuleType):
            name = value.__dict__.get("__name__")
        elif isinstance(value, type):
            name = type.__getattribute__(value, "__module__")
        elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
            name = object.__getattribute__(value, "__module__")
        else:
            name = type.__getattribute__(type(value), "__module__")
    except Exception:  # noqa: BLE001
        return None
    return name if isinstance(name, str) else None


def purge_forbidden(modules) -> list[str]:
    """Make the forbidden ``modules`` unreachable in this process: drop them (and everything
    under them) from ``sys.modules``, so the next import goes through the guard, and replace
    what other modules still hold of them (a module, a class, a function, an object as a
    module attribute: modules the sandbox's template preloaded may have imported them) by a
    placeholder that refuses (:class:`_ForbiddenModule`, :class:`_Refused`). Objects that do
    not say where they come from (a SciPy ufunc) are found by identity among the forbidden
    modules' own attributes. Returns the attributes replaced."""
    modules = tuple(m for m in modules if m)
    if not modules:
        return []
    # ufuncs (SciPy's special functions) say only that they are numpy ufuncs: those the
    # forbidden modules hold, and numpy does not, are found by identity (kept alive meanwhile)
    numpy_ufuncs = {id(v) for v in vars(np).values() if isinstance(v, np.ufunc)}
    owned: dict[int, tuple] = {}    # id -> (the ufunc, "module.attr")
    for name in [n for n in list(sys.modules) if _forbidden(n, modules)]:
        mod = sys.modules.pop(name)
        try:
            for attr, value in list(vars(mod).items()):
                if isinstance(value, np.ufunc) and id(value) not in numpy_ufuncs:
                    owned.setdefault(id(value), (value, f"{name}.{attr}"))
        except Exception:  # noqa: BLE001
            continue
    replaced = []
    for mod_name, mod in list(sys.modules.items()):
        if not isinstance(mod, types.ModuleType) or isinstance(mod, _ForbiddenModule):
            continue
        try:
            items = list(mod.__dict__.items())
        except Exception:  # noqa: BLE001
            continue
        for attr, value in items:
            if isinstance(value, (_Refused, _ForbiddenModule)):
                continue
            origin = _origin(value)
            if origin is not None and _forbidden(origin, modules):
                what = origin if isinstance(value, types.ModuleType) else f"{origin}.{getattr(value, '__qualname__', attr) if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)) else attr}"
            elif id(value) in owned and owned[id(value)][0] is value:
                what = owned[id(value)][1]
            else:
                continue
            try:
                mod.__dict__[attr] = _ForbiddenModule(what) if isinstance(value, types.ModuleType) else _Refused(what)
                replaced.append(f"{mod_name}.{attr}")
            except Exception:  # noqa: BLE001
                pass
    return replaced


def install_forbidden(modules, names) -> None:
    modules = [m for m in modules if isinstance(m, str) and m]
    purge_forbidden(modules)
    sys.meta_path.insert(0, _ForbiddenImporter(modules))
    for dotted in names:
        modname, _, attr = dotted.rpartition(".")
        mod = sys.modules.get(modname)
        if mod is None and modname in ("numpy",):
            mod = np
        if mod is not None and hasattr(mod, attr):
            original = getattr(mod, attr)
            stub = _stub(dotted)
            setattr(mod, attr, stub)
            # the same function under its package's other modules (numpy._core.numeric.convolve...)
            root = modname.split(".")[0] + "."
            for other_name, other in list(sys.modules.items()):
                if other_name.startswith(root) and other is not None and getattr(other, attr, None) is original:
                    try:
                        setattr(other, attr, stub)
                    except (AttributeError, TypeError):
                        pass


class _NoIPython:
    """What ``get_ipython()`` returns in the sandbox: magics and shell commands do nothing."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


def _display(*objs, **kwargs):
    """IPython's ``display`` in the sandbox: prints the objects (output is limited anyway)."""
    for obj in objs:
        print(obj)


def install_notebook_stubs() -> None:
    """``display`` and ``get_ipython`` exist in a notebook; student functions may call them.
    They are builtins here, so they are not taken for the student's names."""
    builtins.display = _display
    builtins.get_ipython = lambda: _NoIPython()


# ----------------------------------------------------------------------------- state

class Worker:
    def __init__(self, in_fd: int, out_fd: int, config: dict):
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.reader = P.Reader(in_fd)
        self.config = config
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        self.G = self.module.__dict__
        self.refs: dict[int, object] = {}
        self.next_ref = 1

    # -- references
    def to_ref(self, obj) -> dict:
        rid = self.next_ref
        self.next_ref += 1
        self.refs[rid] = obj
        return {"$t": "ref", "id": rid}

    def from_ref(self, rid: int):
        try:
            return self.refs[rid]
        except KeyError:
            raise LookupError(f"stale reference #{rid} (the sandbox was restarted)") from None

    def target(self, spec):
        if "global" in spec:
            name = spec["global"]
            if name not in self.G:
                raise NameError(f"name {name!r} is not defined in the notebook")
            return self.G[name]
        return self.from_ref(int(spec["ref"]))

    # -- messaging
    def send(self, header, bufs=()):
        P.send(self.out_fd, header, bufs)

    def reply_value(self, value, mutated=()):
        bufs: list = []
        node = P.encode(value, bufs, None, self.to_ref)
        self.send({"ok": True, "value": node, "mut": list(mutated)}, bufs)

    def reply_error(self, exc: BaseException):
        self.send({"ok": False, "error": describe_exception(exc)})

    # -- requests
    def seed(self, seed: int):
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch = sys.modules.get("torch")
        if torch is not None:
            try:
                torch.manual_seed(seed)
            except Exception:
                pass
        tf = sys.modules.get("tensorflow")
        if tf is not None:
            try:
                tf.random.set_seed(seed)
            except Exception:
                pass

    def op_load(self, req, bufs):
        for i, src in (req.get("cells") or {}).items():
            linecache.cache[f"<cell {i}>"] = (len(src), None, src.splitlines(True), f"<cell {i}>")
        errors = []
        failed: set = set()       # names that statements which failed would have bound
        for k, st in enumerate(req["stmts"]):
            self.send({"ev": "stmt", "i": k})
            fname = f"<cell {st['cell']}>"
            tree = None
            try:
                tree = ast.parse(st["src"], fname)
                if failed and _reads_failed(tree, failed, self.G):
                    errors[-1]["skipped_after"] = errors[-1].get("skipped_after", 0) + 1
                    continue          # it would only fail with a NameError: one note says why
                ast.increment_lineno(tree, int(st["lineno"]) - 1)
                code = compile(tree, fname, "exec")
                exec(code, self.G)
            except BaseException as exc:  # noqa: BLE001 - a failing statement is recorded, the rest continue
                if os.getpid() != MAIN_PID:
                    os._exit(0)
                info = describe_exception(exc)
                errors.append({"cell": st["cell"], "lineno": st["lineno"], "error": info})
                failed |= _binds(tree) if tree is not None else set()
        self.send({"ev": "loaded"})
        # Only the names the grader asks for (the assignment's graded names) are described and,
        # when small plain data, sent as values; the rest is counted, never listed.
        wanted = [n for n in (req.get("graded") or []) if isinstance(n, str)][:MAX_NAMES]
        names = {}
        for name in wanted:
            if name in self.G and not name.startswith("__"):
                names[name] = self.describe_name(self.G[name])
        shadowed = sorted(n for n in self.G if isinstance(n, str) and n in P.BUILTIN_NAMES
                          and not n.startswith("_"))[:MAX_NAMES]
        bufs_out: list = []
        encoded = {}
        total = 0          # bytes of the answer so far: array buffers *and* JSON (a long plain list is all JSON)
        for name, info in names.items():
            if info["kind"] == "value" and req.get("values", True):
                try:
                    tmp: list = []
                    node = P.encode(self.G[name], tmp, None, None)
                    size = sum(len(b) for b in tmp) + len(json.dumps(node, separators=(",", ":"), allow_nan=False))
                    if size > VALUE_BYTES or total + size > 8 * VALUE_BYTES:
                        info["kind"] = "object"
                        info["large"] = True          # the grader tells the student why
                        continue
                    total += size
                    shift = len(bufs_out)
                    bufs_out.extend(tmp)
                    encoded[name] = _shift_buffers(node, shift)
                except Exception:
                    info["kind"] = "object"
        self.send({"ok": True, "names": names, "values": encoded, "errors": errors[:MAX_NAMES],
                   "shadowed": shadowed, "output": self.take_output()}, bufs_out)

    @staticmethod
    def take_output() -> dict:
        """What the student's code printed since the last call (at most ``output_bytes``)."""
        out = sys.stdout
        if isinstance(out, LimitedText):
            return out.take()
        return {"text": "", "dropped": 0}

    @staticmethod
    def describe_name(value) -> dict:
        if isinstance(value, types.ModuleType):
            return {"kind": "module", "module": value.__name__}
        if isinstance(value, type):
            return {"kind": "class"}
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)) or callable(value) and not isinstance(value, np.ndarray):
            return {"kind": "function"}
        return {"kind": "value"}

    def decode_args(self, req, bufs):
        arrays: list = []
        args = P.decode(req.get("args", {"$t": "list", "v": []}), bufs, self.from_ref, arrays)
        kwargs = P.decode(req.get("kwargs", {"$t": "dict", "v": {}}), bufs, self.from_ref, arrays)
        return list(args), dict(kwargs), arrays

    def run_noting_mutation(self, fn, arrays):
        """Run ``fn``; return its value and the buffer indices of the input arrays it changed.

        The arrays are this sandbox's private copies: nothing is written back to the grader,
        which only learns *that* an input was modified (``assert_not_modified`` reports it).
        """
        before = [(b, zlib.crc32(_bytes_of(a))) for b, a in arrays]
        value = fn()
        return value, [b for (b, crc), (_, a) in zip(before, arrays) if zlib.crc32(_bytes_of(a)) != crc]

    def dispatch(self, req, bufs):
        op = req.get("op")
        if "seed" in req:
            self.seed(int(req["seed"]))
        if op == P.Op.THREADS:  # Python threads the student's code left running
            import threading
            return self.send({"ok": True, "value": threading.active_count()})
        if op == P.Op.LOAD:
            return self.op_load(req, bufs)
        if op == P.Op.RELEASE:
            for rid in req.get("ids", []):
                self.refs.pop(int(rid), None)
            return self.send({"ok": True, "value": None})
        try:
            if op == P.Op.CALL:
                fn = self.target(req["target"])
                args, kwargs, arrays = self.decode_args(req, bufs)
                value, mutated = self.run_noting_mutation(lambda: fn(*args, **kwargs), arrays)
                return self.reply_value(value, mutated)
            if op == P.Op.RUN:     # public code: a public test or a probe
                inputs = P.decode(req.get("inputs", {"$t": "dict", "v": {}}), bufs, self.from_ref)
                return self.reply_value(run_checked_code(req["code"], inputs, self.G))
            obj = self.target(req["target"])
            if op == P.Op.GETATTR:
                return self.reply_value(getattr(obj, req["name"]))
            if op == P.Op.SETATTR:
                value = P.decode(req["value"], bufs, self.from_ref)
                setattr(obj, req["name"], value)
                return self.reply_value(None)
            if op == P.Op.LEN:
                return self.reply_value(len(obj))
            if op == P.Op.ITER:
                return self.reply_value(list(obj))
            if op == P.Op.GETITEM:
                key = P.decode(req["key"], bufs, self.from_ref)
                return self.reply_value(obj[key])
            if op == P.Op.REPR:
                return self.reply_value(repr(obj))
            if op == P.Op.STR:
                return self.reply_value(str(obj))
            if op == P.Op.CONTAINS:
                return self.reply_value(P.decode(req["key"], bufs, self.from_ref) in obj)
            raise ValueError(f"unknown request {op!r}")
        except BaseException as exc:  # noqa: BLE001
            if os.getpid() != MAIN_PID:
                os._exit(0)
            if isinstance(exc, P.NotEncodable):
                exc = TypeError(str(exc))
            return self.reply_error(exc)

    def serve(self):
        while True:
            try:
                req, bufs = self.reader.read()
            except P.PeerGone:
                os._exit(0)
            try:
                self.dispatch(req, bufs)
            except P.PeerGone:
                os._exit(0)
            except BaseException as exc:  # noqa: BLE001 - e.g. encoding failed
                if os.getpid() != MAIN_PID:
                    os._exit(0)
                try:
                    self.reply_error(exc)
                except P.PeerGone:
                    os._exit(0)
            if os.getpid() != MAIN_PID:
                os._exit(0)


_UNSET = object()


def run_checked_code(code: str, inputs: dict, namespace: dict):
    """Run a public test's or a probe's ``code`` with ``inputs`` bound; return its ``result``.

    The code runs as the body of a function made for this call, not as module code: the
    helpers it defines (a probe's ``describe``) and the inputs are that function's locals,
    not entries of a dict that the student's functions it calls could reach by walking up
    the frames (``sys._getframe(1).f_globals``) and replace. Its globals are a copy of the
    notebook's names (the student's functions) without those that shadow Python's builtins,
    so ``len`` or ``type`` in the probe are Python's. (What a student can still change in
    their own process, a Keras class, is for the grader to check: it validates everything
    a probe returns before computing with it.)
    """
    tree = ast.parse(code, "<run_student>")
    params = [k for k in inputs if isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k)]
    if len(params) != len(inputs) or "result" in inputs or any(k.startswith("__") for k in params):
        raise ValueError("input names must be identifiers, not `result` nor dunder names")
    marker = "__result_unset__"
    body = [ast.Assign(targets=[ast.Name("result", ast.Store())], value=ast.Name(marker, ast.Load()), lineno=0),
            *tree.body,
            ast.Return(value=ast.Name("result", ast.Load()))]
    fn = ast.FunctionDef(
        name="<checked code>", body=body, decorator_list=[], returns=None,
        args=ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[ast.arg(marker), *map(ast.arg, params)],
                           kw_defaults=[None] * (len(params) + 1), kwarg=None, defaults=[]))
    if "type_params" in ast.FunctionDef._fields:      # Python >= 3.12
        fn.type_params = []
    module = ast.Module(body=[fn], type_ignores=[])
    ast.fix_missing_locations(module)
    ns = {k: v for k, v in namespace.items() if not (isinstance(k, str) and k in P.BUILTIN_NAMES)}
    ns["__builtins__"] = builtins
    exec(compile(module, "<run_student>", "exec"), ns)
    make = ns.pop("<checked code>")
    value = make(**{marker: _UNSET}, **{k: inputs[k] for k in params})
    if value is _UNSET:
        raise P.NoResult("the checked code did not set `result`")
    return value


def _binds(tree) -> set:
    """Top-level names a statement binds (assignment targets, defs, classes, imports)."""
    out: set = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            out |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return out


def _reads_failed(tree, failed: set, namespace: dict) -> bool:
    """Does a statement read, when it runs, a name that only a failed statement would have bound?"""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue          # bodies run later, when called: the tests say what fails then
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in failed and n.id not in namespace:
                return True
    return False


def _bytes_of(a):
    arr = _array_of(a)
    return memoryview(np.ascontiguousarray(arr)).cast("B") if arr.size else b""


def _array_of(a):
    if isinstance(a, np.ndarray):
        return a
    return a.detach().cpu().numpy()


def _shift_buffers(node, shift):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "b" and isinstance(v, int) and "$t" in node:
                out[k] = v + shift
            else:
                out[k] = _shift_buffers(v, shift)
        return out
    if isinstance(node, list):
        return [_shift_buffers(v, shift) for v in node]
    return node


def describe_exception(exc: BaseException) -> dict:
    builtin = next((c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"), "Exception")
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(STUDENT_FILE_PREFIXES):
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            where = code.co_filename.strip("<>")
            if code.co_filename.startswith("<cell "):   # as Jupyter users find it: by the cell's first line
                first = next((x.strip() for x in linecache.getlines(code.co_filename) if x.strip()), "")
                if first:
                    where = f"the cell starting `{first[:60]}`"
            frames.append(f"  {where}, line {tb.tb_lineno}, in {code.co_name}" + (f": {line}" if line else ""))
        tb = tb.tb_next
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    return {
        "type": type(exc).__name__,
        "builtin": builtin,
        "message": message[:2000],
        "traceback": "\n".join(frames[-8:]),
        "kind": failure_of(exc),
    }


def failure_of(exc: BaseException) -> P.Failure:
    """What kind of failure ``exc`` is, by its type (protocol.Failure)."""
    if isinstance(exc, ForbiddenError):
        return P.Failure.FORBIDDEN
    if isinstance(exc, MemoryError):
        return P.Failure.MEMORY
    if isinstance(exc, P.NoResult):
        return P.Failure.NO_RESULT
    return P.Failure.RAISED


def quiet_progress_monitor() -> None:
    """tqdm starts a monitor thread with its first progress bar; the grader would take that
    thread for one the student left running and restart the sandbox after every training
    test (4 of 5 sandbox starts of a ps3 submission). Progress bars need no monitor here."""
    try:
        import tqdm
    except ImportError:
        return
    tqdm.tqdm.monitor_interval = 0


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    in_fd, out_fd = int(argv[0]), int(argv[1])
    config = json.loads(argv[2]) if len(argv) > 2 else {}
    out_limit = int(config.get("output_bytes", 256 * 1024))
    # The assignment's [sandbox] preload modules, imported before anything else as a sandbox
    # forked from a template (zygote.py) has them: both ways start from the same state.
    for name in config.get("preload", []):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the student's own import will say what is wrong
            pass
    sys.stdout = sys.stderr = LimitedText(out_limit)   # one budget for both, as in a notebook's output
    os.environ.setdefault("MPLBACKEND", "Agg")
    forb = config.get("forbidden", {})
    install_forbidden(forb.get("modules", []), forb.get("names", []))
    install_notebook_stubs()
    quiet_progress_monitor()
    w = Worker(in_fd, out_fd, config)
    w.seed(int(config.get("seed", 0)))
    w.send({"ev": "ready", "pid": os.getpid()})
    w.serve()


if __name__ == "__main__":
    main()
