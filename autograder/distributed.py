"""Grading on a Dask cluster: ``cnn-course grade ... --cluster local:N`` or ``--scheduler ADDRESS``.

One Dask task per submission, and the task carries everything its worker needs, so no
shared filesystem is assumed:

* the assignment: its source notebook's bytes and ``grading.toml``'s bytes (a few hundred
  KiB at most). The worker rebuilds the :class:`~autograder.assignment.Assignment` with
  ``load_assignment(name, source_dir=<private temporary folder>)``, once per assignment
  version and worker process; the ``version`` it computes is the client's, byte for byte;
* the submission: the notebook's bytes under its own file name, the student id and the notes
  the batch adds to its message;
* the options: ``insecure``, ``limits``, ``seed`` and the paths the sandbox must not see.

The worker writes the notebook to a temporary file of the same name and calls
:func:`autograder.batch.grade_one`, the very function the thread pool calls, so each
submission is graded in its own sandbox exactly as locally; the task returns
``result.to_dict()``. The client keeps a bounded window of tasks in flight (the bytes of
10,000 submissions never sit in the scheduler at once), hands each result to ``on_result``
(the batch writes ``students/<id>/`` at once) and shows a tqdm bar with an ETA.

Faults:

* a worker process that dies mid-task (``kill -9``, out of memory) costs nothing: the
  scheduler runs its task again on another worker and, the grading being deterministic, the
  student's result is the same;
* a submission whose task takes down its worker twice gets the status ``crash`` (every test
  ``crash``, 0 points, a message saying so), never an endless retry: the scheduler's
  ``distributed.scheduler.allowed-failures`` is 1 on the clusters started here (see
  :data:`SCHEDULER_CONFIG`) and the client turns Dask's ``KilledWorker`` into that result;
  ``worker-saturation`` 1.0 keeps a dying worker from taking innocent queued tasks' retries
  with it;
* losing the scheduler stops the run with :class:`ClusterError` (what was graded is on
  disk already); ``--resume`` then continues without grading any of it again.

Every worker must run the client's cnn-course version: :meth:`DaskRunner.connect` asks each
worker, and each task checks it again (for workers that join later); a mismatch is a
:class:`ClusterError` naming both versions.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

from autograder import __version__
from autograder.assignment import points_of
from autograder.results import CRASH, SubmissionResult, TestResult
from autograder.text import fmt_num, visible

# What the schedulers this module starts are configured with; an existing scheduler
# (--scheduler) should be started with the same (see docs/scaling.md):
#   DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0
SCHEDULER_CONFIG = {
    # a task whose worker dies is run again once; a second death marks it failed (KilledWorker)
    "distributed.scheduler.allowed-failures": 1,
    # a worker holds only the tasks it is running: a death counts against those alone
    "distributed.scheduler.worker-saturation": 1.0,
}
# ... and its workers with (the sampling profiler takes the GIL every 10 ms from the grading
# thread, which spends its time in short round trips to the sandbox; nobody reads the profile):
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}
CONNECT_TIMEOUT_S = 20.0        # reaching an existing scheduler
WORKERS_TIMEOUT_S = 120.0       # the first worker joining it
LOCAL_START_TIMEOUT_S = 120.0   # a local cluster's workers starting


class ClusterError(RuntimeError):
    """The cluster cannot be used, or was lost mid-run (the results graded so far are kept)."""


class VersionMismatch(RuntimeError):
    """Raised by a task on a worker whose cnn-course version is not the client's."""


def parse_cluster(spec: str) -> int:
    """``"local:N"`` -> N (the number of worker processes); ValueError says what is expected."""
    kind, _, n = str(spec).partition(":")
    if kind != "local" or not n.isdigit() or int(n) < 1:
        raise ValueError(f"--cluster {spec!r}: expected local:N with N >= 1 worker processes (e.g. local:4); "
                         "for a cluster started elsewhere use --scheduler tcp://HOST:PORT")
    return int(n)


# ---------------------------------------------------------------- what a task carries


def assignment_payload(assignment) -> dict:
    """The assignment as plain bytes: ``{name, notebook_name, notebook, grading_toml, version}``.

    ``grading_toml`` is ``None`` when the assignment has none (defaults apply on the worker too).
    """
    nb_path = Path(assignment.path)
    toml = nb_path.parent / "grading.toml"
    return {"name": assignment.name, "notebook_name": nb_path.name, "notebook": nb_path.read_bytes(),
            "grading_toml": toml.read_bytes() if toml.is_file() else None,
            "version": getattr(assignment, "version", "")}


_ASSIGNMENTS: dict[str, tuple] = {}     # payload digest -> (Assignment, its temporary folder)
_ASSIGNMENTS_LOCK = threading.Lock()
_MAX_CACHED = 8


def _cleanup_assignments() -> None:
    for _, folder in _ASSIGNMENTS.values():
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_cleanup_assignments)


def worker_assignment(payload: dict):
    """The Assignment of ``payload``, rebuilt once per worker process in a private folder.

    Returns ``(assignment, folder)``; the folder holds the source notebook (hidden tests,
    solutions): the sandbox is told to hide it.
    """
    from autograder.assignment import load_assignment

    h = hashlib.sha256()
    for part in (payload["name"], payload["notebook_name"]):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    h.update(payload["notebook"])
    h.update(b"\0" if payload["grading_toml"] is None else b"\1" + payload["grading_toml"])
    key = h.hexdigest()
    with _ASSIGNMENTS_LOCK:
        if key not in _ASSIGNMENTS:
            folder = Path(tempfile.mkdtemp(prefix="cnn-course-assignment-"))
            os.chmod(folder, 0o700)
            where = folder / payload["name"]
            where.mkdir()
            (where / payload["notebook_name"]).write_bytes(payload["notebook"])
            if payload["grading_toml"] is not None:
                (where / "grading.toml").write_bytes(payload["grading_toml"])
            assignment = load_assignment(payload["name"], source_dir=folder)
            if payload["version"] and assignment.version != payload["version"]:
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError(f"the assignment rebuilt on the worker has version {assignment.version}, "
                                   f"the client's is {payload['version']}")
            while len(_ASSIGNMENTS) >= _MAX_CACHED:
                _, old = _ASSIGNMENTS.pop(next(iter(_ASSIGNMENTS)))
                shutil.rmtree(old, ignore_errors=True)
            _ASSIGNMENTS[key] = (assignment, folder)
        return _ASSIGNMENTS[key]


def grade_task(payload: dict, student_id: str, notebook_name: str, data: bytes, notes: list, options: dict,
               client_version: str, grade_fn=None) -> dict:
    """Run on a Dask worker: grade one submission (bytes ``data`` named ``notebook_name``).

    Returns ``SubmissionResult.to_dict()``. Raises :class:`VersionMismatch` when this worker's
    cnn-course is not ``client_version``; never raises for anything the submission does.
    """
    from autograder.batch import grade_one
    from autograder.intake import Submission

    if client_version != __version__:
        raise VersionMismatch(f"worker runs cnn-course {__version__}, the client runs cnn-course {client_version}")
    assignment, folder = worker_assignment(payload)
    if grade_fn is None:
        from autograder.grader_process import prepare_grader

        prepare_grader(assignment, options.get("limits"))   # imports done before grading (grader_process.py)
    tmp = Path(tempfile.mkdtemp(prefix="cnn-course-sub-"))
    try:
        os.chmod(tmp, 0o700)
        path = tmp / "submission" / notebook_name
        path.parent.mkdir()
        path.write_bytes(data)
        sub = Submission(student_id, path, notes=list(notes))
        hide = [*options.get("hide", ()), str(folder), str(tmp)]
        res = grade_one(assignment, sub, grade_fn=grade_fn, insecure=options.get("insecure", False),
                        limits=options.get("limits"), seed=options.get("seed", 0), hide=hide)
        return res.to_dict()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def worker_info() -> dict:
    """Run on each worker at connect: its cnn-course version, isolation and package versions."""
    from autograder.engine import isolation_available
    from autograder.grader_process import versions

    return {"autograder": __version__, "isolation": isolation_available(), "versions": versions(),
            "python": sys.executable}


# ---------------------------------------------------------------- results the client makes


def crash_result(assignment, sub, deaths: int) -> SubmissionResult:
    """The result of a submission whose grading killed its worker process ``deaths`` times."""
    from autograder.batch import _sha256

    short = f"not graded: grading this submission stopped its grading process {deaths} times"
    message = (f"Grading this submission stopped the grading process {deaths} times (it was killed: out of "
               "memory, a crash, or an operator), so it was not tried again. Nothing is scored; tell your "
               "instructor, who can grade it alone with `cnn-course grade` to see what happens.")
    res = SubmissionResult(
        student_id=sub.student_id, assignment=assignment.name, status=CRASH, score=0.0,
        max_score=points_of(assignment.tests),
        tests=[TestResult(t.grade_id, 0.0, float(t.points), CRASH, short, t.visibility) for t in assignment.tests],
        message=message, sha256=_sha256(sub.path), grader_version=__version__,
        notebook=sub.path.name if sub.path else "", assignment_version=getattr(assignment, "version", ""))
    if sub.notes:
        res.message = "; ".join(filter(None, [res.message] + sub.notes))
    return res


# ---------------------------------------------------------------- the runner


class DaskRunner:
    """A fan-out for :func:`autograder.batch.grade_all` (``runner=``) on a Dask cluster.

    ``DaskRunner(cluster="local:N")`` starts N local worker processes (one thread each,
    on 127.0.0.1); ``DaskRunner(scheduler="tcp://HOST:PORT")`` uses a running cluster.
    Use it as a context manager (or call :meth:`close`); a script starting a local cluster
    needs the ``if __name__ == "__main__":`` guard (workers are spawned). ``grade_fn``: what the workers call
    instead of :func:`autograder.engine.grade_notebook` (tests); ``window``: tasks in flight
    (default 4 per worker thread, at least 8).
    """

    def __init__(self, *, cluster: str | None = None, scheduler: str | None = None, client=None,
                 grade_fn=None, window: int | None = None, insecure: bool = False, log=None):
        if sum(x is not None for x in (cluster, scheduler, client)) != 1:
            raise ValueError("DaskRunner: give exactly one of cluster='local:N', scheduler='tcp://HOST:PORT', client=")
        self.n_local = parse_cluster(cluster) if cluster is not None else None
        self.scheduler = scheduler
        self.client = client
        self._own_client = client is None
        self.cluster = None
        self.grade_fn = grade_fn
        self.window = window
        self.insecure = insecure
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.workers: dict = {}          # address -> worker_info() at connect
        self.allowed_failures: int | None = None
        self.notes: list[str] = []

    # -- lifecycle
    def __enter__(self) -> "DaskRunner":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def address(self) -> str:
        try:
            return self.scheduler or self.client.scheduler.address
        except Exception:  # noqa: BLE001 - no client, or a closed one
            return ""

    def connect(self) -> "DaskRunner":
        """Start or reach the cluster, then check every worker (version, isolation)."""
        import dask
        from distributed import Client, LocalCluster

        if self.client is None and self.n_local is not None:
            with dask.config.set({**SCHEDULER_CONFIG, **WORKER_CONFIG}):
                try:   # (workers log only critical errors: what matters comes back as results)
                    self.cluster = LocalCluster(n_workers=self.n_local, threads_per_worker=1, processes=True,
                                                host="127.0.0.1", dashboard_address=None, memory_limit=0,
                                                silence_logs=50, timeout=LOCAL_START_TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 - any start failure is reported the same way
                    raise ClusterError(f"could not start a local Dask cluster of {self.n_local} workers: "
                                       f"{type(exc).__name__}: {exc}") from None
                self.client = Client(self.cluster, set_as_default=False)
        elif self.client is None:
            try:
                self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, bad address...
                raise ClusterError(f"could not connect to the Dask scheduler at {self.scheduler} within "
                                   f"{CONNECT_TIMEOUT_S:g} s ({type(exc).__name__}: {exc}); expected a running "
                                   "`dask scheduler` at that address") from None
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - dask raises TimeoutError
            self.close()
            raise ClusterError(f"no Dask worker joined the scheduler at {self.scheduler or 'the local cluster'} "
                               f"within {WORKERS_TIMEOUT_S:g} s; start some with `dask worker ADDRESS`") from None
        self._check_workers()
        return self

    def _check_workers(self) -> None:
        try:
            infos = self.client.run(worker_info)
        except Exception as exc:  # noqa: BLE001 - e.g. an old cnn-course without this module on a worker
            self.close()
            raise ClusterError(f"could not ask the Dask workers which cnn-course they run ({type(exc).__name__}: "
                               f"{exc}); every worker needs cnn-course {__version__}, the client's version") from None
        self.workers = infos
        for addr, info in sorted(infos.items()):
            if info.get("autograder") != __version__:
                self.close()
                raise ClusterError(f"Dask worker {addr} runs cnn-course {info.get('autograder')}, this client runs "
                                   f"cnn-course {__version__}: install cnn-course {__version__} on every worker")
            if info.get("isolation") is None and not self.insecure:
                self.close()
                raise ClusterError(f"Dask worker {addr} has no sandbox isolation (it needs Linux, root or user "
                                   "namespaces, and `unshare`; see docs/scaling.md); refusing to run student code "
                                   "there. Pass --insecure to grade anyway.")
        from autograder.grader_process import versions

        mine = versions()
        for addr, info in sorted(infos.items()):
            diff = {k: (v, mine.get(k)) for k, v in (info.get("versions") or {}).items() if mine.get(k) != v}
            if diff:
                self.notes.append(f"worker {addr} has other package versions than this client ("
                                  + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in sorted(diff.items()))
                                  + "): its results.json records them")
        try:
            self.allowed_failures = int(self.client.run_on_scheduler(_scheduler_allowed_failures))
        except Exception:  # noqa: BLE001 - informative only
            self.allowed_failures = None
        if self.allowed_failures is not None and self.allowed_failures != SCHEDULER_CONFIG[
                "distributed.scheduler.allowed-failures"]:
            self.notes.append(f"the scheduler retries a task whose worker died {self.allowed_failures} time(s) "
                              f"(allowed-failures); a submission that kills workers is marked crash after "
                              f"{self.allowed_failures + 1} deaths (1 retry is recommended: docs/scaling.md)")
        for note in self.notes:
            self.log(f"note: {note}")

    def close(self) -> None:
        """Close the client (and the local cluster); never hangs on a lost scheduler."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None and self._own_client:
            try:
                client.close(timeout=5)
            except Exception:  # noqa: BLE001 - closing a client of a dead scheduler
                pass
        if cluster is not None:
            try:
                cluster.close(timeout=20)
            except Exception:  # noqa: BLE001
                pass

    def n_threads(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001
            return 1

    # -- grading
    def grade_all(self, assignment, subs, options=None, on_result=None, **kw) -> list[SubmissionResult]:
        """Grade ``subs`` on the cluster; the runner interface of :class:`autograder.batch.ThreadRunner`
        (``options``: a :class:`autograder.options.GradingOptions`; keywords set its fields).
        Submissions that need no grading are settled here by :func:`autograder.batch.settle`,
        the thread pool's rules (other work only: ``missing``; nothing gradable: ``invalid``).

        Raises :class:`ClusterError` when the scheduler is lost or a worker runs another
        cnn-course version; results delivered to ``on_result`` before that are kept.
        """
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from autograder.batch import internal_error_result, invalid_result, settle
        from autograder.options import GradingOptions

        o = GradingOptions.build(options, **{k: (list(v) if k == "hide" else v) for k, v in kw.items()})
        insecure, limits, seed, progress, hide = o.insecure, o.limits, o.seed, o.progress, o.hide
        if self.client is None:
            self.connect()
        grade_fn = o.grade_fn if o.grade_fn is not None else self.grade_fn
        payload = assignment_payload(assignment)
        options = {"insecure": bool(insecure), "limits": limits, "seed": seed, "hide": [str(h) for h in hide]}
        results: dict[str, SubmissionResult] = {}
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(subs), desc=f"grading {assignment.name} on Dask", unit="sub", dynamic_ncols=True)

        def deliver(res: SubmissionResult) -> None:
            results[res.student_id] = res
            if on_result is not None:
                on_result(res)
            if bar is not None:
                bar.set_postfix_str(f"{visible(res.student_id)}: {fmt_num(res.score)}/{fmt_num(res.max_score)}",
                                    refresh=False)
                bar.update(1)

        todo = []
        for sub in subs:
            settled = settle(assignment, sub)    # nothing to send: the thread pool's missing/invalid rows
            if settled is not None:
                deliver(settled)
            else:
                todo.append(sub)
        window = self.window or max(8, 4 * self.n_threads())
        tag = hashlib.sha256(f"{time.time_ns()}-{os.getpid()}-{id(self)}".encode()).hexdigest()[:10]
        pending: dict = {}
        ac = as_completed(loop=self.client.loop)
        it = iter(enumerate(todo))

        def submit_next() -> bool:
            for i, sub in it:
                try:
                    data = sub.path.read_bytes()
                except OSError as exc:
                    deliver(invalid_result(assignment, sub, f"The submission could not be read: {exc}."))
                    continue
                fut = self.client.submit(grade_task, payload, sub.student_id, sub.path.name, data, list(sub.notes),
                                         options, __version__, grade_fn, key=f"grade-{assignment.name}-{tag}-{i}",
                                         pure=False)
                pending[fut] = sub
                ac.add(fut)
                return True
            return False

        try:
            while len(pending) < window and submit_next():
                pass
            while pending:
                fut = next(ac)
                sub = pending.pop(fut)
                status, exc, data = fut.status, None, None
                if status == "finished":
                    try:
                        data = fut.result()
                    except Exception as e:  # noqa: BLE001 - e.g. its worker died again while recomputing it
                        exc = e
                elif status == "error":
                    exc = fut.exception()
                elif status != "cancelled":   # lost with its worker after finishing: Dask computes it again
                    pending[fut] = sub
                    ac.add(fut)
                    continue
                if data is not None:
                    deliver(SubmissionResult.from_dict(data))
                elif isinstance(exc, KilledWorker):
                    deliver(crash_result(assignment, sub, exc.allowed_failures + 1))
                elif isinstance(exc, VersionMismatch):
                    raise ClusterError(f"a Dask worker that joined later: {exc}; install cnn-course "
                                       f"{__version__} on every worker") from None
                elif exc is not None and not isinstance(exc, CancelledError):
                    deliver(internal_error_result(assignment, sub, exc, " on the Dask worker"))
                else:   # cancelled: the client lost its scheduler
                    raise ClusterError(
                        f"lost the Dask scheduler {self.address or ''} after {len(results)} of {len(subs)} "
                        "submission(s); their results are saved: run the same command with --resume to grade "
                        "the rest")
                fut.release()
                if len(results) % 64 == 0 and self.window is None:
                    window = max(8, 4 * self.n_threads())
                while len(pending) < window and submit_next():
                    pass
        finally:
            if pending and self.client is not None and self.client.status == "running":
                try:        # interrupted: do not leave the rest queued on a shared scheduler
                    self.client.cancel(list(pending), force=True)
                except Exception:  # noqa: BLE001 - the scheduler may be gone
                    pass
            if bar is not None:
                bar.close()
        return [results[k] for k in sorted(results)]


def _scheduler_allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures
